//! Parsing and validation of a Spin manifest (`spin.toml`, manifest version 2).
//!
//! The schema mirrors Spin's `spin-manifest` crate (`schema/v2.rs`): every
//! table is `deny_unknown_fields`, ids and labels follow Spin's id rules, and
//! the cross-checks Spin does when it loads an app (trigger → component,
//! variable templates → declared variables, `required` xor `default`) are done
//! here. Where this host supports less than Spin (remote sources, inline
//! components, `files`, Wagi, route parameters, ...) it refuses the manifest
//! with an error saying so, rather than guessing: it must never be more
//! lenient than `spin up`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Deserialize;

use crate::routes::RoutePattern;
use crate::variables::{Template, validate_lower_snake_id};

/// A validated application.
#[derive(Debug, Clone)]
pub struct App {
    /// Directory holding the manifest; component sources are relative to it.
    pub dir: PathBuf,
    pub name: String,
    pub version: String,
    pub description: String,
    /// Application variables (`[variables]`), by name.
    pub variables: BTreeMap<String, VariableDecl>,
    /// HTTP triggers in manifest order (private endpoints are not listed).
    pub http_triggers: Vec<HttpTrigger>,
    /// Components by id.
    pub components: BTreeMap<String, ComponentConfig>,
}

/// An application variable declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// One routable `[[trigger.http]]` entry.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The route exactly as written in the manifest.
    pub raw_route: String,
    pub pattern: RoutePattern,
    pub component: String,
}

/// A validated `[component.<id>]` table.
#[derive(Debug, Clone)]
pub struct ComponentConfig {
    pub id: String,
    /// Absolute (manifest-dir-joined) path of the `.wasm` file.
    pub source: PathBuf,
    pub description: String,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Component variables: name → template over application variables.
    pub variables: BTreeMap<String, Template>,
}

// ---------------------------------------------------------------------------
// Raw schema (serde). Field sets follow Spin's v2 schema; everything is
// `deny_unknown_fields` like Spin's.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    /// Required, as in Spin (no `serde(default)`).
    #[serde(rename = "trigger")]
    triggers: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default, rename = "component")]
    components: BTreeMap<String, RawComponent>,
}

#[expect(dead_code, reason = "fields Spin accepts but this host has no use for")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    authors: Vec<String>,
    /// Settings for custom tools; Spin ignores it, so do we.
    #[serde(default)]
    tool: BTreeMap<String, toml::Table>,
}

#[expect(dead_code, reason = "fields Spin accepts but this host has no use for")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    secret: bool,
}

#[expect(dead_code, reason = "fields Spin accepts but this host has no use for")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    id: Option<String>,
    component: Option<toml::Value>,
    route: toml::Value,
    #[serde(default)]
    executor: Option<RawExecutor>,
}

/// Spin's `HttpExecutorType`: `{ type = "http" }` (alias `"spin"`) or Wagi.
#[expect(dead_code, reason = "fields Spin accepts but this host has no use for")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "lowercase")]
enum RawExecutor {
    #[serde(alias = "spin")]
    Http,
    Wagi(toml::Table),
}

#[expect(dead_code, reason = "fields Spin accepts but this host has no use for")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    build: Option<RawBuild>,
    /// Settings for custom tools; Spin ignores it, so do we.
    #[serde(default)]
    tool: BTreeMap<String, toml::Table>,
}

#[expect(dead_code, reason = "fields Spin accepts but this host has no use for")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: RawCommands,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

#[expect(dead_code, reason = "fields Spin accepts but this host has no use for")]
#[derive(Deserialize)]
#[serde(untagged)]
enum RawCommands {
    Single(String),
    Multiple(Vec<String>),
}

// ---------------------------------------------------------------------------

/// Reads and validates the manifest at `path`.
pub fn load(path: &Path) -> Result<App> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read manifest {}", path.display()))?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))
}

