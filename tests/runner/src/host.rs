//! Per-request store state and the Spin host interfaces (variables, key-value).

use crate::kv::{CasState, DEFAULT_STORE, KvStore, Swap};
use crate::kv_stats::{KvOps, Op};
use crate::logs::{Prefixed, Target};
use crate::outbound::{AllowedHosts, OutboundHooks};
use crate::variables::{ComponentVariables, VariableError};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

wasmtime::component::bindgen!({
    path: "wit",
    world: "unlatch:runner/spin-host",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::host::StoreHandle,
        "wasi:keyvalue/store.bucket": crate::host::StoreHandle,
        "wasi:keyvalue/atomics.cas": crate::host::CasHandle,
    },
});

use fermyon::spin::{key_value, variables};
use wasi::keyvalue::{atomics, batch, store};

/// An open store (Spin `store` or wasi `bucket`): just its label.
pub struct StoreHandle {
    label: String,
}

/// A CAS in progress: the backend's state (SQLite: the value `current` last
/// read, `None` until then; Redis: the CAS's own connection).
pub struct CasHandle {
    label: String,
    key: String,
    state: Arc<std::sync::Mutex<CasState>>,
}

/// Everything a component's requests share, built once at startup.
pub struct ComponentShared {
    pub id: String,
    pub variables: ComponentVariables,
    pub kv_grants: HashSet<String>,
    pub kv: KvStore,
    pub allowed_hosts: Arc<AllowedHosts>,
    pub environment: Vec<(String, String)>,
    /// (host directory, guest path), mounted read-only.
    pub mounts: Vec<(PathBuf, String)>,
}

/// The `T` of each request's `Store<T>`.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    shared: Arc<ComponentShared>,
    ops: Arc<KvOps>,
}

impl State {
    /// A request's state; its key-value operations are counted in `ops`.
    pub fn new(shared: Arc<ComponentShared>, ops: Arc<KvOps>) -> anyhow::Result<State> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(Prefixed::new(&shared.id, Target::Stdout))
            .stderr(Prefixed::new(&shared.id, Target::Stderr))
            .envs(&shared.environment);
        for (host, guest) in &shared.mounts {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|e| anyhow::anyhow!("cannot mount {}: {e}", host.display()))?;
        }
        Ok(State {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks { component: shared.id.clone(), allowed: shared.allowed_hosts.clone() },
            shared,
            ops,
        })
    }

    /// Spin's order: an ungranted label is `access-denied` even if it exists.
    fn check_label(&self, label: &str) -> Result<(), StoreAccess> {
        if !self.shared.kv_grants.contains(label) {
            Err(StoreAccess::Denied)
        } else if label != DEFAULT_STORE {
            Err(StoreAccess::NoSuchStore)
        } else {
            Ok(())
        }
    }

    fn label(&self, handle: &Resource<StoreHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(handle)?.label.clone())
    }

    /// Runs a blocking SQLite operation off the async executor. The future
    /// does not borrow `self` (which is not `Sync`), so it stays `Send`.
    /// Counts it as one `kind` of operation.
    fn kv<R: Send + 'static>(
        &self,
        kind: Op,
        op: impl FnOnce(&KvStore) -> anyhow::Result<R> + Send + 'static,
    ) -> impl Future<Output = wasmtime::Result<Result<R, String>>> + Send + 'static {
        self.ops.count(kind);
        let kv = self.shared.kv.clone();
        async move {
            match tokio::task::spawn_blocking(move || op(&kv)).await {
                Ok(r) => Ok(r.map_err(|e| format!("{e:#}"))),
                Err(e) => Err(wasmtime::Error::msg(format!("key-value task failed: {e}"))),
            }
        }
    }
}

enum StoreAccess {
    Denied,
    NoSuchStore,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

impl variables::Host for State {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        Ok(self.shared.variables.get(&name).map_err(|e| match e {
            VariableError::InvalidName(m) => variables::Error::InvalidName(m),
            VariableError::Undefined(m) => variables::Error::Undefined(m),
        }))
    }
}

type SpinResult<T> = wasmtime::Result<Result<T, key_value::Error>>;

impl key_value::Host for State {}

impl key_value::HostStore for State {
    async fn open(&mut self, label: String) -> SpinResult<Resource<StoreHandle>> {
        match self.check_label(&label) {
            Err(StoreAccess::Denied) => Ok(Err(key_value::Error::AccessDenied)),
            Err(StoreAccess::NoSuchStore) => Ok(Err(key_value::Error::NoSuchStore)),
            Ok(()) => Ok(Ok(self.table.push(StoreHandle { label })?)),
        }
    }

