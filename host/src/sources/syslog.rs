//! The `syslog` source: RFC 5424 and RFC 3164 messages over TCP (octet counting, RFC 6587,
//! or one message per line) or UDP (one per datagram). The message text becomes the line;
//! severity, facility, hostname and app name become labels (few values each, what one
//! queries by); process id, message id and structured data become metadata; an RFC 5424
//! timestamp becomes the record's (RFC 3164's has no year or zone: those records keep the
//! time they were read). A message without a `<PRI>` is kept whole as the line.
//!
//! With `tls` (TCP only), connections are TLS (RFC 5425; the API server's rustls setup,
//! `server::tls`, optionally requiring client certificates): a client that does not
//! complete a handshake (plain text, a certificate the CA did not sign) is refused, counted
//! and logged, and the others carry on. Both framings are accepted over TLS too, though RFC
//! 5425 asks senders for octet counting.
//!
//! Syslog has no acknowledgement: over TCP the source stops reading while the pipeline is
//! full (the sender's socket buffer fills, then it waits); over UDP, datagrams the kernel's
//! buffer cannot hold while the pipeline is full are lost by the kernel, as with any UDP
//! syslog receiver. Prefer TCP where loss matters.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use super::{
    default_max_line_bytes, BatchConfig, BuiltSource, LabelKey, LineBatcher, Source,
    SourceContext,
};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::config::ApiTlsConfig;
use crate::event::{label_set, Label};
use crate::telemetry::{events, ComponentMetrics};

/// The transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Tcp,
    Udp,
}

/// `type = "syslog"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSourceConfig {
    /// Where to listen (`127.0.0.1:5514`; binding port 514 needs privileges).
    pub address: String,
    #[serde(default = "tcp")]
    pub mode: Mode,
    /// Static labels for every record (a message's own labels of the same name win).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// TCP connections served at once; more wait in the kernel's accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// TLS for `mode = "tcp"` (RFC 5425): `{ crt_file, key_file, client_ca_file }`, PEM
    /// files relative to the config file, as `[api.tls]`; with `client_ca_file`, clients
    /// must present a certificate that CA signed.
    #[serde(default)]
    pub tls: Option<ApiTlsConfig>,
    /// The rustls config `check` built from `tls`.
    #[serde(skip)]
    tls_config: Option<Arc<rustls::ServerConfig>>,
}

fn tcp() -> Mode {
    Mode::Tcp
}
fn default_max_connections() -> usize {
    256
}

impl ComponentConfig<dyn Source> for SyslogSourceConfig {
    fn check(mut self, ctx: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        self.address
            .parse::<SocketAddr>()
            .map_err(|e| CheckError::at("address", format!("`{}`: {e}", self.address)))?;
        if self.max_connections == 0 {
            return Err(CheckError::at("max_connections", "must be at least 1").into());
        }
        if let Some(tls) = &self.tls {
            if self.mode != Mode::Tcp {
                return Err(CheckError::at("tls", "TLS needs `mode = \"tcp\"`").into());
            }
            let resolve = |p: &Path| ctx.resolve(p);
            let ca = tls.client_ca_file.as_deref().map(resolve);
            let config = crate::server::tls::server_config(
                &resolve(&tls.crt_file),
                &resolve(&tls.key_file),
                ca.as_deref(),
            )
            .map_err(|e| CheckError::at(&format!("tls.{}", e.key), e.message))?;
            // The API server's config offers HTTP/1.1 by ALPN; syslog offers nothing.
            let mut config = (*config).clone();
            config.alpn_protocols.clear();
            self.tls_config = Some(Arc::new(config));
        }
        Ok(Box::new(self))
    }
}

impl Source for SyslogSourceConfig {
    fn start(self: Box<Self>, ctx: SourceContext) -> BuiltSource {
        BuiltSource {
            task: Some(Box::pin(run(*self, ctx))),
            route: None,
        }
    }
}

/// One syslog message, parsed; fields borrow from the message text.
#[derive(Debug, Default, PartialEq)]
pub struct Message<'a> {
    pub facility: Option<&'static str>,
    pub severity: Option<&'static str>,
    pub timestamp: Option<i64>,
    pub hostname: Option<&'a str>,
    pub app_name: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    /// `(sd-id.param-name, value)`, values unescaped.
    pub structured: Vec<(String, String)>,
    pub text: &'a str,
}

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron", "local0", "local1",
    "local2", "local3", "local4", "local5", "local6", "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// `-` is RFC 5424's "no value".
