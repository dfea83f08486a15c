//! identity: returns every batch unchanged.
//!
//! It exists to measure the cost of the plugin boundary itself (copying the columns into
//! the guest and back): `process` does no work, and since nothing is edited the SDK
//! rebuilds no column. Config: none (any table is accepted and ignored).

/// The identity plugin: no state, no work.
pub struct Identity;

impl sluice_plugin::Plugin for Identity {
    fn init(_config: sluice_plugin::Config) -> Result<Self, String> {
        Ok(Identity)
    }

    fn process(&mut self, _batch: &mut sluice_plugin::Batch) -> Result<(), String> {
        Ok(())
    }
}

sluice_plugin::export_plugin!(Identity);
