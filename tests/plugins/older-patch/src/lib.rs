//! older-patch: a plugin built for the contract as it was at `sluice:plugin@0.1.0`.
//!
//! It exists to prove that raising the contract's patch version keeps older plugins
//! working: wit/sluice.wit here is a frozen copy of the 0.1.0 contract (not to be edited),
//! its imports are named `sluice:plugin/host@0.1.0`, and the collector must link and run it.
//! It returns every batch as it came, lines included (the only form 0.1.0 knew), after
//! logging one message at `init` so the host import is really used.

// The generated bindings have functions of many arguments (the flattened batch).
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "wit/sluice.wit",
    world: "log-transform",
});

use sluice::plugin::host::log;
use sluice::plugin::types::Level;

struct OlderPatch;

impl Guest for OlderPatch {
    fn init(_config: String) -> Result<(), String> {
        log(Level::Info, "older-patch: built for sluice:plugin@0.1.0");
        Ok(())
    }

    fn process(batch: LogBatch) -> Result<LogBatch, String> {
        Ok(batch)
    }
}

export!(OlderPatch);
