//! One remote-write request and what its answer means for the samples in it, the way
//! Prometheus's own remote-write client reads it: 2xx delivered; 5xx, 429, timeouts and
//! connection errors retried later (after Retry-After when the receiver gives one); any
//! other 4xx refused for good, with the receiver's message kept for the log.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::StatusCode;

use super::config::RemoteWriteSinkConfig;
use crate::sinks::http_client::{self, Answer, 
    add_authorization, check_endpoint, client_builder, ClientError,
};
use crate::telemetry::ComponentMetrics;

/// Headers the sink sets itself, which `headers` may not override (`tenant_id` sets
/// `X-Scope-OrgID`; both together are refused).
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "x-prometheus-remote-write-version",
    "user-agent",
    "authorization",
];

/// What one request came to.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Try again later: 429, 5xx, no connection, timeout. `after` is the Retry-After.
    Retry {
        reason: &'static str,
        after: Option<Duration>,
    },
    /// Any other answer (400, 401, 404, ...): resending will not help. `reason` is the
    /// discard reason its samples are counted under.
    Rejected {
        status: u16,
        reason: &'static str,
        message: String,
    },
}

/// The write endpoint with its headers, TLS and timeout set up once.
pub struct RemoteWriteClient {
    http: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
}

impl RemoteWriteClient {
    pub fn new(config: &RemoteWriteSinkConfig) -> Result<RemoteWriteClient, ClientError> {
        let url = check_endpoint(&config.endpoint)?;
        let builder = client_builder(
            &config.tls,
            Duration::from_secs(config.request_timeout_secs),
            1,
        )?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(ClientError::Header(
                    name.clone(),
                    "set by the sink itself (credentials go in `auth`)",
                ));
            }
            if lower == "x-scope-orgid" && config.tenant_id.is_some() {
                return Err(ClientError::Header(
                    name.clone(),
                    "set either this header or tenant_id",
                ));
            }
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ClientError::Header(name.clone(), "not a valid header name"))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                ClientError::Header(name.clone(), "value has characters not allowed in a header")
            })?;
            // Extra headers often carry API keys: never print them.
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        if let Some(tenant) = &config.tenant_id {
            let value = HeaderValue::from_str(tenant).map_err(|_| {
                ClientError::Header(
                    "X-Scope-OrgID".into(),
                    "tenant_id has characters not allowed in a header",
                )
            })?;
            headers.insert(HeaderName::from_static("x-scope-orgid"), value);
        }
        add_authorization(&config.auth, &mut headers)?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static("0.1.0"),
        );
        Ok(RemoteWriteClient {
            http: builder.build().map_err(ClientError::Build)?,
            url,
            headers,
        })
    }

    /// POSTs `body` (a snappy-compressed `WriteRequest`) and classifies the answer.
    pub async fn send(&self, body: bytes::Bytes, metrics: &ComponentMetrics) -> Outcome {
        let request = self
            .http
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body);
        match http_client::send(request, metrics, "remote write").await {
            Answer::NoAnswer(reason) => Outcome::Retry {
                reason,
                after: None,
            },
            Answer::Success => Outcome::Delivered,
            Answer::Refused {
                status,
                retry_after,
                message,
            } => classify(status, retry_after, message),
        }
    }
}

/// What an answer other than 2xx means.
fn classify(status: StatusCode, after: Option<Duration>, message: String) -> Outcome {
    let code = status.as_u16();
    match code {
        429 => Outcome::Retry {
            reason: "429",
            after,
        },
        500..=599 => Outcome::Retry {
            reason: "5xx",
            after,
        },
        _ => Outcome::Rejected {
            status: code,
            reason: rejection_reason(code, &message),
            message,
        },
    }
}

/// The discard reason of a refused request. Prometheus refuses a whole request with 400
/// when one of its samples is out of order, a duplicate with another value, or older than
/// its head block ("out of bounds"); these are common (a restarted sender, two senders of
/// one series), so each has its own reason.
fn rejection_reason(status: u16, message: &str) -> &'static str {
    let message = message.to_ascii_lowercase();
    if message.contains("out of order") {
        "out_of_order"
    } else if message.contains("duplicate sample") {
        "duplicate_sample"
    } else if message.contains("out of bounds") || message.contains("too old") {
        "out_of_bounds"
    } else if matches!(status, 400 | 422) {
        "rejected"
    } else {
        // 401, 403, 404, 413, ...: the endpoint, credentials or tenant are wrong.
        "refused"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_what_to_do() {
        let c = |code, message: &str| {
            classify(
                StatusCode::from_u16(code).unwrap(),
                None,
                message.to_string(),
            )
        };
        assert!(matches!(c(429, ""), Outcome::Retry { reason: "429", .. }));
        assert!(matches!(c(503, ""), Outcome::Retry { reason: "5xx", .. }));
        assert!(matches!(c(500, ""), Outcome::Retry { reason: "5xx", .. }));
        let reason = |code, message| match c(code, message) {
            Outcome::Rejected { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(400, "out of order sample"), "out_of_order");
        assert_eq!(
            reason(400, "duplicate sample for timestamp"),
            "duplicate_sample"
        );
        assert_eq!(reason(400, "out of bounds"), "out_of_bounds");
        assert_eq!(reason(400, "bad proto"), "rejected");
        assert_eq!(reason(401, "no"), "refused");
        assert_eq!(reason(404, ""), "refused");
    }
}