fn value(field: &str) -> Option<&str> {
    (field != "-" && !field.is_empty()).then_some(field)
}

/// Parses one message (RFC 5424, else RFC 3164, else no header at all).
pub fn parse(text: &str) -> Message<'_> {
    let bare = Message {
        text,
        ..Message::default()
    };
    let Some(rest) = text.strip_prefix('<') else {
        return bare;
    };
    let Some(end) = rest.find('>').filter(|e| (1..=3).contains(e)) else {
        return bare;
    };
    let Ok(pri) = rest[..end].parse::<usize>() else {
        return bare;
    };
    if pri > 191 {
        return bare;
    }
    let mut m = Message {
        facility: Some(FACILITIES[pri / 8]),
        severity: Some(SEVERITIES[pri % 8]),
        ..bare
    };
    let rest = &rest[end + 1..];
    if let Some(rest) = rest.strip_prefix("1 ") {
        rfc5424(&mut m, rest);
    } else {
        rfc3164(&mut m, rest);
    }
    m
}

/// `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
fn rfc5424<'a>(m: &mut Message<'a>, rest: &'a str) {
    let mut fields = rest.splitn(6, ' ');
    let (Some(ts), Some(host), Some(app), Some(proc_id), Some(msgid), Some(tail)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        m.text = rest;
        return;
    };
    m.timestamp = value(ts).and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp_nanos() as i64)
    });
    m.hostname = value(host);
    m.app_name = value(app);
    m.procid = value(proc_id);
    m.msgid = value(msgid);
    let (structured, msg) = structured_data(tail);
    m.structured = structured;
    // A UTF-8 byte order mark may open the message.
    m.text = msg.strip_prefix('\u{feff}').unwrap_or(msg);
}

/// `-` or `[id param="value" ...]...`, then the message after one space.
fn structured_data(tail: &str) -> (Vec<(String, String)>, &str) {
    if let Some(msg) = tail.strip_prefix('-') {
        return (Vec::new(), msg.strip_prefix(' ').unwrap_or(msg));
    }
    let mut pairs = Vec::new();
    let bytes = tail.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        let id_end = tail[i..].find([' ', ']']).map(|e| i + e).unwrap_or(tail.len());
        let id = &tail[i + 1..id_end];
        i = id_end;
        loop {
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
            match bytes.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                None => return (pairs, ""),
                _ => {}
            }
            let Some(eq) = tail[i..].find('=').map(|e| i + e) else {
                return (pairs, "");
            };
            let name = &tail[i..eq];
            if bytes.get(eq + 1) != Some(&b'"') {
                return (pairs, "");
            }
            let mut value = String::new();
            let mut j = eq + 2;
            let mut closed = false;
            while let Some(c) = tail[j..].chars().next() {
                j += c.len_utf8();
                match c {
                    '\\' => {
                        if let Some(next) = tail[j..].chars().next() {
                            j += next.len_utf8();
                            value.push(next);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return (pairs, "");
            }
            pairs.push((format!("{id}.{name}"), value));
            i = j;
        }
    }
    let msg = &tail[i..];
    (pairs, msg.strip_prefix(' ').unwrap_or(msg))
}

/// `Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG` (the timestamp's year is unknown: skipped).
fn rfc3164<'a>(m: &mut Message<'a>, rest: &'a str) {
    let mut text = rest;
    // "Mmm dd hh:mm:ss " is 16 characters.
    // The first 16 bytes must be ASCII to be a timestamp (else byte 16 may fall inside a
    // character: a malformed message must not crash the source; found by tests/fuzz.rs).
    let has_time = rest.len() > 16
        && rest.as_bytes()[..16].is_ascii()
        && rest.as_bytes()[3] == b' '
        && rest.as_bytes()[9] == b':'
        && rest.as_bytes()[12] == b':';
    if has_time {
        text = &rest[16..];
        if let Some((host, after)) = text.split_once(' ') {
            // A tag is followed by `:` or `[`; a host is not.
            if !host.ends_with(':') && !host.contains('[') {
                m.hostname = Some(host);
                text = after;
            }
        }
    }
    let tag_end = text
        .find([':', '[', ' '])
        .unwrap_or(0);
    if tag_end > 0 && tag_end <= 48 {
        let tag = &text[..tag_end];
        let mut after = &text[tag_end..];
        if let Some(pid_rest) = after.strip_prefix('[') {
            if let Some((pid, more)) = pid_rest.split_once(']') {
                m.procid = Some(pid);
                after = more;
            }
        }
        if let Some(msg) = after.strip_prefix(':') {
            m.app_name = Some(tag);
            text = msg.strip_prefix(' ').unwrap_or(msg);
        }
    }
    m.text = text;
}

