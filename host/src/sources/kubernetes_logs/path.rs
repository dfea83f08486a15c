//! A kubelet log path -> the pod and container it belongs to:
//! `<pods_dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log` (namespace and pod names
//! are DNS names, so they never hold a `_`; a static pod's uid is a hash, same shape), or a
//! file the kubelet rotated: `<restart>.log.<YYYYMMDD-hhmmss>` (not its `.gz`, nor the
//! `.tmp` it compresses into).

use std::path::Path;

/// Where a container's log file says it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPath {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
    /// A rotated file (`0.log.20261207-101010`), not the live one.
    pub rotated: bool,
}

/// Parses the last three components of `path` (None: not a kubelet pod log path).
pub fn parse(path: &Path) -> Option<PodPath> {
    let mut parts = path.iter().rev();
    let file = parts.next()?.to_str()?;
    let container = parts.next()?.to_str()?;
    let pod_dir = parts.next()?.to_str()?;
    // `0.log`, `3.log` (the container's restart count), `0.log.20261207-101010`.
    let (live, stamp) = match file.split_once(".log.") {
        Some((restart, stamp)) => (format!("{restart}.log"), Some(stamp)),
        None => (file.to_string(), None),
    };
    if stamp.is_some_and(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'-')) {
        return None;
    }
    let restart = live.strip_suffix(".log")?;
    if restart.is_empty() || !restart.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut fields = pod_dir.splitn(3, '_');
    let (namespace, pod, uid) = (fields.next()?, fields.next()?, fields.next()?);
    if [namespace, pod, uid, container].iter().any(|f| f.is_empty()) || uid.contains('_') {
        return None;
    }
    Some(PodPath {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        uid: uid.to_string(),
        container: container.to_string(),
        rotated: stamp.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubelet_path_names_namespace_pod_uid_and_container() {
        let p = parse(Path::new(
            "/var/log/pods/shop_checkout-7d9f8b6c5-x2x4z_0c2b0f7e-3f1a-4c55-9f0e-1b2c3d4e5f60/app/3.log",
        ))
        .unwrap();
        assert_eq!(p.namespace, "shop");
        assert_eq!(p.pod, "checkout-7d9f8b6c5-x2x4z");
        assert_eq!(p.uid, "0c2b0f7e-3f1a-4c55-9f0e-1b2c3d4e5f60");
        assert_eq!(p.container, "app");
        assert!(!p.rotated);
        let rotated = parse(Path::new("/var/log/pods/shop_checkout_uid/app/0.log.20261207-101010")).unwrap();
        assert!(rotated.rotated);
        assert_eq!(rotated.container, "app");
    }

    #[test]
    fn other_paths_are_not_pod_logs() {
        for path in [
            "/var/log/pods/shop_checkout_uid/app/0.log.20261207-101010.gz",
            "/var/log/pods/shop_checkout_uid/app/0.log.20261207-101010.tmp",
            "/var/log/pods/shop_checkout_uid/app/0.log.",
            "/var/log/pods/shop_checkout/app/0.log",
            "/var/log/pods/shop_checkout_uid/app/x.log",
            "/var/log/pods/shop_checkout_u_id/app/0.log",
            "0.log",
            "/var/log/pods/_checkout_uid/app/0.log",
        ] {
            assert_eq!(parse(Path::new(path)), None, "{path}");
        }
    }
}
