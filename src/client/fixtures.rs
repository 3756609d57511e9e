//! Fixture files in the Stripe CLI's format: `_meta.template_version`, then `fixtures`, each a
//! request (`name`, `path`, `method`, `params`) run in order, whose later entries may refer to the
//! responses of earlier ones (see `references`). `--override`, `--add`, `--remove` and `--skip`
//! edit the fixtures before they run.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::form;
use super::http::{Client, Method, Request};
use super::references::{self, EnvSource};
use super::ClientArgs;

/// The newest `_meta.template_version` this reader understands (the Stripe CLI's too).
pub const SUPPORTED_TEMPLATE_VERSION: i64 = 0;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub template_version: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureFile {
    #[serde(rename = "_meta", default)]
    pub meta: Meta,
    pub fixtures: Vec<FixtureRequest>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureRequest {
    pub name: String,
    pub path: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub params: Option<Value>,
    /// An API error of this `error.type` (e.g. `card_error`) is the expected outcome, not a failure.
    #[serde(default)]
    pub expected_error_type: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub headers: Option<Map<String, Value>>,
    /// Other hosts than the one the command talks to are refused: the API key would go there.
    #[serde(default)]
    pub api_base: Option<String>,
}

fn default_method() -> String {
    "post".to_string()
}

impl FixtureFile {
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<FixtureFile> {
        let file: FixtureFile = serde_json::from_str(text)
            .with_context(|| format!("{origin} is not a fixture file"))?;
        if file.meta.template_version > SUPPORTED_TEMPLATE_VERSION {
            anyhow::bail!(
                "{origin}: _meta.template_version {} is not supported (this sluice reads version {SUPPORTED_TEMPLATE_VERSION})",
                file.meta.template_version
            );
        }
        for fixture in &file.fixtures {
            if Method::parse(&fixture.method).is_none() {
                anyhow::bail!(
                    "{origin}: fixture `{}` has method `{}`; use get, post or delete",
                    fixture.name,
                    fixture.method
                );
            }
            if !fixture.path.starts_with("/v1/") {
                anyhow::bail!(
                    "{origin}: fixture `{}` has path `{}`; paths start with /v1/",
                    fixture.name,
                    fixture.path
                );
            }
            if fixture
                .api_base
                .as_deref()
                .is_some_and(|base| !base.is_empty())
            {
                anyhow::bail!(
                    "{origin}: fixture `{}` sets api_base; fixtures run against --api-base only",
                    fixture.name
                );
            }
            if !matches!(
                fixture.params,
                None | Some(Value::Object(_)) | Some(Value::Null)
            ) {
                anyhow::bail!(
                    "{origin}: the params of fixture `{}` must be an object",
                    fixture.name
                );
            }
        }
        Ok(file)
    }

    fn names(&self) -> Vec<&str> {
        self.fixtures.iter().map(|f| f.name.as_str()).collect()
    }
}

/// Edits asked for on the command line, applied before anything runs.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Rewrites {
    /// Set a parameter of one fixture: NAME:PATH=VALUE (e.g. payment_intent:amount=5000,
    /// customer:metadata.order=6735).
    #[arg(long = "override", value_name = "NAME:PATH=VALUE")]
    pub overrides: Vec<String>,
    /// Add a parameter only where the fixture does not set it: NAME:PATH=VALUE.
    #[arg(long = "add", value_name = "NAME:PATH=VALUE")]
    pub additions: Vec<String>,
    /// Remove a parameter from one fixture: NAME:PATH.
    #[arg(long = "remove", value_name = "NAME:PATH")]
    pub removals: Vec<String>,
    /// Do not run the fixture with this name.
    #[arg(long = "skip", value_name = "NAME")]
    pub skips: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Edit {
    Override,
    Add,
    Remove,
}

impl Edit {
    fn flag(self) -> &'static str {
        match self {
            Edit::Override => "--override",
            Edit::Add => "--add",
            Edit::Remove => "--remove",
        }
    }
}

