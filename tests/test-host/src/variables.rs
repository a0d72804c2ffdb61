//! Application and component variables (`fermyon:spin/variables@2.0.0`),
//! following Spin's `spin-expressions` and `spin-factor-variables`.
//!
//! * App variables are declared in `[variables]` with `default` or
//!   `required = true`. A value comes from, in order: the host's override map
//!   (like `spin up --variable`), the environment variable
//!   `SPIN_VARIABLE_<NAME>` (Spin's default env provider), then `default`.
//!   A required variable nobody provides is a startup error, as in Spin's
//!   `validate_variables`. (Spin's env provider also reads a `.env` file in the
//!   working directory; this host does not. Values are resolved once at
//!   startup, where Spin reads its providers on each `get`.)
//! * A component sees only its own `[component.x.variables]`, whose values are
//!   templates such as `"Bearer {{ admin_token }}"` over app variables.
//! * `get(name)`: an invalid name → `invalid-name`; a name the component does
//!   not declare → `undefined`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};

use crate::bindings::fermyon::spin::variables::{self, Error};
use crate::manifest::VariableDecl;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Expr(String),
}

/// A `{{ var }}` template, parsed as Spin's `Template::new` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(template: &str) -> std::result::Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(after_open) = rest.strip_prefix("{{") {
                let Some((expr, after)) = after_open.split_once("}}") else {
                    return Err("unmatched '{{' in template".into());
                };
                parts.push(Part::Expr(expr.trim().to_owned()));
                rest = after;
            } else if let Some(idx) = rest.find("{{") {
                parts.push(Part::Lit(rest[..idx].to_owned()));
                rest = &rest[idx..];
            } else {
                parts.push(Part::Lit(rest.to_owned()));
                rest = "";
            }
        }
        Ok(Self { parts })
    }

    /// Names of the variables the template refers to.
    pub fn referenced(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Expr(name) => Some(name.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Expands the template; every referenced variable must be in `values`.
    pub fn render(&self, values: &HashMap<String, String>) -> std::result::Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(lit) => out.push_str(lit),
                Part::Expr(name) => match values.get(name) {
                    Some(value) => out.push_str(value),
                    None => return Err(format!("invalid variable name: {name:?}")),
                },
            }
        }
        Ok(out)
    }
}

/// Spin's `Key::validate`, used for names passed to `variables.get`: lower
/// case letters, digits and single underscores, starting with a letter and
/// ending with a letter or digit.
pub fn validate_key(key: &str) -> std::result::Result<(), String> {
    let reason = if key.is_empty() {
        "must not be empty".to_owned()
    } else if let Some(invalid) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        format!(
            "invalid character {invalid:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        )
    } else if !key.as_bytes()[0].is_ascii_lowercase() {
        "must start with a lowercase ASCII letter".to_owned()
    } else if !key.as_bytes()[key.len() - 1].is_ascii_alphanumeric() {
        "must end with a lowercase ASCII letter or digit".to_owned()
    } else if key.contains("__") {
        "must not contain multiple consecutive underscores".to_owned()
    } else {
        return Ok(());
    };
    Err(format!("{key:?}: {reason}"))
}

/// Manifest names of variables (`LowerSnakeId` in Spin's schema): a valid key
/// whose underscore-separated words each start with a letter.
pub fn validate_lower_snake_id(name: &str) -> std::result::Result<(), String> {
    crate::manifest::validate_id(name, '_')?;
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "Lower-case identifiers must be all lowercase; got {name:?}"
        ));
    }
    validate_key(name)
}

/// Resolves every application variable: `overrides` first, then
/// `env(SPIN_VARIABLE_<NAME>)`, then the declared default. Fails if a required
/// variable has no value or an override names an undeclared variable.
pub fn resolve_app_variables(
    declared: &BTreeMap<String, VariableDecl>,
    overrides: &BTreeMap<String, String>,
    env: impl Fn(&str) -> Result<Option<String>>,
) -> Result<HashMap<String, String>> {
    for name in overrides.keys() {
        if !declared.contains_key(name) {
            bail!("variable override {name:?} is not declared in the manifest's [variables]");
        }
    }
    let mut values = HashMap::new();
    let mut missing = Vec::new();
    for (name, decl) in declared {
        let env_key = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
        let value = match overrides.get(name) {
            Some(value) => Some(value.clone()),
            None => match env(&env_key)? {
                Some(value) => Some(value),
                None => decl.default.clone(),
            },
        };
        match value {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        bail!(
            "no provider resolved required variable(s): {missing:?} \
             (set SPIN_VARIABLE_<NAME> or pass a value to the host)"
        );
    }
    Ok(values)
}

/// Reads `key` from the process environment (`None` if unset).
pub fn process_env(key: &str) -> Result<Option<String>> {
    match std::env::var(key) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => Err(anyhow!("failed to resolve env var {key}: {e}")),
    }
}

/// Per-instance state of the variables interface.
pub struct VariablesInstance {
    component_id: String,
    templates: Arc<BTreeMap<String, Template>>,
    app_values: Arc<HashMap<String, String>>,
}

impl VariablesInstance {
    pub fn new(
        component_id: impl Into<String>,
        templates: Arc<BTreeMap<String, Template>>,
        app_values: Arc<HashMap<String, String>>,
    ) -> Self {
        Self {
            component_id: component_id.into(),
            templates,
            app_values,
        }
    }

    /// `variables.get(name)` with Spin's error mapping.
    pub fn get_value(&self, name: &str) -> std::result::Result<String, Error> {
        validate_key(name).map_err(Error::InvalidName)?;
        let component_id = &self.component_id;
        let template = self.templates.get(name).ok_or_else(|| {
            Error::Undefined(format!("no variable for {component_id:?}.{name:?}"))
        })?;
        template.render(&self.app_values).map_err(Error::Other)
    }
}

impl variables::Host for VariablesInstance {
    async fn get(&mut self, name: String) -> wasmtime::Result<std::result::Result<String, Error>> {
        Ok(self.get_value(&name))
    }
}
