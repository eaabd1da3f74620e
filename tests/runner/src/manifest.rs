//! `spin.toml` (manifest version 2): the subset Unlatch uses, parsed strictly
//! enough that a typo fails at startup instead of at request time.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory holding the manifest; relative paths resolve against it.
    pub dir: PathBuf,
    pub name: String,
    pub variables: BTreeMap<String, AppVariable>,
    pub triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, ComponentConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppVariable {
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// `None` for `route = { private = true }` (reachable only internally).
    pub route: Option<String>,
    pub component: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentConfig {
    pub id: String,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    pub files: Vec<FileMount>,
    pub key_value_stores: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Raw values, possibly containing `{{ app_var }}` templates.
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMount {
    /// `{ source = "dir", destination = "/" }`: a host directory (or file), relative to the manifest.
    Mapping { source: PathBuf, destination: String },
    /// `"static/**/*"`: matching files keep their manifest-relative paths under `/`.
    Glob(String),
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, AppVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
    #[serde(default)]
    #[allow(dead_code)]
    executor: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    files: Vec<RawFileMount>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFileMount {
    Glob(String),
    Mapping { source: String, destination: String },
}

impl Manifest {
    /// Reads and validates a manifest, including that every component source exists.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", path.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let manifest = Manifest::parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))?;
        for c in manifest.components.values() {
            if !c.source.is_file() {
                bail!(
                    "component `{}`: source file {} does not exist (build the components first)",
                    c.id,
                    c.source.display()
                );
            }
        }
        Ok(manifest)
    }

    /// Parses manifest text; `dir` is where relative paths resolve. No filesystem access.
    pub fn parse(text: &str, dir: &Path) -> Result<Manifest> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version != 2 {
            bail!("spin_manifest_version must be 2, found {}", raw.spin_manifest_version);
        }
        for (name, var) in &raw.variables {
            check_variable_name(name).with_context(|| format!("[variables] {name}"))?;
            if var.required && var.default.is_some() {
                bail!("variable `{name}`: `required = true` and `default` are mutually exclusive");
            }
            if !var.required && var.default.is_none() {
                bail!("variable `{name}`: needs a `default` or `required = true`");
            }
        }
        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            let _ = (&c.description, &c.build, &c.exclude_files);
            if !c.exclude_files.is_empty() {
                bail!("component `{id}`: `exclude_files` is not supported by this runner");
            }
            for name in c.variables.keys() {
                check_variable_name(name).with_context(|| format!("[component.{id}.variables] {name}"))?;
            }
            let files = c
                .files
                .into_iter()
                .map(|f| match f {
                    RawFileMount::Glob(g) => FileMount::Glob(g),
                    RawFileMount::Mapping { source, destination } => {
                        FileMount::Mapping { source: dir.join(source), destination }
                    }
                })
                .collect();
            components.insert(
                id.clone(),
                ComponentConfig {
                    source: dir.join(&c.source),
                    id,
                    files,
                    key_value_stores: c.key_value_stores,
                    allowed_outbound_hosts: c.allowed_outbound_hosts,
                    environment: c.environment,
                    variables: c.variables,
                },
            );
        }
        let mut triggers = Vec::new();
        for t in raw.trigger.http {
            if !components.contains_key(&t.component) {
                bail!("trigger for route {:?} names unknown component `{}`", t.route_text(), t.component);
            }
            let route = match t.route {
                RawRoute::Path(p) => {
                    if !p.starts_with('/') {
                        bail!("route `{p}` must start with `/`");
                    }
                    Some(p)
                }
                RawRoute::Private { private: true } => None,
                RawRoute::Private { private: false } => bail!("`route = {{ private = false }}` is not valid"),
            };
            triggers.push(HttpTrigger { route, component: t.component });
        }
        Ok(Manifest {
            dir: dir.to_path_buf(),
            name: raw.application.name,
            variables: raw.variables,
            triggers,
            components,
        })
    }
}

impl RawHttpTrigger {
    fn route_text(&self) -> String {
        match &self.route {
            RawRoute::Path(p) => p.clone(),
            RawRoute::Private { .. } => "<private>".into(),
        }
    }
}

/// Spin's rule: lowercase ASCII letters, digits and `_`, starting with a letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if !ok {
        bail!("invalid variable name `{name}`: use lowercase letters, digits and `_`, starting with a letter");
    }
    Ok(())
}
