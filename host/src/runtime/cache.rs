//! The on-disk cache of precompiled components. A component is compiled once per content
//! hash and engine configuration; later starts deserialize the machine code (~ms instead of
//! ~0.6 s for a plugin with a regex engine).
//!
//! Entries are `DATA_DIR/plugin-cache/<key>.cwasm` where the key hashes the component bytes,
//! the wasmtime version and the engine's compatibility hash. Each file ends with the SHA-256
//! of its contents, checked before the bytes are handed to wasmtime, so a torn or corrupt
//! entry is recompiled rather than trusted.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where a component came from when it was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Compiled now (and written to the cache if one is configured).
    Compiled,
    /// Loaded from the on-disk cache.
    Hit,
}

/// The cache key of `wasm` for `engine`.
pub fn key(engine: &Engine, wasm: &[u8]) -> String {
    let mut compat = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut h = Sha256::new();
    h.update(wasm);
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(compat.finish().to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

fn entry_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.cwasm"))
}

/// Loads `wasm` as a component, through the cache directory `dir` when given;
/// `on_compile` is called just before a compile (a cache miss), which can take seconds.
pub fn load(
    engine: &Engine,
    dir: Option<&Path>,
    wasm: &[u8],
    on_compile: impl FnOnce(),
) -> wasmtime::Result<(Component, CacheOutcome)> {
    let Some(dir) = dir else {
        on_compile();
        return Ok((Component::new(engine, wasm)?, CacheOutcome::Compiled));
    };
    let key = key(engine, wasm);
    let path = entry_path(dir, &key);
    if let Ok(bytes) = std::fs::read(&path) {
        if let Some(code) = verified(&bytes) {
            // SAFETY: the bytes were produced by `Component::serialize` of an engine with
            // the same compatibility hash (the key), written by this collector into its
            // own data directory, and their checksum matched.
            if let Ok(component) = unsafe { Component::deserialize(engine, code) } {
                return Ok((component, CacheOutcome::Hit));
            }
        }
        tracing::warn!(path = %path.display(), "ignoring a corrupt plugin cache entry");
    }
    on_compile();
    let component = Component::new(engine, wasm)?;
    if let Err(e) = store(dir, &path, &component.serialize()?) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the plugin cache");
    }
    Ok((component, CacheOutcome::Compiled))
}

fn verified(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < 32 {
        return None;
    }
    let (code, sum) = bytes.split_at(bytes.len() - 32);
    (Sha256::digest(code).as_slice() == sum).then_some(code)
}

fn store(dir: &Path, path: &Path, code: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut bytes = Vec::with_capacity(code.len() + 32);
    bytes.extend_from_slice(code);
    bytes.extend_from_slice(&Sha256::digest(code));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)
}