/// `name:a.b[c]=value` -> (`name`, [`a`, `b`, `c`], value). Brackets are accepted as the
/// Stripe parameter spelling of the same path.
fn parse_rewrite(rule: &str, edit: Edit) -> Result<(String, Vec<String>, Option<String>), String> {
    let example = match edit {
        Edit::Remove => "NAME:path.to.param",
        _ => "NAME:path.to.param=value",
    };
    let (target, value) = match (edit, rule.split_once('=')) {
        (Edit::Remove, _) => (rule, None),
        (_, Some((target, value))) => (target, Some(value.to_string())),
        (_, None) => {
            return Err(format!(
                "{} `{rule}` has no value: write {example}",
                edit.flag()
            ))
        }
    };
    let Some((name, path)) = target.split_once(':') else {
        return Err(format!(
            "{} `{rule}` names no fixture: write {example}",
            edit.flag()
        ));
    };
    let segments: Vec<String> = path
        .replace(']', "")
        .split(['.', '['])
        .map(str::to_string)
        .collect();
    if name.is_empty() || segments.iter().any(String::is_empty) {
        return Err(format!(
            "{} `{rule}` is not of the form {example}",
            edit.flag()
        ));
    }
    Ok((name.to_string(), segments, value))
}

impl Rewrites {
    pub fn apply(&self, file: &mut FixtureFile) -> anyhow::Result<()> {
        let rules = [
            (Edit::Override, &self.overrides),
            (Edit::Add, &self.additions),
            (Edit::Remove, &self.removals),
        ];
        for (edit, list) in rules {
            for rule in list {
                let (name, path, value) = parse_rewrite(rule, edit).map_err(anyhow::Error::msg)?;
                let names = file.names().join(", ");
                let mut matched = false;
                for fixture in file.fixtures.iter_mut().filter(|f| f.name == name) {
                    matched = true;
                    let params = fixture
                        .params
                        .get_or_insert_with(|| Value::Object(Map::new()));
                    if params.is_null() {
                        *params = Value::Object(Map::new());
                    }
                    edit_tree(params, &path, value.as_deref(), edit)
                        .map_err(|why| anyhow::anyhow!("{} `{rule}`: {why}", edit.flag()))?;
                }
                if !matched {
                    anyhow::bail!(
                        "{} `{rule}`: there is no fixture named `{name}` (the fixtures are: {names})",
                        edit.flag()
                    );
                }
            }
        }
        for skip in &self.skips {
            if !file.fixtures.iter().any(|f| &f.name == skip) {
                anyhow::bail!(
                    "--skip {skip}: there is no fixture of that name (the fixtures are: {})",
                    file.names().join(", ")
                );
            }
        }
        Ok(())
    }
}

fn edit_tree(
    node: &mut Value,
    path: &[String],
    value: Option<&str>,
    edit: Edit,
) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty path")?;
    let mut current = node;
    for segment in parents {
        current = match current {
            Value::Object(map) => {
                if edit == Edit::Remove && !map.contains_key(segment) {
                    return Ok(());
                }
                let child = map
                    .entry(segment.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !(child.is_object() || child.is_array()) {
                    if edit == Edit::Add {
                        return Ok(());
                    }
                    *child = Value::Object(Map::new());
                }
                child
            }
            Value::Array(items) => {
                let index: usize = segment
                    .parse()
                    .map_err(|_| format!("`{segment}` indexes a list, so it must be a number"))?;
                items
                    .get_mut(index)
                    .ok_or_else(|| format!("the list has no item {index}"))?
            }
            _ => return Err(format!("`{segment}` is below a plain value")),
        };
    }
    match current {
        Value::Object(map) => match edit {
            Edit::Remove => {
                map.remove(last);
            }
            Edit::Add => {
                map.entry(last.clone())
                    .or_insert_with(|| Value::String(value.unwrap_or_default().to_string()));
            }
            Edit::Override => {
                map.insert(
                    last.clone(),
                    Value::String(value.unwrap_or_default().to_string()),
                );
            }
        },
        Value::Array(items) => {
            let index: usize = last
                .parse()
                .map_err(|_| format!("`{last}` indexes a list, so it must be a number"))?;
            match edit {
                Edit::Remove if index < items.len() => {
                    items.remove(index);
                }
                Edit::Remove => {}
                _ if index < items.len() => {
                    if edit == Edit::Override {
                        items[index] = Value::String(value.unwrap_or_default().to_string());
                    }
                }
                _ if index == items.len() => {
                    items.push(Value::String(value.unwrap_or_default().to_string()))
                }
                _ => {
                    return Err(format!(
                        "the list has {} items; cannot set item {index}",
                        items.len()
                    ))
                }
            }
        }
        _ => return Err(format!("`{last}` is below a plain value")),
    }
    Ok(())
}