    async fn get(&mut self, h: Resource<StoreHandle>, key: String) -> SpinResult<Option<Vec<u8>>> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Get, move |kv| kv.get(&label, &key)).await?.map_err(key_value::Error::Other))
    }

    async fn set(&mut self, h: Resource<StoreHandle>, key: String, value: Vec<u8>) -> SpinResult<()> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Set, move |kv| kv.set(&label, &key, &value)).await?.map_err(key_value::Error::Other))
    }

    async fn delete(&mut self, h: Resource<StoreHandle>, key: String) -> SpinResult<()> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Delete, move |kv| kv.delete(&label, &key)).await?.map_err(key_value::Error::Other))
    }

    async fn exists(&mut self, h: Resource<StoreHandle>, key: String) -> SpinResult<bool> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Exists, move |kv| kv.exists(&label, &key)).await?.map_err(key_value::Error::Other))
    }

    async fn get_keys(&mut self, h: Resource<StoreHandle>) -> SpinResult<Vec<String>> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::ListKeys, move |kv| kv.keys(&label)).await?.map_err(key_value::Error::Other))
    }

    async fn drop(&mut self, h: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

type WasiResult<T> = wasmtime::Result<Result<T, store::Error>>;

impl store::Host for State {
    async fn open(&mut self, identifier: String) -> WasiResult<Resource<StoreHandle>> {
        match self.check_label(&identifier) {
            Err(StoreAccess::Denied) => Ok(Err(store::Error::AccessDenied)),
            Err(StoreAccess::NoSuchStore) => Ok(Err(store::Error::NoSuchStore)),
            Ok(()) => Ok(Ok(self.table.push(StoreHandle { label: identifier })?)),
        }
    }
}

impl store::HostBucket for State {
    async fn get(&mut self, h: Resource<StoreHandle>, key: String) -> WasiResult<Option<Vec<u8>>> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Get, move |kv| kv.get(&label, &key)).await?.map_err(store::Error::Other))
    }

    async fn set(&mut self, h: Resource<StoreHandle>, key: String, value: Vec<u8>) -> WasiResult<()> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Set, move |kv| kv.set(&label, &key, &value)).await?.map_err(store::Error::Other))
    }

    async fn delete(&mut self, h: Resource<StoreHandle>, key: String) -> WasiResult<()> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Delete, move |kv| kv.delete(&label, &key)).await?.map_err(store::Error::Other))
    }

    async fn exists(&mut self, h: Resource<StoreHandle>, key: String) -> WasiResult<bool> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Exists, move |kv| kv.exists(&label, &key)).await?.map_err(store::Error::Other))
    }

    async fn list_keys(&mut self, h: Resource<StoreHandle>, _cursor: Option<String>) -> WasiResult<store::KeyResponse> {
        let label = self.label(&h)?;
        // One page holds every key; no cursor is ever returned.
        Ok(self
            .kv(Op::ListKeys, move |kv| kv.keys(&label))
            .await?
            .map(|keys| store::KeyResponse { keys, cursor: None })
            .map_err(store::Error::Other))
    }

    async fn drop(&mut self, h: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

impl atomics::Host for State {
    async fn increment(&mut self, h: Resource<StoreHandle>, key: String, delta: i64) -> WasiResult<i64> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::Increment, move |kv| kv.increment(&label, &key, delta)).await?.map_err(store::Error::Other))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let CasHandle { label, key, state } = self.table.get(&cas)?;
        let (l, k, state) = (label.clone(), key.clone(), state.clone());
        let outcome = self
            .kv(Op::CasSwap, move |kv| kv.cas_swap(&l, &k, &state.lock().unwrap_or_else(|e| e.into_inner()), &value))
            .await?;
        match outcome {
            Ok(Swap::Done) => {
                self.table.delete(cas)?;
                Ok(Ok(()))
            }
            // As Spin does, the same handle comes back; `current` re-reads.
            Ok(Swap::Conflict) => Ok(Err(atomics::CasError::CasFailed(cas))),
            Err(e) => {
                self.table.delete(cas)?;
                Ok(Err(atomics::CasError::StoreError(store::Error::Other(e))))
            }
        }
    }
}

impl atomics::HostCas for State {
    async fn new(&mut self, h: Resource<StoreHandle>, key: String) -> WasiResult<Resource<CasHandle>> {
        // Spin reads nothing here: `current` reads and remembers the value
        // (Redis: watches the key on the CAS's own connection, opened here),
        // and a swap without `current` is unguarded.
        let label = self.label(&h)?;
        match self.kv(Op::CasNew, |kv| kv.cas_new()).await? {
            Ok(state) => Ok(Ok(self.table.push(CasHandle { label, key, state: Arc::new(state.into()) })?)),
            Err(e) => Ok(Err(store::Error::Other(e))),
        }
    }

    async fn current(&mut self, cas: Resource<CasHandle>) -> WasiResult<Option<Vec<u8>>> {
        let handle = self.table.get(&cas)?;
        let (l, k, state) = (handle.label.clone(), handle.key.clone(), handle.state.clone());
        Ok(self
            .kv(Op::CasCurrent, move |kv| kv.cas_current(&l, &k, &mut state.lock().unwrap_or_else(|e| e.into_inner())))
            .await?
            .map_err(store::Error::Other))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for State {
    async fn get_many(
        &mut self,
        h: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> WasiResult<Vec<(String, Option<Vec<u8>>)>> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::GetMany, move |kv| kv.get_many(&label, &keys)).await?.map_err(store::Error::Other))
    }

    async fn set_many(&mut self, h: Resource<StoreHandle>, key_values: Vec<(String, Vec<u8>)>) -> WasiResult<()> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::SetMany, move |kv| kv.set_many(&label, &key_values)).await?.map_err(store::Error::Other))
    }

    async fn delete_many(&mut self, h: Resource<StoreHandle>, keys: Vec<String>) -> WasiResult<()> {
        let label = self.label(&h)?;
        Ok(self.kv(Op::DeleteMany, move |kv| kv.delete_many(&label, &keys)).await?.map_err(store::Error::Other))
    }
}

/// Adds every host interface a Spin HTTP component may import.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<State>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    SpinHost::add_to_linker::<State, wasmtime::component::HasSelf<State>>(linker, |s| s)?;
    Ok(())
}