/// Parses and validates manifest text; `dir` is the manifest's directory.
pub fn parse(text: &str, dir: &Path) -> Result<App> {
    let raw: RawManifest = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;

    // `spin_manifest_version = 2` (an integer, as Spin's FixedVersion<2>).
    match raw.spin_manifest_version {
        toml::Value::Integer(2) => {}
        other => bail!("spin_manifest_version must be 2, got {other}"),
    }

    let RawApplication {
        name,
        version,
        description,
        authors: _,
        tool: _,
    } = raw.application;

    // [variables]: names are lower_snake ids; exactly one of required/default.
    let mut variables = BTreeMap::new();
    for (var_name, var) in raw.variables {
        validate_lower_snake_id(&var_name)
            .map_err(|e| anyhow!("invalid variable name {var_name:?}: {e}"))?;
        let RawVariable {
            description: _,
            required,
            default,
            secret,
        } = var;
        ensure!(
            required ^ default.is_some(),
            "variable {var_name:?}: must specify one of `required = true` or `default`"
        );
        variables.insert(
            var_name,
            VariableDecl {
                default,
                required,
                secret,
            },
        );
    }

    // [component.<id>]
    let mut components = BTreeMap::new();
    for (id, raw_component) in raw.components {
        validate_id(&id, '-').map_err(|e| anyhow!("invalid component id {id:?}: {e}"))?;
        let component = component_config(&id, raw_component, dir, &variables)
            .with_context(|| format!("component {id:?}"))?;
        components.insert(id, component);
    }

    // [[trigger.http]]
    let mut http_triggers = Vec::new();
    for (trigger_type, triggers) in raw.triggers {
        ensure!(
            trigger_type == "http",
            "trigger type {trigger_type:?} is not supported by this host (only `http`)"
        );
        for trigger in triggers {
            let trigger: RawHttpTrigger = trigger
                .try_into()
                .map_err(|e| anyhow!("invalid [[trigger.http]]: {e}"))?;
            if let Some(trigger) = http_trigger(trigger, &components)? {
                http_triggers.push(trigger);
            }
        }
    }

    // Spin keeps the last of two identical routes and logs an error; two
    // triggers on one route are always a mistake, so this host refuses them.
    let mut seen: BTreeMap<&RoutePattern, &str> = BTreeMap::new();
    for trigger in &http_triggers {
        if let Some(previous) = seen.insert(&trigger.pattern, &trigger.component) {
            bail!(
                "duplicate route {:?}: used by component {previous:?} and component {:?}",
                trigger.raw_route,
                trigger.component
            );
        }
    }

    Ok(App {
        dir: dir.to_path_buf(),
        name,
        version,
        description,
        variables,
        http_triggers,
        components,
    })
}

