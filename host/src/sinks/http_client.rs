//! What the HTTP sinks (`loki`, `prometheus_remote_write`) share about their client: the
//! `auth` and `tls` tables, building a `reqwest` client with the CA file and user agent,
//! the `Authorization` header, the endpoint check and Retry-After parsing. Each sink keeps
//! its own request and what a status means for it.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::Deserialize;

/// `[sinks.NAME.auth]`: credentials for the receiver (or the gateway in front of it). Use
/// `${ENV}` or `${file:PATH}` for the secrets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAuth {
    /// Basic auth user (with `password`).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Bearer token.
    #[serde(default)]
    pub bearer_token: Option<String>,
}

/// `[sinks.NAME.tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTls {
    /// PEM file of a CA to trust besides the built-in roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Why a sink's HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read tls.ca_file `{0}`: {1}")]
    CaFile(String, std::io::Error),
    #[error("tls.ca_file `{0}` is not a PEM certificate: {1}")]
    CaPem(String, String),
    #[error("auth: {0}")]
    Auth(&'static str),
    #[error("cannot build the HTTP client: {0}")]
    Build(reqwest::Error),
    #[error("endpoint `{0}` is not an http(s) URL with a host")]
    Endpoint(String),
    #[error("header `{0}`: {1}")]
    Header(String, &'static str),
}

impl ClientError {
    /// The key of `[sinks.NAME]` the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            ClientError::CaFile(..) | ClientError::CaPem(..) => "tls.ca_file",
            ClientError::Auth(_) => "auth",
            ClientError::Build(_) => "",
            ClientError::Endpoint(_) => "endpoint",
            ClientError::Header(..) => "headers",
        }
    }
}

/// The user agent every sink sends.
pub const USER_AGENT: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));

/// A client builder with the timeouts, the user agent and `tls.ca_file` set.
pub fn client_builder(
    tls: &HttpTls,
    timeout: Duration,
    idle_per_host: usize,
) -> Result<reqwest::ClientBuilder, ClientError> {
    let timeout = timeout.max(Duration::from_secs(1));
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(USER_AGENT)
        .pool_max_idle_per_host(idle_per_host.max(1));
    if let Some(ca) = &tls.ca_file {
        let shown = ca.display().to_string();
        let pem = std::fs::read(ca).map_err(|e| ClientError::CaFile(shown.clone(), e))?;
        // `from_pem` defers parsing to the TLS backend, which skips what it cannot read:
        // parse the bundle here so a file that holds no certificate fails now.
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ClientError::CaPem(shown.clone(), e.to_string()))?;
        if certs.is_empty() {
            return Err(ClientError::CaPem(shown, "no certificate in it".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

/// Adds the `Authorization` header `auth` asks for (marked sensitive, so it is never
/// printed) to `headers`.
pub fn add_authorization(auth: &HttpAuth, headers: &mut HeaderMap) -> Result<(), ClientError> {
    let authorization = match (&auth.user, &auth.password, &auth.bearer_token) {
        (Some(_), _, Some(_)) => {
            return Err(ClientError::Auth(
                "set either user/password or bearer_token",
            ))
        }
        (Some(user), password, None) => Some(basic_auth(user, password.as_deref()).into_bytes()),
        (None, Some(_), _) => return Err(ClientError::Auth("password without user")),
        (None, None, Some(token)) => Some(format!("Bearer {token}").into_bytes()),
        (None, None, None) => None,
    };
    if let Some(value) = authorization {
        let mut value = HeaderValue::from_bytes(&value).map_err(|_| {
            ClientError::Auth("credentials contain characters not allowed in a header")
        })?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Ok(())
}

/// Checks that `endpoint` is an http(s) URL with a host.
pub fn check_endpoint(endpoint: &str) -> Result<reqwest::Url, ClientError> {
    reqwest::Url::parse(endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| ClientError::Endpoint(endpoint.to_string()))
}

/// The `Authorization` value for basic auth.
fn basic_auth(user: &str, password: Option<&str>) -> String {
    use base64::Engine;
    let pair = format!("{user}:{}", password.unwrap_or(""));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A Retry-After value: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn basic_auth_is_base64() {
        assert_eq!(
            basic_auth("Aladdin", Some("open sesame")),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn endpoints_need_an_http_scheme_and_a_host() {
        assert!(check_endpoint("http://prom:9090/api/v1/write").is_ok());
        assert!(check_endpoint("prom:9090").is_err());
        assert!(check_endpoint("http://").is_err());
        assert!(check_endpoint("ftp://x/").is_err());
    }
}

/// What one request of a sink got.
#[derive(Debug)]
pub enum Answer {
    /// No answer: `timeout` or `connection` (always worth a retry).
    NoAnswer(&'static str),
    /// A 2xx.
    Success,
    /// Another status, with its `Retry-After` and the start of its body (512 bytes at most).
    Refused {
        status: reqwest::StatusCode,
        retry_after: Option<Duration>,
        message: String,
    },
}

/// Sends `request`, counting it and its duration in the sink's request metrics by status
/// (`error` when there was no answer); `what` names the request in the debug log.
pub async fn send(
    request: reqwest::RequestBuilder,
    metrics: &crate::telemetry::ComponentMetrics,
    what: &str,
) -> Answer {
    let started = std::time::Instant::now();
    let response = request.send().await;
    let elapsed = started.elapsed().as_secs_f64();
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            metrics.sink_request("error", elapsed);
            tracing::debug!(component_id = %metrics.id, error = %e, "{what} failed");
            return Answer::NoAnswer(if e.is_timeout() {
                "timeout"
            } else {
                "connection"
            });
        }
    };
    let status = response.status();
    metrics.sink_request(status.as_str(), elapsed);
    if status.is_success() {
        return Answer::Success;
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let message = match response.text().await {
        Ok(text) => crate::event::prefix_within(text.trim(), 512).to_string(),
        Err(_) => String::new(),
    };
    Answer::Refused {
        status,
        retry_after,
        message,
    }
}
