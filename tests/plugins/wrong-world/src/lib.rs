//! wrong-world: a component that does not match the contract.
//!
//! It exists to prove that the host refuses, at load time and with a clear message, a
//! component whose exports have the right names but the wrong types: here `process` takes
//! and returns a plain string instead of a `log-batch`. `sluice validate` must name the
//! transform's `plugin` key and say the component does not implement the world.

wit_bindgen::generate!({
    inline: r#"
        package sluice:plugin@0.1.0;

        world log-transform {
            export init: func(config: string) -> result<_, string>;
            export process: func(batch: string) -> result<string, string>;
        }
    "#,
});

struct WrongWorld;

impl Guest for WrongWorld {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn process(batch: String) -> Result<String, String> {
        Ok(batch)
    }
}

export!(WrongWorld);
