//! bad-loop: a deliberately broken plugin that never returns.
//!
//! It exists to prove containment: when any line of a batch contains `LOOP`, `process`
//! spins forever (through `black_box` and a volatile write, so the optimiser cannot remove
//! the loop), and the host's per-call time limit (epoch interruption) must stop it, fail
//! only that batch and replace the instance. Batches without `LOOP` pass through
//! unchanged. Config: none.

/// The looping plugin.
pub struct BadLoop;

impl sluice_plugin::Plugin for BadLoop {
    fn init(_config: sluice_plugin::Config) -> Result<Self, String> {
        Ok(BadLoop)
    }

    fn process(&mut self, batch: &mut sluice_plugin::Batch) -> Result<(), String> {
        if batch.iter().any(|r| r.line().contains("LOOP")) {
            spin();
        }
        Ok(())
    }
}

fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = core::hint::black_box(counter.wrapping_add(1));
        // SAFETY: `counter` is a live local; the volatile write only defeats optimisation.
        unsafe { core::ptr::write_volatile(&mut counter, counter) };
    }
}

sluice_plugin::export_plugin!(BadLoop);
