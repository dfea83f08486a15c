//! bad-trap: a deliberately broken plugin that traps.
//!
//! It exists to prove containment: when any line of a batch contains `TRAP`, `process`
//! executes a WebAssembly `unreachable` instruction, and the host must fail only that batch
//! (applying the transform's `on_error` policy), replace the instance and keep running.
//! Batches without `TRAP` pass through unchanged. Config: none.

/// The trapping plugin.
pub struct BadTrap;

impl sluice_plugin::Plugin for BadTrap {
    fn init(_config: sluice_plugin::Config) -> Result<Self, String> {
        Ok(BadTrap)
    }

    fn process(&mut self, batch: &mut sluice_plugin::Batch) -> Result<(), String> {
        if batch.iter().any(|r| r.line().contains("TRAP")) {
            trap();
        }
        Ok(())
    }
}

fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("TRAP");
}

sluice_plugin::export_plugin!(BadTrap);
