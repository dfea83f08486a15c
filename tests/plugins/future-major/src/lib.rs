//! future-major: a plugin built for a contract major version this collector does not know.
//!
//! It exists to prove that the host refuses, at load time and with a message naming both
//! versions, a component built against `sluice:plugin@1.0.0` (this collector implements
//! 0.x): the version check runs before linking, so the author learns why rather than
//! reading a linker error about a missing `sluice:plugin/host@1.0.0`.

wit_bindgen::generate!({
    inline: r#"
        package sluice:plugin@1.0.0;

        interface host {
            log: func(message: string);
        }

        world log-transform {
            import host;
            export init: func(config: string) -> result<_, string>;
            export process: func(batch: string) -> result<string, string>;
        }
    "#,
});

struct FutureMajor;

impl Guest for FutureMajor {
    fn init(config: String) -> Result<(), String> {
        sluice::plugin::host::log(&config);
        Ok(())
    }

    fn process(batch: String) -> Result<String, String> {
        Ok(batch)
    }
}

export!(FutureMajor);
