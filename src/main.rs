use std::process::ExitCode;

fn main() -> ExitCode {
    match sluice::cli::run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sluice: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