/// What runs a fixture file: the client, the account to act as, and where `${.env:...}` reads.
pub struct Runner<'a> {
    pub client: &'a Client,
    /// Sent as `Stripe-Account` on every request that does not set its own header.
    pub stripe_account: Option<String>,
    /// Responses given in advance: a fixture with one of these names does not run, and
    /// references to it read the given value (a trigger told which account to use).
    pub given: HashMap<String, Value>,
    pub env: EnvSource,
}

impl Runner<'_> {
    /// Runs the fixtures in order, printing one line each; stops at the first failure.
    /// Returns each fixture's response body by name.
    pub fn run(
        &self,
        file: &FixtureFile,
        skips: &[String],
    ) -> anyhow::Result<HashMap<String, Value>> {
        let mut responses = self.given.clone();
        for fixture in &file.fixtures {
            if let Some(given) = self.given.get(&fixture.name) {
                let id = given
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("a given value");
                out!("Using {id} for fixture: {}", fixture.name);
                continue;
            }
            if skips.contains(&fixture.name) {
                out!("Skipping fixture for: {}", fixture.name);
                continue;
            }
            out_partial!("Running fixture for: {}", fixture.name);
            let request = self
                .request(fixture, &responses)
                .inspect_err(|_| out!(""))?;
            out_partial!(" ({} {})", request.method.as_str(), request.path);
            let response = match self.client.send(&request) {
                Ok(response) => response,
                Err(error) => {
                    out!("");
                    return Err(error.into());
                }
            };
            let body = response.json().unwrap_or(Value::Null);
            if response.is_success() {
                match body.get("id").and_then(Value::as_str) {
                    Some(id) => out!(" -> {} {id}", response.status),
                    None => out!(" -> {}", response.status),
                }
            } else {
                let (kind, message) = response
                    .error_summary()
                    .unwrap_or_else(|| ("error".to_string(), response.body.clone()));
                if fixture.expected_error_type.as_deref() == Some(kind.as_str()) {
                    out!(" -> {} {kind} (expected)", response.status);
                } else {
                    out!(" -> {}", response.status);
                    eprintln!("{}", response.pretty());
                    anyhow::bail!(
                        "fixture `{}` failed: {} {} answered {} {kind}: {message}",
                        fixture.name,
                        request.method.as_str(),
                        request.path,
                        response.status
                    );
                }
            }
            responses.insert(fixture.name.clone(), body);
        }
        Ok(responses)
    }

    fn request(
        &self,
        fixture: &FixtureRequest,
        responses: &HashMap<String, Value>,
    ) -> anyhow::Result<Request> {
        let fail = |why: String| anyhow::anyhow!("fixture `{}`: {why}", fixture.name);
        let method = Method::parse(&fixture.method)
            .ok_or_else(|| fail(format!("unknown method {}", fixture.method)))?;
        let path = references::resolve(&fixture.path, responses, &self.env).map_err(fail)?;
        let mut request = Request::new(method, path);
        if let Some(params) = &fixture.params {
            let params = references::resolve_tree(params, responses, &self.env).map_err(fail)?;
            request.params = form::pairs_from_json(&params);
        }
        request.stripe_account = self.stripe_account.clone();
        if let Some(key) = &fixture.idempotency_key {
            let key = references::resolve(key, responses, &self.env).map_err(fail)?;
            request.idempotency_key = Some(key);
        }
        for (name, value) in fixture.headers.iter().flatten() {
            let text = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            let text = references::resolve(&text, responses, &self.env).map_err(fail)?;
            let text = Some(text).filter(|t| !t.is_empty());
            match name.to_ascii_lowercase().as_str() {
                "stripe-account" => request.stripe_account = text,
                "idempotency-key" => request.idempotency_key = text,
                "stripe-version" => request.stripe_version = text,
                _ => {
                    return Err(fail(format!(
                        "header `{name}` is not supported (Stripe-Account, Idempotency-Key, Stripe-Version are)"
                    )))
                }
            }
        }
        Ok(request)
    }
}

