//! bad-oom: a deliberately broken plugin that allocates without bound.
//!
//! It exists to prove containment: when any line of a batch contains `OOM`, `process`
//! keeps allocating 1 MiB chunks and touching every page of each (so the memory is really
//! committed), until the host's per-instance memory limit refuses to grow linear memory
//! and the instance traps. The host must fail only that batch and replace the instance.
//! A line containing `HUGE` asks for one allocation of 2 GiB - 1 bytes (the largest a
//! wasm32 `Vec` may be), which the memory limit refuses in one step. Batches without `OOM`
//! or `HUGE` pass through unchanged. Config: none.

/// The memory-hungry plugin.
pub struct BadOom;

impl sluice_plugin::Plugin for BadOom {
    fn init(_config: sluice_plugin::Config) -> Result<Self, String> {
        Ok(BadOom)
    }

    fn process(&mut self, batch: &mut sluice_plugin::Batch) -> Result<(), String> {
        if batch.iter().any(|r| r.line().contains("HUGE")) {
            let huge: Vec<u8> = Vec::with_capacity((1usize << 31) - 1);
            core::hint::black_box(huge);
        }
        if batch.iter().any(|r| r.line().contains("OOM")) {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = vec![0u8; 1 << 20];
                for page in chunk.iter_mut().step_by(4096) {
                    *page = 1;
                }
                hoard.push(core::hint::black_box(chunk));
            }
        }
        Ok(())
    }
}

sluice_plugin::export_plugin!(BadOom);
