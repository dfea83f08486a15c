//! TLS for the API server (`[api.tls]`): a rustls server config from PEM files (a
//! certificate chain and its key; with `client_ca_file`, mutual TLS: clients must present a
//! certificate that CA signed), and a listener that takes TCP connections and hands the
//! server only those whose handshake succeeded. Handshakes run on their own tasks with a
//! deadline, so a slow or broken client never holds up the others. The `syslog` source's
//! `tls` uses the same config and [`handshake`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Which key of `[api.tls]` is at fault, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    pub key: &'static str,
    pub message: String,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server config for `crt_file` and `key_file` (PEM), and `client_ca_file` for mutual
/// TLS.
pub fn server_config(
    crt_file: &Path,
    key_file: &Path,
    client_ca_file: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let at = |key: &'static str| move |message: String| TlsError { key, message };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(crt_file)
        .and_then(|i| i.collect())
        .map_err(|e| {
            format!(
                "cannot read certificates from `{}`: {e}",
                crt_file.display()
            )
        })
        .map_err(at("crt_file"))?;
    if certs.is_empty() {
        return Err(at("crt_file")(format!(
            "`{}` holds no PEM certificate",
            crt_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| {
            format!(
                "cannot read a private key from `{}`: {e}",
                key_file.display()
            )
        })
        .map_err(at("key_file"))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| at("crt_file")(e.to_string()))?;
    let builder = match client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                .and_then(|i| i.collect())
                .map_err(|e| format!("cannot read certificates from `{}`: {e}", ca.display()))
                .map_err(at("client_ca_file"))?;
            for cert in cas {
                roots
                    .add(cert)
                    .map_err(|e| at("client_ca_file")(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(at("client_ca_file")(format!(
                    "`{}` holds no PEM certificate",
                    ca.display()
                )));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| at("client_ca_file")(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| at("key_file")(format!("the key does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server side of one connection's handshake, within [`HANDSHAKE_DEADLINE`] (a
/// timeout is an error of kind `TimedOut`). The API listener and the `syslog` source's TLS
/// mode use it.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> std::io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the TLS handshake timed out",
            ))
        })
}

/// A listener whose connections are TLS streams past their handshake.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

/// Takes TCP connections from `tcp` and shakes hands with each on its own task.
pub fn listen(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<TlsListener> {
    let local = tcp.local_addr()?;
    let (tx, ready) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                _ = tx.closed() => return,
                accepted = tcp.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "API server: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match handshake(&acceptor, stream).await {
                    Ok(tls) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Err(e) => {
                        tracing::warn!(peer = %peer, error = %e, "API server: TLS handshake refused")
                    }
                }
            });
        }
    });
    Ok(TlsListener { ready, local })
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The acceptor task ended (it does not while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
