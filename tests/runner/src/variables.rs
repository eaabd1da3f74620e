//! Application and component variables (`fermyon:spin/variables`), resolved
//! once at startup so a missing required value fails before serving.

use crate::manifest::{Manifest, check_variable_name};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, HashMap};

/// Resolved values of one component's `[component.x.variables]`.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    values: HashMap<String, String>,
}

/// Why `get` failed; mirrors the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    InvalidName(String),
    Undefined(String),
}

impl ComponentVariables {
    pub fn get(&self, name: &str) -> Result<String, VariableError> {
        if check_variable_name(name).is_err() {
            return Err(VariableError::InvalidName(format!("invalid variable name `{name}`")));
        }
        self.values.get(name).cloned().ok_or_else(|| VariableError::Undefined(format!("no variable for \"{name}\"")))
    }
}

/// App variable values: `SPIN_VARIABLE_<NAME>` from `overrides`, then the process
/// environment, then the default. A required variable without a value is an error.
pub fn resolve_app_variables(
    manifest: &Manifest,
    overrides: &HashMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, var) in &manifest.variables {
        let env_name = format!("SPIN_VARIABLE_{}", name.to_uppercase());
        let value =
            overrides.get(&env_name).cloned().or_else(|| std::env::var(&env_name).ok()).or_else(|| var.default.clone());
        match value {
            Some(v) => {
                out.insert(name.clone(), v);
            }
            None => bail!("required variable `{name}` has no value (set {env_name})"),
        }
    }
    Ok(out)
}

/// Expands the `{{ app_var }}` templates of every component variable.
pub fn resolve_component_variables(
    manifest: &Manifest,
    app: &BTreeMap<String, String>,
) -> Result<HashMap<String, ComponentVariables>> {
    let mut out = HashMap::new();
    for (id, c) in &manifest.components {
        let mut values = HashMap::new();
        for (name, template) in &c.variables {
            let value = expand(template, app).with_context(|| format!("component `{id}` variable `{name}`"))?;
            values.insert(name.clone(), value);
        }
        out.insert(id.clone(), ComponentVariables { values });
    }
    Ok(out)
}

/// Expands `{{ name }}` references; `{{` without a closing `}}` is an error.
pub fn expand(template: &str, app: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unterminated `{{{{` in `{template}`");
        };
        let name = after[..end].trim();
        match app.get(name) {
            Some(v) => out.push_str(v),
            None => bail!("template `{template}` refers to unknown variable `{name}`"),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}
