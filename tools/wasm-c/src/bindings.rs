//! wit-bindgen's C generator, used as a library: the same files `wit-bindgen c` writes.

use std::path::Path;

use anyhow::{Context, Result};
use wit_bindgen_core::Files;
use wit_parser::Resolve;

/// Writes the C bindings of `world` in the WIT at `wit` into `out`, and lists them.
pub fn write(wit: &Path, world: &str, out: &Path) -> Result<()> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(wit)
        .with_context(|| format!("reading WIT from {}", wit.display()))?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .with_context(|| format!("finding world `{world}` in {}", wit.display()))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world_id, &mut files)
        .with_context(|| format!("generating C bindings of `{world}`"))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        // Rewriting identical files would make every C plugin rebuild on each run.
        if std::fs::read(&path).is_ok_and(|old| old == contents) {
            continue;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}
