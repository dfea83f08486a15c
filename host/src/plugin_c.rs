//! The two steps of building a C plugin that need the component model, done in-process so
//! a C plugin builds with clang and this binary alone (`templates/c`, `make plugins-c`):
//!
//! - [`write_bindings`] (`sluice plugin c-bindings`): wit-bindgen's C output for a world of
//!   the contract (`log_transform.h`, `.c` and `_component_type.o`, what `wit-bindgen c`
//!   writes), from the WIT compiled into this binary or a WIT file or directory;
//! - [`componentize`] (`sluice plugin componentize`): turns the core module clang linked
//!   against those bindings into a component (wit-component, what `wasm-tools component new`
//!   does), adding the WASI preview1 reactor adapter when the module imports
//!   `wasi_snapshot_preview1` (wasi-libc's stdio does).
//!
//! Both use the crates.io libraries (wit-bindgen-c, wit-component), so nothing else is
//! downloaded or installed for them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};
use wit_bindgen_core::Files;
use wit_component::ComponentEncoder;
use wit_parser::Resolve;

/// The plugin contract this binary was built with (`wit/sluice.wit`).
pub const WIT: &str = include_str!("../../wit/sluice.wit");

/// The world C plugins implement (`sluice_records.c` exports it).
pub const DEFAULT_WORLD: &str = "log-transform";

/// Writes the C bindings of `world` into `out` (created): of the WIT at `wit` (a file or a
/// directory), or of the contract compiled in ([`WIT`]) when `wit` is `None`. A file whose
/// contents are already there is left alone, so `make` does not rebuild what includes it.
/// Returns the files written.
pub fn write_bindings(wit: Option<&Path>, world: &str, out: &Path) -> Result<Vec<PathBuf>> {
    let mut resolve = Resolve::default();
    let (package, source) = match wit {
        Some(wit) => {
            let (package, _) = resolve
                .push_path(wit)
                .with_context(|| format!("reading WIT from {}", wit.display()))?;
            (package, wit.display().to_string())
        }
        None => {
            let package = resolve
                .push_str("sluice.wit", WIT)
                .context("parsing the WIT compiled into sluice")?;
            (package, "the WIT compiled into sluice".to_string())
        }
    };
    let world_id = resolve
        .select_world(&[package], Some(world))
        .with_context(|| format!("finding world `{world}` in {source}"))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world_id, &mut files)
        .with_context(|| format!("generating C bindings of `{world}`"))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    for (name, contents) in files.iter() {
        let path = out.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == contents) {
            continue;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Encodes the core module at `module` (which carries its world in the custom section the
/// bindings' `_component_type.o` adds) as a component at `output`.
pub fn componentize(module: &Path, output: &Path) -> Result<()> {
    let bytes = std::fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    let scan = scan(&bytes).with_context(|| format!("reading {}", module.display()))?;
    if !scan.component_type {
        // wit-component would make an empty component of it, which no pipeline can use.
        bail!(
            "{}: no component type found (link the bindings' _component_type.o)",
            module.display()
        );
    }
    let mut encoder = ComponentEncoder::default();
    encoder
        .validate(true)
        .module(&bytes)
        .with_context(|| format!("decoding the component type of {}", module.display()))?;
    if scan.imports_preview1 {
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

/// What [`componentize`] needs to know about a core module.
struct Scan {
    /// A `component-type*` custom section (the world, from `_component_type.o`) is there.
    component_type: bool,
    /// It imports from `wasi_snapshot_preview1` (wasi-libc's I/O, clocks, environment...):
    /// then it needs the adapter to become a component.
    imports_preview1: bool,
}

fn scan(bytes: &[u8]) -> Result<Scan> {
    let mut scan = Scan {
        component_type: false,
        imports_preview1: false,
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.context("not a core WebAssembly module")? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.context("parsing an import")?;
                    scan.imports_preview1 |= import.module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME;
                }
            }
            Payload::CustomSection(section) => {
                scan.component_type |= section.name().starts_with("component-type");
            }
            _ => {}
        }
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_of_the_compiled_in_wit() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_bindings(None, DEFAULT_WORLD, dir.path()).unwrap();
        let mut names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "log_transform.c",
                "log_transform.h",
                "log_transform_component_type.o"
            ]
        );
        let header = std::fs::read_to_string(dir.path().join("log_transform.h")).unwrap();
        assert!(header.contains("exports_log_transform_process"), "{header}");
        // Unchanged files are not rewritten.
        assert!(write_bindings(None, DEFAULT_WORLD, dir.path())
            .unwrap()
            .is_empty());
        assert!(write_bindings(None, "no-such-world", dir.path()).is_err());
    }

    #[test]
    fn a_module_without_a_component_type_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("m.wasm");
        // The smallest core module: magic and version.
        std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
        let err = componentize(&module, &dir.path().join("out.wasm")).unwrap_err();
        assert!(format!("{err:#}").contains("no component type"), "{err:#}");
        std::fs::write(&module, b"not wasm").unwrap();
        assert!(componentize(&module, &dir.path().join("out.wasm")).is_err());
    }
}