/// Reads messages until shutdown; each connection or datagram hands its raw messages here.
pub async fn run(config: SyslogSourceConfig, ctx: SourceContext) {
    let address: SocketAddr = match config.address.parse() {
        Ok(a) => a,
        Err(_) => return, // refused by check
    };
    // Connections hand over what they read in chunks of messages (one channel send per
    // chunk rather than per message): at most QUEUED_CHUNKS x CHUNK_MESSAGES wait here.
    let (tx, mut rx) = mpsc::channel::<Vec<Vec<u8>>>(QUEUED_CHUNKS);
    let listener = match config.mode {
        Mode::Tcp => tokio::spawn(serve_tcp(
            address,
            config.max_connections,
            config.tls_config.clone(),
            tx,
            (ctx.name.clone(), ctx.metrics.clone()),
        )),
        Mode::Udp => tokio::spawn(serve_udp(address, tx, (ctx.name.clone(), ctx.metrics.clone()))),
    };
    let mut batcher = LineBatcher::new(
        config.batch.clone(),
        config.max_line_bytes,
        ctx.metrics.clone(),
    );
    let statics = label_set(&config.labels);
    let mut keys: HashMap<Vec<Label>, LabelKey> = HashMap::new();
    loop {
        let wait = batcher.time_left().unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            chunk = rx.recv() => {
                let Some(chunk) = chunk else { break };
                batcher.mark_read_time();
                if !push_chunk(&mut batcher, &mut keys, &statics, &chunk, &ctx).await {
                    break;
                }
            }
            _ = tokio::time::sleep(wait), if !batcher.is_empty() => {
                if !super::send_batch(&mut batcher, &ctx).await {
                    break;
                }
            }
            _ = ctx.shutdown.cancelled() => break,
        }
    }
    listener.abort();
    // What arrived before the stop is sent.
    while let Ok(chunk) = rx.try_recv() {
        if !push_chunk(&mut batcher, &mut keys, &statics, &chunk, &ctx).await {
            return;
        }
    }
    super::send_batch(&mut batcher, &ctx).await;
}

/// Most messages in one chunk a connection hands over.
const CHUNK_MESSAGES: usize = 256;
/// Chunks waiting for the source's task.
const QUEUED_CHUNKS: usize = 16;

/// Adds a chunk's messages to the batch, sending each batch that fills; false when the
/// pipeline has stopped.
async fn push_chunk(
    batcher: &mut LineBatcher,
    keys: &mut HashMap<Vec<Label>, LabelKey>,
    statics: &[Label],
    chunk: &[Vec<u8>],
    ctx: &SourceContext,
) -> bool {
    for raw in chunk {
        if push_message(batcher, keys, statics, raw) && !super::send_batch(batcher, ctx).await {
            return false;
        }
    }
    true
}

/// Parses one raw message into the batch: its labels (registered once per distinct set),
/// metadata and timestamp. True when the batch is full.
fn push_message(
    batcher: &mut LineBatcher,
    keys: &mut HashMap<Vec<Label>, LabelKey>,
    statics: &[Label],
    raw: &[u8],
) -> bool {
    let line = batcher.repair(raw).into_owned();
    let m = parse(&line);
    let mut labels = statics.to_vec();
    for (name, v) in [
        ("severity", m.severity),
        ("facility", m.facility),
        ("hostname", m.hostname),
        ("app_name", m.app_name),
    ] {
        if let Some(v) = v {
            labels.retain(|(n, _)| n != name);
            labels.push((name.to_string(), v.to_string()));
        }
    }
    labels.sort();
    let key = match keys.get(&labels) {
        Some(k) => *k,
        None => {
            let k = batcher.register_labels(labels.clone());
            keys.insert(labels, k);
            k
        }
    };
    let mut metadata: Vec<(&str, &str)> = Vec::new();
    if let Some(p) = m.procid {
        metadata.push(("procid", p));
    }
    if let Some(id) = m.msgid {
        metadata.push(("msgid", id));
    }
    for (k, v) in &m.structured {
        metadata.push((k, v));
    }
    batcher.push_record(m.text, m.timestamp, key, &metadata)
}

