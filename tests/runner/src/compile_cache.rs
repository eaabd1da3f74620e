//! Compiled components kept on disk between runs, keyed by the SHA-256 of the
//! component's bytes and the engine's compatibility hash (wasmtime's version
//! and settings), so a changed component or engine never loads stale code.
//! Directory: `$UNLATCH_RUNNER_CACHE`, else `$XDG_CACHE_HOME/unlatch-runner`,
//! else `~/.cache/unlatch-runner`. Any cache failure falls back to compiling.

use anyhow::Result;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

pub fn key(engine: &Engine, wasm: &[u8]) -> [u8; 32] {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let mut h = Sha256::new();
    h.update(engine_hash.finish().to_le_bytes());
    h.update(wasm);
    h.finalize().into()
}

fn dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("UNLATCH_RUNNER_CACHE") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("unlatch-runner"))
}

pub fn load_or_compile(engine: &Engine, key: &[u8; 32], wasm: &[u8]) -> Result<Component> {
    let name: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let file = dir().map(|d| d.join(format!("{name}.cwasm")));
    if let Some(file) = file.as_ref().filter(|f| f.is_file()) {
        // SAFETY: the file is one this module serialised for an engine with the
        // same compatibility hash (part of its name); wasmtime also checks the
        // header and refuses an incompatible artifact, which we then recompile.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, file) } {
            return Ok(component);
        }
    }
    let component = Component::new(engine, wasm).map_err(anyhow::Error::from)?;
    if let Some(file) = file {
        store(&file, &component);
    }
    Ok(component)
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn store(file: &std::path::Path, component: &Component) {
    let Some(parent) = file.parent() else { return };
    let Ok(bytes) = component.serialize() else { return };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(parent) {
        use std::io::Write;
        if tmp.write_all(&bytes).is_ok() {
            let _ = tmp.persist(file);
        }
    }
}
