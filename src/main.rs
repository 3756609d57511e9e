use std::process::ExitCode;

/// glibc's allocator spent a tenth of the writer thread's time consolidating and unlinking
/// chunks under the payment workload (large JSON documents come and go per request).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match sluice::cli::run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sluice: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
