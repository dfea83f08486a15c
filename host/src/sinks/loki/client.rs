//! One HTTP request to Loki and what its answer means for the entries in it: delivered,
//! retry later (and when), split and resend (400/413), or refused for good.

use std::io::Write;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::StatusCode;

use super::config::{LokiCompression, LokiEncoding, LokiSinkConfig};
use crate::loki::encoded::{self, EncodedStream};
pub use crate::sinks::http_client::ClientError;
use crate::sinks::http_client::{self, Answer, add_authorization, check_endpoint, client_builder};
use crate::loki::{json, PUSH_PATH};
use crate::telemetry::ComponentMetrics;

/// What one push request came to.
#[derive(Debug)]
pub enum Outcome {
    Delivered,
    /// Try again later: 429, 5xx, no connection, timeout. `after` is Loki's Retry-After.
    Retry {
        reason: &'static str,
        after: Option<Duration>,
    },
    /// 400 or 413: some entries are bad (or the body is too big); split and resend.
    Split {
        status: u16,
        message: String,
    },
    /// Any other answer (401, 403, 404, ...): resending will not help.
    Refused {
        status: u16,
        message: String,
    },
}

/// The buffer a lane keeps between requests for the compressor's output (see
/// [`LokiClient::body`]).
#[derive(Default)]
pub struct BodyScratch {
    compressed: Vec<u8>,
}

/// The push endpoint with its headers, TLS and timeout set up once.
pub struct LokiClient {
    http: reqwest::Client,
    url: String,
    encoding: LokiEncoding,
    compression: LokiCompression,
    headers: HeaderMap,
    tenant_id: Option<String>,
}

/// The URL to POST to: `endpoint` plus the push path unless it already ends with it.
pub fn push_url(endpoint: &str) -> Result<String, ClientError> {
    check_endpoint(endpoint)?;
    let base = endpoint.trim_end_matches('/');
    let url = if base.ends_with(PUSH_PATH) {
        base.to_string()
    } else {
        format!("{base}{PUSH_PATH}")
    };
    Ok(url)
}

impl LokiClient {
    pub fn new(config: &LokiSinkConfig) -> Result<LokiClient, ClientError> {
        let builder = client_builder(
            &config.tls,
            Duration::from_secs(config.timeout_secs),
            config.max_in_flight,
        )?;
        let mut headers = HeaderMap::new();
        add_authorization(&config.auth, &mut headers)?;
        let content_type = match config.encoding {
            LokiEncoding::Protobuf => "application/x-protobuf",
            LokiEncoding::Json => "application/json",
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if config.encoding == LokiEncoding::Json && config.compression == LokiCompression::Gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Ok(LokiClient {
            http: builder.build().map_err(ClientError::Build)?,
            url: push_url(&config.endpoint)?,
            encoding: config.encoding,
            compression: config.compression,
            headers,
            tenant_id: config.tenant_id.clone(),
        })
    }

    /// The request body for `streams` in the configured encoding. `scratch` keeps the
    /// compressor's output buffer between requests, so its memory is reused instead of
    /// freshly allocated (and zeroed, and faulted in) for each one.
    pub fn body(&self, streams: &[EncodedStream], scratch: &mut BodyScratch) -> bytes::Bytes {
        match self.encoding {
            LokiEncoding::Protobuf => {
                let n = encoded::compress_request(streams, &mut scratch.compressed);
                bytes::Bytes::copy_from_slice(&scratch.compressed[..n])
            }
            LokiEncoding::Json => {
                let request = encoded::decoded_request(streams);
                let text = json::encode(&request).expect("the sink writes valid stream labels");
                match self.compression {
                    LokiCompression::None => text.into(),
                    LokiCompression::Gzip => {
                        let mut gz = flate2::write::GzEncoder::new(
                            Vec::with_capacity(text.len() / 4),
                            flate2::Compression::fast(),
                        );
                        gz.write_all(&text).expect("writing to a Vec cannot fail");
                        gz.finish().expect("writing to a Vec cannot fail").into()
                    }
                }
            }
        }
    }

    /// POSTs `body` for `tenant` (or the static tenant) and classifies the answer.
    pub async fn push(
        &self,
        tenant: Option<&str>,
        body: bytes::Bytes,
        metrics: &ComponentMetrics,
    ) -> Outcome {
        let mut request = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body);
        if let Some(t) = tenant.or(self.tenant_id.as_deref()) {
            request = request.header("X-Scope-OrgID", t);
        }
        match http_client::send(request, metrics, "push").await {
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

fn classify(status: StatusCode, after: Option<Duration>, message: String) -> Outcome {
    let code = status.as_u16();
    match code {
        // Loki's per-stream limit names the stream: "Per stream rate limit exceeded ...".
        429 if message.to_ascii_lowercase().contains("stream rate limit") => Outcome::Retry {
            reason: "stream_rate_limit",
            after,
        },
        429 => Outcome::Retry {
            reason: "429",
            after,
        },
        500..=599 => Outcome::Retry {
            reason: "5xx",
            after,
        },
        400 | 413 => Outcome::Split {
            status: code,
            message,
        },
        _ => Outcome::Refused {
            status: code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_url_adds_the_path_once() {
        assert_eq!(
            push_url("http://loki:3100").unwrap(),
            "http://loki:3100/loki/api/v1/push"
        );
        assert_eq!(
            push_url("https://x/loki/api/v1/push/").unwrap(),
            "https://x/loki/api/v1/push"
        );
        assert!(push_url("loki:3100").is_err());
    }

    #[test]
    fn statuses_map_to_what_to_do() {
        let c = |code| classify(StatusCode::from_u16(code).unwrap(), None, String::new());
        assert!(matches!(c(429), Outcome::Retry { reason: "429", .. }));
        assert!(matches!(c(503), Outcome::Retry { reason: "5xx", .. }));
        assert!(matches!(c(400), Outcome::Split { status: 400, .. }));
        assert!(matches!(c(413), Outcome::Split { status: 413, .. }));
        assert!(matches!(c(401), Outcome::Refused { status: 401, .. }));
    }
}