/// Accepts TCP connections and reads framed messages from each.
async fn serve_tcp(
    address: SocketAddr,
    max_connections: usize,
    tls: Option<Arc<rustls::ServerConfig>>,
    tx: mpsc::Sender<Vec<Vec<u8>>>,
    (name, metrics): (String, ComponentMetrics),
) {
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(l) => l,
        Err(e) => {
            events::component_error(&metrics, "bind_failed", &format!("{address}: {e}"));
            return;
        }
    };
    tracing::info!(component_id = %name, %address, tls = tls.is_some(), "syslog: listening on TCP");
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        let metrics = metrics.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let read = match acceptor {
                None => read_framed(stream, &tx).await,
                Some(acceptor) => match crate::server::tls::handshake(&acceptor, stream).await {
                    Ok(tls) => read_framed(tls, &tx).await,
                    Err(e) => {
                        events::component_error(
                            &metrics,
                            "tls_handshake_failed",
                            &format!("{peer}: {e}"),
                        );
                        return;
                    }
                },
            };
            if let Err(e) = read {
                events::component_error(&metrics, "connection_failed", &format!("{peer}: {e}"));
            }
        });
    }
}

/// Messages of one TCP connection: octet-counted (`LEN SP MSG`) or one per line, told apart
/// message by message by whether it starts with a digit.
async fn read_framed(
    stream: impl AsyncRead + Unpin,
    tx: &mpsc::Sender<Vec<Vec<u8>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut chunk = Vec::new();
    loop {
        // Before a read that may wait for the network, what was read so far goes on.
        if !chunk.is_empty()
            && (chunk.len() >= CHUNK_MESSAGES || !holds_a_message(reader.buffer()))
            && tx.send(std::mem::take(&mut chunk)).await.is_err()
        {
            return Ok(());
        }
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            // A TLS client that closed without a close_notify, between messages: nothing
            // was cut, a close like any other.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(&first) = buf.first() else {
            return Ok(()); // closed
        };
        let message = if first.is_ascii_digit() {
            let mut len = Vec::new();
            reader.read_until(b' ', &mut len).await?;
            let n: usize = std::str::from_utf8(&len)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .filter(|n| *n <= 16 << 20)
                .ok_or_else(|| std::io::Error::other("bad octet count"))?;
            let mut message = vec![0; n];
            reader.read_exact(&mut message).await?;
            message
        } else {
            let mut line = Vec::new();
            reader.read_until(b'\n', &mut line).await?;
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r' || *b == 0) {
                line.pop();
            }
            if line.is_empty() {
                continue;
            }
            line
        };
        chunk.push(message);
    }
}

/// Whether `buffered` holds a whole message (octet-counted, or up to a newline), so that
/// reading it cannot wait for the network.
fn holds_a_message(buffered: &[u8]) -> bool {
    match buffered.first() {
        None => false,
        Some(b) if b.is_ascii_digit() => {
            let Some(space) = buffered.iter().position(|b| *b == b' ') else {
                return false;
            };
            std::str::from_utf8(&buffered[..space])
                .ok()
                .and_then(|t| t.parse::<usize>().ok())
                .is_some_and(|n| buffered.len() > space + n)
        }
        Some(_) => buffered.contains(&b'\n'),
    }
}