fn component_config(
    id: &str,
    raw: RawComponent,
    dir: &Path,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentConfig> {
    let RawComponent {
        source,
        description,
        variables,
        environment,
        files,
        exclude_files: _,
        allowed_outbound_hosts,
        key_value_stores,
        sqlite_databases,
        ai_models,
        build,
        tool: _,
    } = raw;

    let source = match source {
        toml::Value::String(path) => dir.join(path),
        _ => bail!(
            "`source` must be a local file path: remote and registry sources are not supported by this host"
        ),
    };
    ensure!(
        files.is_empty(),
        "`files` not supported by this host (it gives components no filesystem)"
    );
    ensure!(
        ai_models.is_empty(),
        "`ai_models` not supported by this host"
    );
    // Only the shape of `build` is checked: this host never builds.
    if let Some(RawBuild {
        command: RawCommands::Multiple(commands),
        ..
    }) = &build
    {
        ensure!(!commands.is_empty(), "`build.command` must not be empty");
    }

    // Store and database labels: kebab-case or snake_case (Spin's
    // `kebab_or_snake_case`).
    for label in key_value_stores.iter().chain(&sqlite_databases) {
        ensure!(
            validate_id(label, '-').is_ok() || validate_id(label, '_').is_ok(),
            "invalid store/database label {label:?}: expected kebab-case or snake_case"
        );
    }

    // Component variables: lower_snake names, templates over declared app
    // variables (Spin's `Resolver::validate_template`).
    let mut templates = BTreeMap::new();
    for (name, value) in variables {
        validate_lower_snake_id(&name)
            .map_err(|e| anyhow!("invalid component variable name {name:?}: {e}"))?;
        let template = Template::parse(&value)
            .map_err(|e| anyhow!("invalid template for variable {name:?}: {e}"))?;
        for var in template.referenced() {
            ensure!(
                app_variables.contains_key(var),
                "variable {name:?} refers to undeclared application variable {var:?} \
                 (declare it in [variables])"
            );
        }
        templates.insert(name, template);
    }

    for host in &allowed_outbound_hosts {
        crate::outbound::validate_allowed_host(host, app_variables)
            .with_context(|| format!("invalid allowed_outbound_hosts entry {host:?}"))?;
    }

    Ok(ComponentConfig {
        id: id.to_owned(),
        source,
        description,
        key_value_stores,
        sqlite_databases,
        allowed_outbound_hosts,
        environment,
        variables: templates,
    })
}

fn http_trigger(
    raw: RawHttpTrigger,
    components: &BTreeMap<String, ComponentConfig>,
) -> Result<Option<HttpTrigger>> {
    let RawHttpTrigger {
        id: _,
        component,
        route,
        executor,
    } = raw;

    let component = match component {
        Some(toml::Value::String(component)) => component,
        Some(_) => bail!("inline components in [[trigger.http]] are not supported by this host"),
        None => bail!("[[trigger.http]] is missing `component`"),
    };
    ensure!(
        components.contains_key(&component),
        "[[trigger.http]] refers to unknown component {component:?} (no [component.{component}])"
    );

    match executor {
        None | Some(RawExecutor::Http) => {}
        Some(RawExecutor::Wagi(_)) => {
            bail!("component {component:?}: the Wagi executor is not supported by this host")
        }
    }

    let raw_route = match route {
        toml::Value::String(route) => route,
        // `route = { private = true }`: reachable only by service chaining,
        // never routed (as Spin). `private = false` is an error in Spin too.
        toml::Value::Table(table) => {
            let private = table.get("private").and_then(toml::Value::as_bool);
            ensure!(
                table.len() == 1 && private.is_some(),
                "component {component:?}: route must be a string or `{{ private = true }}`"
            );
            ensure!(
                private == Some(true),
                "route must be a string pattern or '{{ private = true }}': component {component:?} has {{ private = false }}"
            );
            return Ok(None);
        }
        _ => bail!("component {component:?}: route must be a string"),
    };
    let pattern = RoutePattern::parse(&raw_route)
        .with_context(|| format!("component {component:?}: invalid route {raw_route:?}"))?;
    Ok(Some(HttpTrigger {
        raw_route,
        pattern,
        component,
    }))
}

/// Spin's id rule (`spin_serde::Id`): words separated by `delim`, each word
/// non-empty, starting with an ASCII letter, alphanumeric, and all lowercase
/// or all uppercase.
pub fn validate_id(id: &str, delim: char) -> std::result::Result<(), String> {
    if id.is_empty() {
        return Err("empty".into());
    }
    let wrong = if delim == '_' { '-' } else { '_' };
    if id.contains(wrong) {
        return Err(format!(
            "words must be separated with {delim:?}, not {wrong:?}"
        ));
    }
    for word in id.split(delim) {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!("{delim:?}-separated words must not be empty"));
        };
        if !first.is_ascii_alphabetic() {
            return Err(format!(
                "{delim:?}-separated words must start with an ASCII letter; got {first:?}"
            ));
        }
        let upper = first.is_ascii_uppercase();
        for ch in chars {
            if ch.is_ascii_digit() {
                continue;
            }
            if !ch.is_ascii_alphanumeric() {
                return Err(format!(
                    "{delim:?}-separated words may only contain alphanumeric ASCII; got {ch:?}"
                ));
            }
            if ch.is_ascii_uppercase() != upper {
                return Err(format!(
                    "{delim:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"
                ));
            }
        }
    }
    Ok(())
}

impl App {
    /// All store labels used by any component, with the first user.
    pub fn key_value_labels(&self) -> BTreeMap<&str, &str> {
        let mut labels = BTreeMap::new();
        for component in self.components.values() {
            for label in &component.key_value_stores {
                labels
                    .entry(label.as_str())
                    .or_insert(component.id.as_str());
            }
        }
        labels
    }

    /// All SQLite database labels used by any component, with the first user.
    pub fn sqlite_labels(&self) -> BTreeMap<&str, &str> {
        let mut labels = BTreeMap::new();
        for component in self.components.values() {
            for label in &component.sqlite_databases {
                labels
                    .entry(label.as_str())
                    .or_insert(component.id.as_str());
            }
        }
        labels
    }

    /// Ids of the components that are reachable through a trigger.
    pub fn triggered_components(&self) -> BTreeSet<&str> {
        self.http_triggers
            .iter()
            .map(|t| t.component.as_str())
            .collect()
    }
}
