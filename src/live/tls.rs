//! Hot reload of a node's TLS files and the fresh handshake that proves what it serves.

use super::conn::{command_ok, parse_node, Creds};
use super::{Error, TIMEOUT};
use crate::core::inspect;
use crate::core::password::sha256_hex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Serialize)]
pub struct NodeResult {
    pub node: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presented_serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presented_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl NodeResult {
    /// A node that did not (yet) take the change, with why.
    pub fn failed(node: &str, error: Option<String>) -> NodeResult {
        NodeResult {
            node: node.into(),
            ok: false,
            presented_serial: None,
            presented_sha256: None,
            error,
        }
    }
}

/// A fresh TLS handshake: the end-entity certificate `node` presents (DER).
pub fn presented_certificate(node: &str, creds: &Creds) -> Result<Vec<u8>, Error> {
    let (host, port) = parse_node(node)?;
    let tls = Error::Tls;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&creds.ca_pem) {
        roots
            .add(c.map_err(|e| tls(format!("CA bundle: {e}")))?)
            .map_err(|e| tls(format!("CA bundle: {e}")))?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&creds.cert_pem)
        .filter_map(|c| c.ok())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(creds.key_pem.expose())
        .map_err(|e| tls(format!("admin key: {e}")))?;
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls(format!("admin certificate: {e}")))?;
    let name = ServerName::try_from(host.clone()).map_err(|e| tls(format!("{host}: {e}")))?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(cfg), name).map_err(|e| tls(e.to_string()))?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| tls(format!("{node}: {e}")))?
        .next()
        .ok_or_else(|| tls(format!("{node}: no address")))?;
    let mut sock =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| tls(format!("{node}: {e}")))?;
    sock.set_read_timeout(Some(TIMEOUT)).ok();
    sock.set_write_timeout(Some(TIMEOUT)).ok();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| tls(format!("TLS handshake with {node}: {e}")))?;
    }
    let der = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| tls(format!("{node} presented no certificate")))?;
    // Close politely; errors here do not matter.
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let _ = tls.flush();
    let _ = tls.read(&mut [0u8; 1]);
    Ok(der)
}

/// Waits, up to `timeout`, for `node` to present `expect_sha256` by itself (a server that
/// re-reads its certificate files, Valkey 9.1's `tls-auto-reload-interval`): no command is
/// sent, only fresh TLS handshakes with `creds`, every half second.
pub fn wait_for_certificate(
    node: &str,
    creds: &Creds,
    expect_sha256: &str,
    timeout: Duration,
) -> NodeResult {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let r = verify_presented(node, creds, expect_sha256, || {
            format!(
                "{node} still presents another certificate {} s after the change \
                 (it reloads its files by itself)",
                timeout.as_secs()
            )
        });
        if r.ok || std::time::Instant::now() >= deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A fresh handshake with `node`: ok when it presents `expect_sha256`, else the error
/// `stale` words (or the handshake's own error).
fn verify_presented(
    node: &str,
    creds: &Creds,
    expect_sha256: &str,
    stale: impl FnOnce() -> String,
) -> NodeResult {
    let mut r = NodeResult::failed(node, None);
    match presented_certificate(node, creds) {
        Ok(der) => {
            let fp = sha256_hex(&der);
            r.presented_serial = inspect::inspect(&der).ok().map(|i| i.serial);
            r.ok = fp == expect_sha256;
            r.error = (!r.ok).then(stale);
            r.presented_sha256 = Some(fp);
        }
        Err(e) => r.error = Some(e.to_string()),
    }
    r
}

/// Hot-reloads TLS files on one node: `CONFIG SET tls-cert-file .. tls-key-file ..
/// tls-ca-cert-file ..` through the renamed CONFIG command, then a fresh handshake must
/// present `expect_sha256`. `login` are the credentials valid before the change (tried first),
/// `after` those valid after it (used as a fallback and for the verifying handshake).
pub fn reload_tls(
    node: &str,
    config_cmd: &str,
    paths: [&str; 3],
    login: &Creds,
    after: &Creds,
    expect_sha256: &str,
) -> NodeResult {
    let args = [
        config_cmd,
        "SET",
        "tls-cert-file",
        paths[0],
        "tls-key-file",
        paths[1],
        "tls-ca-cert-file",
        paths[2],
    ];
    let res = command_ok(node, login, &args)
        .or_else(|first| command_ok(node, after, &args).map_err(|_| first));
    if let Err(e) = res {
        return NodeResult::failed(node, Some(e.to_string()));
    }
    verify_presented(node, after, expect_sha256, || {
        format!("{node} still presents another certificate after the reload")
    })
}

/// The files a node serves TLS from (`CONFIG GET tls-cert-file tls-key-file
/// tls-ca-cert-file` through the renamed CONFIG command): cert, key, CA bundle.
pub fn tls_files(node: &str, creds: &Creds, config_cmd: &str) -> Result<[String; 3], Error> {
    let keys = ["tls-cert-file", "tls-key-file", "tls-ca-cert-file"];
    let mut s = super::conn::Session::open(node, creds)?;
    let reply = s.run(&[config_cmd, "GET", keys[0], keys[1], keys[2]])?;
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let pairs: Vec<(String, String)> = match &reply {
        redis::Value::Array(items) => items
            .chunks(2)
            .filter_map(|p| Some((text(p.first()?)?, text(p.get(1)?)?)))
            .collect(),
        redis::Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        _ => vec![],
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::Unexpected {
                node: node.to_string(),
                command: "CONFIG GET".into(),
                reply: format!("no {k}"),
            })
    };
    Ok([get(keys[0])?, get(keys[1])?, get(keys[2])?])
}

/// Whether `node` is a Sentinel (`INFO server` says `redis_mode:sentinel`, Valkey 8 and newer
/// `server_mode:sentinel`): Sentinels cannot
/// reload TLS files at run time (redis#12028), so they are restarted instead.
pub fn is_sentinel(node: &str, creds: &Creds) -> bool {
    super::conn::command(node, creds, &["INFO", "server"]).is_ok_and(|info| {
        info.lines()
            .any(|l| matches!(l.trim(), "redis_mode:sentinel" | "server_mode:sentinel"))
    })
}
