//! CPU time of the calling thread, for the per-transform `plugin_cpu_seconds` metric: how
//! much CPU a plugin costs, apart from the rest of the pipeline (the benchmark compares it
//! with the same plugin built natively).

/// CPU seconds the calling thread has used so far (user and system); 0 where the platform
/// has no per-thread clock.
pub fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel
    // knows. On failure `ts` stays zero.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_thread_clock_moves_with_work() {
        let before = super::thread_cpu_seconds();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        let used = super::thread_cpu_seconds() - before;
        assert!(used > 0.0 && used < 5.0, "{used}");
    }
}
