//! `sluice <resource> <operation> [ids...]`: clap commands built from the route table at start-up,
//! and the call they make.

use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

use super::form::{self, Pair};
use super::routes::{self, Operation, Resource};
use super::{print_headers, print_response, ClientArgs, RequestOptions};

/// One clap command per resource, each with one subcommand per operation.
pub fn commands() -> Vec<Command> {
    routes::RESOURCES.iter().map(resource_command).collect()
}

fn resource_command(resource: &'static Resource) -> Command {
    Command::new(resource.name)
        .about(resource.about)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands(resource.operations.iter().map(operation_command))
}

fn operation_command(operation: &'static Operation) -> Command {
    let mut command = Command::new(operation.name);
    for name in routes::placeholders(operation.path) {
        command = command.arg(
            Arg::new(name)
                .required(operation.bare_path.is_none())
                .value_name(name)
                .help(format!("The {name} id, in the path")),
        );
    }
    for flag in operation.flags {
        command = command.arg(
            Arg::new(flag.param)
                .long(flag.flag)
                .required(true)
                .action(ArgAction::Set)
                .value_name(flag.param)
                .help(flag.help),
        );
    }
    // Set after the derived arguments are added: `augment_args` also sets the about text.
    let command = ClientArgs::augment_args(RequestOptions::augment_args(command));
    command.about(format!(
        "{} ({} {})",
        operation.about,
        operation.method.as_str(),
        operation.path
    ))
}

/// Runs `matches` of the resource command named `resource` (one of `commands()`).
pub fn run(resource: &Resource, matches: &ArgMatches) -> anyhow::Result<ExitCode> {
    let Some((operation_name, matches)) = matches.subcommand() else {
        anyhow::bail!("`sluice {}` needs an operation (see --help)", resource.name);
    };
    let Some(operation) = resource
        .operations
        .iter()
        .find(|operation| operation.name == operation_name)
    else {
        anyhow::bail!(
            "`{operation_name}` is not an operation of {}",
            resource.name
        );
    };
    let options = RequestOptions::from_arg_matches(matches)?;
    let client_args = ClientArgs::from_arg_matches(matches)?;
    let path = fill_path(operation, matches);
    let mut request = options.request(operation.method, path);
    let flag_params: Vec<Pair> = operation
        .flags
        .iter()
        .filter_map(|flag| {
            let value = matches.get_one::<String>(flag.param)?;
            Some((flag.param.to_string(), value.clone()))
        })
        .collect();
    request.params.extend(flag_params);
    let client = client_args.connect()?;
    let response = client.send(&request)?;
    if options.show_headers {
        print_headers(&response);
    }
    Ok(print_response(&response))
}

fn fill_path(operation: &Operation, matches: &ArgMatches) -> String {
    let names = routes::placeholders(operation.path);
    let values: Vec<&String> = names
        .iter()
        .filter_map(|name| matches.get_one::<String>(name))
        .collect();
    match operation.bare_path {
        Some(bare) if values.is_empty() => bare.to_string(),
        _ => {
            let mut path = operation.path.to_string();
            for (name, value) in names.iter().zip(values) {
                path = path.replace(&format!("{{{name}}}"), &form::escape_path_segment(value));
            }
            path
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap checks the whole command tree (ids, conflicts, positional order) only when asked:
    /// a path placeholder named like an option would otherwise fail at run time.
    #[test]
    fn the_command_tree_is_valid() {
        crate::cli::command().debug_assert();
    }

    #[test]
    fn operations_fill_their_paths_in_order() {
        let matches = crate::cli::command()
            .try_get_matches_from([
                "sluice",
                "fee_refunds",
                "retrieve",
                "fee_1",
                "fr/2",
                "-d",
                "expand[]=fee",
            ])
            .unwrap();
        let (_, resource) = matches.subcommand().unwrap();
        let (_, operation) = resource.subcommand().unwrap();
        let table = super::routes::find("fee_refunds").unwrap();
        let retrieve = table
            .operations
            .iter()
            .find(|o| o.name == "retrieve")
            .unwrap();
        assert_eq!(
            super::fill_path(retrieve, operation),
            "/v1/application_fees/fee_1/refunds/fr%2F2"
        );
        let own = crate::cli::command()
            .try_get_matches_from(["sluice", "accounts", "retrieve"])
            .unwrap();
        let (_, resource) = own.subcommand().unwrap();
        let (_, operation) = resource.subcommand().unwrap();
        let accounts = super::routes::find("accounts").unwrap();
        let retrieve = accounts
            .operations
            .iter()
            .find(|o| o.name == "retrieve")
            .unwrap();
        assert_eq!(super::fill_path(retrieve, operation), "/v1/account");
    }
}
