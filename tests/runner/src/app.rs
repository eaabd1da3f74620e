//! Loading an application: manifest, variables, stores, mounts, and one
//! pre-instantiated component per `[component.x]`.

use crate::files::{self, PreparedMounts};
use crate::host::{self, ComponentShared, State};
use crate::kv::{DEFAULT_STORE, KvStore};
use crate::manifest::Manifest;
use crate::outbound::AllowedHosts;
use crate::routes::Router;
use crate::variables;
use anyhow::{Context, Result, bail};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use tempfile::TempDir;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

pub struct LoadedComponent {
    pub pre: ProxyPre<State>,
    pub shared: Arc<ComponentShared>,
}

pub struct App {
    pub manifest: Manifest,
    pub router: Router,
    pub components: HashMap<String, LoadedComponent>,
    pub kv: KvStore,
    _staging: Vec<TempDir>,
}

/// One engine per process, so compiled components can be reused across runners.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).expect("wasmtime engine configuration is valid")
    })
}

/// Compiles a component once per process per distinct `.wasm` content, and
/// keeps the compiled code on disk (see [`crate::compile_cache`]) so the next
/// start skips Cranelift, as Spin's own cache does.
fn compile(path: &PathBuf) -> Result<Component> {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], Component>>> = OnceLock::new();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = crate::compile_cache::key(engine(), &bytes);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap().get(&key) {
        return Ok(c.clone());
    }
    let component = crate::compile_cache::load_or_compile(engine(), &key, &bytes)
        .with_context(|| format!("cannot compile {}", path.display()))?;
    cache.lock().unwrap().insert(key, component.clone());
    Ok(component)
}

impl App {
    pub fn load(
        manifest_path: &std::path::Path,
        sqlite: Option<PathBuf>,
        redis: Option<&str>,
        env_vars: &HashMap<String, String>,
    ) -> Result<App> {
        let manifest = Manifest::load(manifest_path)?;
        let router = Router::new(&manifest.triggers)?;
        let app_vars = variables::resolve_app_variables(&manifest, env_vars)?;
        let mut comp_vars = variables::resolve_component_variables(&manifest, &app_vars)?;
        let kv = match redis {
            Some(url) => KvStore::open_redis(url)?,
            None => KvStore::open(&sqlite.unwrap_or_else(|| manifest.dir.join(".spin/sqlite_key_value.db")))?,
        };

        let mut linker = Linker::<State>::new(engine());
        host::add_to_linker(&mut linker)?;

        let mut components = HashMap::new();
        let mut staging = Vec::new();
        for (id, c) in &manifest.components {
            for label in &c.key_value_stores {
                if label != DEFAULT_STORE {
                    bail!("component `{id}`: unknown key_value_stores label `{label}` (only `default` exists)");
                }
            }
            let allowed = AllowedHosts::resolve(&c.allowed_outbound_hosts, &app_vars)
                .with_context(|| format!("component `{id}`"))?;
            let PreparedMounts { mounts, staging: dir } = files::prepare(id, &manifest.dir, &c.files)?;
            staging.extend(dir);
            let component = compile(&c.source)?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component `{id}` cannot be linked"))?;
            let pre = ProxyPre::new(pre)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component `{id}` does not export wasi:http/incoming-handler"))?;
            let shared = ComponentShared {
                id: id.clone(),
                variables: comp_vars.remove(id).unwrap_or_default(),
                kv_grants: c.key_value_stores.iter().cloned().collect::<HashSet<_>>(),
                kv: kv.clone(),
                allowed_hosts: Arc::new(allowed),
                environment: c.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                mounts,
            };
            components.insert(id.clone(), LoadedComponent { pre, shared: Arc::new(shared) });
        }
        Ok(App { manifest, router, components, kv, _staging: staging })
    }
}