/// `sluice fixtures FILE`.
#[derive(Debug, clap::Args)]
pub struct FixturesArgs {
    /// A fixture file in the Stripe CLI's JSON format.
    pub file: std::path::PathBuf,
    /// Run every request as this connected account (sends Stripe-Account).
    #[arg(long, value_name = "ACCOUNT")]
    pub stripe_account: Option<String>,
    #[command(flatten)]
    pub rewrites: Rewrites,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run_file(args: FixturesArgs) -> anyhow::Result<ExitCode> {
    let origin = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read the fixture file {origin}"))?;
    let mut file = FixtureFile::parse(&text, &origin)?;
    args.rewrites.apply(&mut file)?;
    let client = args.client.connect()?;
    let runner = Runner {
        client: &client,
        stripe_account: args.stripe_account,
        given: HashMap::new(),
        env: EnvSource::from_working_dir(),
    };
    runner.run(&file, &args.rewrites.skips)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> FixtureFile {
        FixtureFile::parse(
            r#"{"_meta": {"template_version": 0}, "fixtures": [
                {"name": "customer", "path": "/v1/customers", "method": "post",
                 "params": {"name": "Jenny", "metadata": {"order": "1"}}},
                {"name": "payment_intent", "path": "/v1/payment_intents", "method": "post",
                 "params": {"amount": 2000, "customer": "${customer:id}",
                            "payment_method_types": ["card"]}}
            ]}"#,
            "sample",
        )
        .unwrap()
    }

    #[test]
    fn files_are_checked_before_anything_runs() {
        let newer = r#"{"_meta": {"template_version": 1}, "fixtures": []}"#;
        let error = FixtureFile::parse(newer, "f.json").unwrap_err().to_string();
        assert!(
            error.contains("template_version 1 is not supported"),
            "{error}"
        );
        let bad_path = r#"{"fixtures": [{"name": "x", "path": "customers", "method": "post"}]}"#;
        assert!(FixtureFile::parse(bad_path, "f").is_err());
        let bad_method = r#"{"fixtures": [{"name": "x", "path": "/v1/x", "method": "put"}]}"#;
        assert!(FixtureFile::parse(bad_method, "f").is_err());
        let elsewhere =
            r#"{"fixtures": [{"name": "x", "path": "/v1/x", "api_base": "http://evil"}]}"#;
        assert!(FixtureFile::parse(elsewhere, "f").is_err());
        assert!(FixtureFile::parse("{not json", "f").is_err());
    }

    #[test]
    fn overrides_adds_and_removes_edit_one_fixture() {
        let mut file = sample();
        let rewrites = Rewrites {
            overrides: vec![
                "payment_intent:amount=5000".to_string(),
                "customer:metadata[order]=6735".to_string(),
                "payment_intent:payment_method_types.0=us_bank_account".to_string(),
            ],
            additions: vec![
                "customer:name=Ignored".to_string(),
                "customer:email=jenny@example.com".to_string(),
                "payment_intent:transfer_data.destination=acct_1".to_string(),
            ],
            removals: vec![
                "customer:metadata.absent".to_string(),
                "payment_intent:customer".to_string(),
            ],
            skips: vec![],
        };
        rewrites.apply(&mut file).unwrap();
        assert_eq!(
            file.fixtures[0].params,
            Some(
                json!({"name": "Jenny", "metadata": {"order": "6735"}, "email": "jenny@example.com"})
            )
        );
        assert_eq!(
            file.fixtures[1].params,
            Some(
                json!({"amount": "5000", "payment_method_types": ["us_bank_account"],
                        "transfer_data": {"destination": "acct_1"}})
            )
        );
    }

    #[test]
    fn rewrite_mistakes_name_the_valid_fixtures() {
        let mut file = sample();
        let rewrites = Rewrites {
            overrides: vec!["charge:amount=1".to_string()],
            ..Rewrites::default()
        };
        let error = rewrites.apply(&mut file).unwrap_err().to_string();
        assert!(error.contains("customer, payment_intent"), "{error}");
        for (rule, edit) in [
            ("amount=1", Edit::Override),
            ("payment_intent:amount", Edit::Add),
            (":a=1", Edit::Override),
            ("x:a..b=1", Edit::Override),
        ] {
            assert!(parse_rewrite(rule, edit).is_err(), "{rule}");
        }
        let skip = Rewrites {
            skips: vec!["nothing".to_string()],
            ..Rewrites::default()
        };
        assert!(skip.apply(&mut file).is_err());
    }
}