/// One message per UDP datagram.
async fn serve_udp(
    address: SocketAddr,
    tx: mpsc::Sender<Vec<Vec<u8>>>,
    (name, metrics): (String, ComponentMetrics),
) {
    let socket = match tokio::net::UdpSocket::bind(address).await {
        Ok(s) => s,
        Err(e) => {
            events::component_error(&metrics, "bind_failed", &format!("{address}: {e}"));
            return;
        }
    };
    tracing::info!(component_id = %name, %address, "syslog: listening on UDP");
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let Ok((n, _)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let mut message = buf[..n].to_vec();
        while message.last().is_some_and(|b| *b == b'\n' || *b == 0) {
            message.pop();
        }
        if tx.send(vec![message]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(dir: &std::path::Path, toml_text: &str) -> Result<(), CheckErrors> {
        crate::component::check_toml::<dyn Source, SyslogSourceConfig>("s", dir, toml_text)
            .map(drop)
    }

    #[test]
    fn tls_files_are_loaded_by_check_and_errors_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(dir.path().join("crt.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
        let base = "address = \"127.0.0.1:6514\"\n";
        check(
            dir.path(),
            &format!("{base}tls = {{ crt_file = \"crt.pem\", key_file = \"key.pem\" }}"),
        )
        .expect("relative PEM files resolved against the config's directory");
        let errors = check(
            dir.path(),
            &format!("{base}tls = {{ crt_file = \"crt.pem\", key_file = \"missing.pem\" }}"),
        )
        .unwrap_err();
        assert_eq!(errors.0[0].key, "tls.key_file");
        assert!(errors.0[0].message.contains("missing.pem"), "{errors:?}");
        let errors = check(
            dir.path(),
            &format!("{base}tls = {{ crt_file = \"key.pem\", key_file = \"key.pem\" }}"),
        )
        .unwrap_err();
        assert_eq!(errors.0[0].key, "tls.crt_file");
        let errors = check(
            dir.path(),
            &format!(
                "{base}mode = \"udp\"\ntls = {{ crt_file = \"crt.pem\", key_file = \"key.pem\" }}"
            ),
        )
        .unwrap_err();
        assert_eq!(errors.0[0].key, "tls");
    }

    #[test]
    fn a_buffered_message_is_told_whole_or_partial() {
        assert!(holds_a_message(b"<13>1 - - - - - - x\n<13>1 - -"));
        assert!(!holds_a_message(b"<13>1 - - - - - - x"));
        assert!(holds_a_message(b"5 hello6 more"));
        assert!(!holds_a_message(b"5 hell"));
        assert!(!holds_a_message(b"12"));
        assert!(!holds_a_message(b""));
    }

    #[test]
    fn a_timestamp_cut_inside_a_character_is_not_a_crash() {
        // Found by tests/fuzz.rs: byte 16 fell inside a multi-byte character.
        let m = parse("<13>Feb  5 17:32:1\u{fffd}\u{2b3}E8 10.0.0.99 myapp[123]: Use the BFG!");
        assert!(m.text.contains("BFG"));
    }

    #[test]
    fn rfc5424_with_structured_data_and_a_bom() {
        let m = parse(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
             [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][x@1 q=\"a\\\"b\"] \u{feff}An application event",
        );
        assert_eq!(m.facility, Some("local4"));
        assert_eq!(m.severity, Some("notice"));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("evntslog"));
        assert_eq!(m.procid, None);
        assert_eq!(m.msgid, Some("ID47"));
        assert_eq!(m.timestamp, Some(1_065_910_455_003_000_000));
        assert_eq!(
            m.structured,
            [
                ("exampleSDID@32473.iut".to_string(), "3".to_string()),
                ("exampleSDID@32473.eventSource".into(), "Application".into()),
                ("exampleSDID@32473.eventID".into(), "1011".into()),
                ("x@1.q".into(), "a\"b".into()),
            ]
        );
        assert_eq!(m.text, "An application event");
    }

    #[test]
    fn rfc5424_without_structured_data_and_with_an_offset() {
        let m = parse("<34>1 2003-10-11T22:14:15+02:00 host su 77 - - 'su root' failed");
        assert_eq!((m.facility, m.severity), (Some("auth"), Some("crit")));
        assert_eq!(m.procid, Some("77"));
        assert_eq!(m.timestamp, Some(1_065_903_255_000_000_000));
        assert_eq!(m.text, "'su root' failed");
    }

    #[test]
    fn rfc3164_and_no_header() {
        let m = parse("<13>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick");
        assert_eq!((m.facility, m.severity), (Some("user"), Some("notice")));
        assert_eq!(m.hostname, Some("mymachine"));
        assert_eq!(m.app_name, Some("su"));
        assert_eq!(m.procid, Some("230"));
        assert_eq!(m.timestamp, None);
        assert_eq!(m.text, "'su root' failed for lonvick");
        let m = parse("<13>app: no timestamp");
        assert_eq!((m.app_name, m.text), (Some("app"), "no timestamp"));
        let m = parse("plain text <13>");
        assert_eq!((m.severity, m.text), (None, "plain text <13>"));
        assert_eq!(parse("<999>x").severity, None);
    }
}
