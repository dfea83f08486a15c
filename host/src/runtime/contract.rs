//! Which version of the plugin contract (`package sluice:plugin@X.Y.Z` in `wit/sluice.wit`)
//! a component was built for, read from the names of its imports and exports
//! (`sluice:plugin/host@0.1.2`), and whether this collector can run it.
//!
//! The rule (the WIT file's own "Versioning" note): minor versions only add, so a plugin
//! built for the same major version (the first number) and a version not newer than the
//! host's works; any other version is refused at load with both versions named.
//!
//! When the contract's minor version is raised, the host must keep linking the older
//! minors' interface names: wasmtime's linker matches `1.2.0` imports to `1.3.0`
//! definitions by itself, but treats `0.y` versions as incompatible with each other, so
//! while the contract is `0.y` the previous names need to be added to the linker.

use std::fmt;

use wasmtime::component::Component;
use wasmtime::Engine;

/// The contract package's name, without version.
pub const PACKAGE: &str = "sluice:plugin";

/// A `major.minor.patch` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    /// Parses `1.2.3` (pre-release and build suffixes are not used by this contract and are
    /// refused).
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let v = Version {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The contract version this collector implements, from `wit/sluice.wit`.
pub fn host_version() -> Version {
    static WIT: &str = include_str!("../../../wit/sluice.wit");
    let declared = WIT
        .lines()
        .find_map(|l| l.trim().strip_prefix("package sluice:plugin@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .and_then(Version::parse);
    declared.expect("wit/sluice.wit declares `package sluice:plugin@X.Y.Z;`")
}

/// What a component says about the contract.
#[derive(Debug, Clone)]
pub struct ContractInfo {
    /// The contract version its `sluice:plugin/...` imports and exports name; None when
    /// it names none (then it cannot be a log-transform plugin).
    pub version: Option<Version>,
    /// Every import name (interfaces and functions), in order.
    pub imports: Vec<String>,
    /// Every export name, in order.
    pub exports: Vec<String>,
}

/// Reads the import and export names of `component`. A component naming two different
/// contract versions is refused.
pub fn inspect(engine: &Engine, component: &Component) -> Result<ContractInfo, String> {
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let mut version: Option<(Version, &str)> = None;
    for name in imports.iter().chain(&exports) {
        let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let Some((_, v)) = rest.split_once('@') else {
            return Err(format!(
                "`{name}` names the {PACKAGE} contract without a version"
            ));
        };
        let v = Version::parse(v).ok_or_else(|| format!("`{name}`: bad version `{v}`"))?;
        match version {
            Some((first, first_name)) if first != v => {
                return Err(format!(
                    "it names two contract versions: `{first_name}` and `{name}`"
                ))
            }
            Some(_) => {}
            None => version = Some((v, name)),
        }
    }
    Ok(ContractInfo {
        version: version.map(|(v, _)| v),
        imports,
        exports,
    })
}

/// Ok when a plugin built for contract `plugin` runs on a host of contract `host`; else
/// why not, naming both versions.
pub fn compatible(plugin: Version, host: Version) -> Result<(), String> {
    if plugin.major != host.major {
        return Err(format!(
            "it was built for {PACKAGE}@{plugin} (major version {}), but this collector \
             implements {PACKAGE}@{host} (major version {}); rebuild the plugin against the \
             collector's wit/sluice.wit",
            plugin.major, host.major
        ));
    }
    if plugin > host {
        return Err(format!(
            "it was built for {PACKAGE}@{plugin}, newer than this collector's \
             {PACKAGE}@{host}; upgrade the collector or rebuild the plugin against \
             {PACKAGE}@{host}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn host_version_is_the_wit_package() {
        assert_eq!(host_version(), v("0.1.4"));
    }

    #[test]
    fn same_major_not_newer_is_compatible() {
        assert!(compatible(v("0.1.0"), v("0.1.0")).is_ok());
        assert!(compatible(v("0.1.0"), v("0.1.4")).is_ok());
        assert!(compatible(v("0.0.9"), v("0.1.0")).is_ok());
        assert!(compatible(v("1.0.0"), v("1.3.0")).is_ok());
        assert!(compatible(v("1.2.9"), v("1.3.0")).is_ok());
    }

    #[test]
    fn other_major_or_newer_is_refused_naming_both() {
        let e = compatible(v("1.0.0"), v("0.1.0")).unwrap_err();
        assert!(
            e.contains("sluice:plugin@1.0.0") && e.contains("sluice:plugin@0.1.0"),
            "{e}"
        );
        assert!(
            e.contains("major version 1") && e.contains("major version 0"),
            "{e}"
        );
        assert!(compatible(v("0.2.0"), v("0.1.0"))
            .unwrap_err()
            .contains("newer"));
        assert!(compatible(v("1.0.0"), v("2.0.0")).is_err());
        let e = compatible(v("1.4.0"), v("1.3.0")).unwrap_err();
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn parses_versions() {
        assert_eq!(v("10.2.3").to_string(), "10.2.3");
        assert!(Version::parse("1.2").is_none());
        assert!(Version::parse("1.2.3.4").is_none());
        assert!(Version::parse("1.2.x").is_none());
    }
}
