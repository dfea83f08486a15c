//! bad-trap: a deliberately broken plugin that traps.
//!
//! It exists to prove containment: when any line of a batch contains `TRAP`, `process`
//! executes a WebAssembly `unreachable` instruction, and the host must fail only that batch
//! (applying the transform's `on_error` policy), replace the instance and keep running.
//! Batches without `TRAP` pass through unchanged.
//!
//! Config: `echo` (optional string): logged through the host's `log` import at init and on
//! every batch, as a careless plugin might log a credential it was given; the host must
//! scrub substituted secrets from it.

/// The trapping plugin.
pub struct BadTrap {
    echo: Option<String>,
}

impl sluice_plugin::Plugin for BadTrap {
    fn init(config: sluice_plugin::Config) -> Result<Self, String> {
        let echo = config
            .get("echo")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        if let Some(text) = &echo {
            sluice_plugin::log(
                sluice_plugin::Level::Warn,
                &format!("init with echo={text}"),
            );
        }
        Ok(BadTrap { echo })
    }

    fn process(&mut self, batch: &mut sluice_plugin::Batch) -> Result<(), String> {
        if let Some(text) = &self.echo {
            sluice_plugin::log(
                sluice_plugin::Level::Info,
                &format!("batch with echo={text}"),
            );
        }
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
