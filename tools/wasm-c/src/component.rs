//! Core module -> component, with wit-component (what `wasm-tools component new` does).

use std::path::Path;

use anyhow::{Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};
use wit_component::ComponentEncoder;

/// Encodes the core module at `module` (which carries its world in the custom section
/// wit-bindgen's `_component_type.o` adds) as a component at `output`.
pub fn write(module: &Path, output: &Path) -> Result<()> {
    let bytes = std::fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    let mut encoder = ComponentEncoder::default();
    encoder.validate(true).module(&bytes).with_context(|| {
        format!(
            "{}: no component type found (link the bindings' _component_type.o)",
            module.display()
        )
    })?;
    if imports_preview1(&bytes)? {
        encoder
            .adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
            .context("adding the WASI preview1 reactor adapter")?;
    }
    let component = encoder
        .encode()
        .with_context(|| format!("encoding {} as a component", module.display()))?;
    std::fs::write(output, component).with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}

/// Whether the core module imports anything from `wasi_snapshot_preview1` (wasi-libc's
/// I/O, clocks, environment...): then it needs the adapter to become a component.
fn imports_preview1(bytes: &[u8]) -> Result<bool> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ImportSection(imports) = payload.context("parsing the core module")? {
            for import in imports.into_imports() {
                let import = import.context("parsing an import")?;
                if import.module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}
