//! Spin's runtime configuration file (`spin up --runtime-config-file`), as far
//! as the runner supports it: the `default` key-value store on SQLite or Redis.
//!
//! ```toml
//! [key_value_store.default]
//! type = "spin"
//! path = "kv/sqlite_key_value.db"   # relative paths are under the file's directory
//! ```
//!
//! ```toml
//! [key_value_store.default]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//! ```

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name Spin gives its SQLite store inside the state directory.
pub const DEFAULT_SQLITE_FILE: &str = "sqlite_key_value.db";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreConfig>,
}

#[derive(Deserialize)]
struct StoreConfig {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    url: Option<String>,
}

/// The `default` store a runtime-config file names.
#[derive(Debug, PartialEq, Eq)]
pub enum DefaultStore {
    Sqlite(PathBuf),
    Redis(String),
}

/// The `default` store that a runtime-config file names, if it names one.
pub fn default_store(file: &Path) -> Result<Option<DefaultStore>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed: File = toml::from_str(&text).with_context(|| format!("{} is not a runtime config", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut default = None;
    for (label, store) in parsed.key_value_store {
        if label != crate::kv::DEFAULT_STORE {
            bail!("key_value_store.{label}: the runner provides only the `default` store");
        }
        default = Some(match store.kind.as_str() {
            "spin" => {
                let path = store.path.unwrap_or_else(|| PathBuf::from(DEFAULT_SQLITE_FILE));
                DefaultStore::Sqlite(if path.is_absolute() { path } else { base.join(path) })
            }
            "redis" => match store.url {
                Some(url) => DefaultStore::Redis(url),
                None => bail!("key_value_store.{label}: a `redis` store needs a `url`"),
            },
            other => {
                bail!("key_value_store.{label}: type `{other}` is not supported by the runner (only `spin`, `redis`)")
            }
        });
    }
    Ok(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime-config.toml");
        std::fs::write(&file, text).unwrap();
        (dir, file)
    }

    #[test]
    fn spin_store_path_is_taken_as_is_or_under_the_file() {
        let (_d, f) = write("[key_value_store.default]\ntype = \"spin\"\npath = \"/tmp/x/kv.db\"\n");
        assert_eq!(default_store(&f).unwrap(), Some(DefaultStore::Sqlite(PathBuf::from("/tmp/x/kv.db"))));
        let (d, f) = write("[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n");
        assert_eq!(default_store(&f).unwrap(), Some(DefaultStore::Sqlite(d.path().join("kv.db"))));
        let (_d, f) = write("");
        assert_eq!(default_store(&f).unwrap(), None);
    }

    #[test]
    fn redis_store_takes_its_url() {
        let (_d, f) = write("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6390\"\n");
        assert_eq!(default_store(&f).unwrap(), Some(DefaultStore::Redis("redis://127.0.0.1:6390".into())));
        let (_d, f) = write("[key_value_store.default]\ntype = \"redis\"\n");
        assert!(default_store(&f).unwrap_err().to_string().contains("needs a `url`"));
    }

    #[test]
    fn unsupported_stores_are_refused_clearly() {
        let (_d, f) = write("[key_value_store.default]\ntype = \"azure_cosmos\"\n");
        assert!(default_store(&f).unwrap_err().to_string().contains("not supported"));
        let (_d, f) = write("[key_value_store.other]\ntype = \"spin\"\n");
        assert!(default_store(&f).unwrap_err().to_string().contains("only the `default` store"));
    }
}
