//! `sluice-wasm-c`: the two steps of building a C sluice plugin that need the component
//! model, done with the crates.io libraries so no extra toolchain is downloaded.
//!
//! - `bindings`: wit-bindgen's C output for a world (`log_transform.h`, `.c` and
//!   `_component_type.o`), to compile with clang for `wasm32-wasi`;
//! - `component`: turns the core module clang linked into a component (wit-component),
//!   adding the WASI preview1 reactor adapter when the module imports
//!   `wasi_snapshot_preview1`.
//!
//! `make plugins-c` runs both (docs/plugins.md, "C").

mod bindings;
mod component;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "sluice-wasm-c", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes wit-bindgen's C bindings of a world into a directory.
    Bindings {
        /// WIT file or directory.
        #[arg(long, default_value = "wit")]
        wit: PathBuf,
        /// World to generate (a name or `package/world`).
        #[arg(long, default_value = "log-transform")]
        world: String,
        /// Directory to write the `.h`, `.c` and `_component_type.o` into (created).
        #[arg(long)]
        out: PathBuf,
    },
    /// Turns a core module built with those bindings into a component.
    Component {
        /// The core module (clang's output).
        module: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Bindings { wit, world, out } => bindings::write(&wit, &world, &out),
        Command::Component { module, output } => component::write(&module, &output),
    }
}
