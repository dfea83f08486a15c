//! W3C trace context for the demo: read an incoming `traceparent`, make ids, and format the
//! header for an outgoing call (a child span of the server span).

/// The trace a request belongs to and the span that handles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// This server span's id: 16 lowercase hex digits.
    pub span_id: String,
    /// The caller's span id, when a `traceparent` came in.
    pub parent_span_id: Option<String>,
}

fn hex_id(bytes: usize) -> String {
    loop {
        let id: String = (0..bytes)
            .map(|_| format!("{:02x}", fastrand::u8(..)))
            .collect();
        if id.bytes().any(|b| b != b'0') {
            return id;
        }
    }
}

/// A new span id (16 hex).
pub fn new_span_id() -> String {
    hex_id(8)
}

/// A new trace id (32 hex).
pub fn new_trace_id() -> String {
    hex_id(16)
}

/// The trace id and parent span id of a valid version-00 `traceparent`.
pub fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let [version, trace, span, flags] = parts.as_slice() else {
        return None;
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    (*version == "00"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && nonzero(trace)
        && nonzero(span))
    .then(|| (trace.to_string(), span.to_string()))
}

impl TraceContext {
    /// The context of a request that came with `traceparent` (or none): the same trace, a
    /// new span.
    pub fn for_request(traceparent: Option<&str>) -> TraceContext {
        match traceparent.and_then(parse_traceparent) {
            Some((trace_id, parent)) => TraceContext {
                trace_id,
                span_id: new_span_id(),
                parent_span_id: Some(parent),
            },
            None => TraceContext {
                trace_id: new_trace_id(),
                span_id: new_span_id(),
                parent_span_id: None,
            },
        }
    }

    /// This span as a `traceparent` (sampled).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_traceparents_keep_their_trace() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::for_request(Some(tp));
        assert_eq!(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(ctx.span_id.len(), 16);
        assert_ne!(ctx.span_id, "00f067aa0ba902b7");
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
        ] {
            let ctx = TraceContext::for_request(Some(bad));
            assert!(ctx.parent_span_id.is_none(), "{bad}");
            assert_eq!(ctx.trace_id.len(), 32);
        }
        assert!(parse_traceparent(&ctx_tp()).is_some());
    }

    fn ctx_tp() -> String {
        TraceContext::for_request(None).traceparent()
    }
}
