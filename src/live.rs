//! Talking to running Redis nodes: hot-reloading TLS files through the renamed CONFIG command
//! and checking, by a fresh handshake, which certificate a node now presents.
//!
//! Credentials come from the bundle (admin certificate, key and password held in memory),
//! never from argv or the environment.

use crate::core::inspect;
use crate::core::password::sha256_hex;
use crate::core::secret::Secret;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// What a client needs to log in to a node as the admin user.
#[derive(Clone)]
pub struct Creds {
    pub user: String,
    /// None for a user that logs in by certificate alone (`tls-auth-clients-user CN`).
    pub password: Option<Secret>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Secret,
    /// PEM of every CA the client should trust.
    pub ca_pem: Vec<u8>,
}

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

/// Splits `HOST:PORT` (`[::1]:6379` for IPv6).
pub fn parse_node(s: &str) -> Result<(String, u16), String> {
    let (h, p) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}` is not HOST:PORT"))?;
    let port: u16 = p
        .parse()
        .map_err(|_| format!("`{s}`: `{p}` is not a port"))?;
    let host = h.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(format!("`{s}` is not HOST:PORT"));
    }
    Ok((host.to_string(), port))
}

fn client(host: &str, port: u16, c: &Creds) -> redis::RedisResult<redis::Connection> {
    use redis::IntoConnectionInfo;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let info = redis::ConnectionAddr::TcpTls {
        host: host.to_string(),
        port,
        insecure: false,
        tls_params: None,
    }
    .into_connection_info()?;
    // A certificate-identity admin is logged in by its certificate during the handshake; no
    // AUTH is sent.
    let info = match &c.password {
        Some(pw) => info.set_redis_settings(
            redis::RedisConnectionInfo::default()
                .set_username(&c.user)
                .set_password(pw.expose_str()),
        ),
        None => info,
    };
    let certs = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: c.cert_pem.clone(),
            client_key: c.key_pem.expose().to_vec(),
        }),
        root_cert: Some(c.ca_pem.clone()),
    };
    let cl = redis::Client::build_with_tls(info, certs)?;
    cl.get_connection_with_timeout(TIMEOUT)
}

/// Connects as admin and runs one command; returns the reply as text.
pub fn command(node: &str, creds: &Creds, args: &[&str]) -> Result<String, String> {
    let (host, port) = parse_node(node)?;
    let mut con = client(&host, port, creds)
        .map_err(|e| format!("cannot log in to {node} as `{}`: {e}", creds.user))?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let v: redis::Value = cmd.query(&mut con).map_err(|e| {
        format!(
            "{node} refused `{}`: {e}",
            args[0].split('_').next().unwrap_or(args[0])
        )
    })?;
    Ok(match v {
        redis::Value::Okay => "OK".into(),
        redis::Value::SimpleString(s) => s,
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

/// A fresh TLS handshake: the end-entity certificate `node` presents (DER).
pub fn presented_certificate(node: &str, creds: &Creds) -> Result<Vec<u8>, String> {
    let (host, port) = parse_node(node)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&creds.ca_pem) {
        roots
            .add(c.map_err(|e| format!("CA bundle: {e}"))?)
            .map_err(|e| format!("CA bundle: {e}"))?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&creds.cert_pem)
        .filter_map(|c| c.ok())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(creds.key_pem.expose())
        .map_err(|e| format!("admin key: {e}"))?;
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("admin certificate: {e}"))?;
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).map_err(|e| e.to_string())?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("{node}: {e}"))?
        .next()
        .ok_or_else(|| format!("{node}: no address"))?;
    let mut sock =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{node}: {e}"))?;
    sock.set_read_timeout(Some(TIMEOUT)).ok();
    sock.set_write_timeout(Some(TIMEOUT)).ok();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| format!("TLS handshake with {node}: {e}"))?;
    }
    let der = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| format!("{node} presented no certificate"))?;
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
        Err(e) => r.error = Some(e),
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
    let res =
        command(node, login, &args).or_else(|first| command(node, after, &args).map_err(|_| first));
    match res {
        Ok(s) if s == "OK" => {}
        Ok(s) => {
            return NodeResult::failed(node, Some(format!("{node} answered `{s}` to CONFIG SET")))
        }
        Err(e) => return NodeResult::failed(node, Some(e)),
    }
    verify_presented(node, after, expect_sha256, || {
        format!("{node} still presents another certificate after the reload")
    })
}

/// The Redis-compatible server on PATH, as its `--version` says: `redis-server`, else
/// `valkey-server`. Returns the target, the full version and the binary's name. Each probe
/// runs with an empty environment (only PATH) and is killed after 5 s.
pub fn detect_server() -> Option<(crate::core::server::Target, String, &'static str)> {
    ["redis-server", "valkey-server"]
        .into_iter()
        .find_map(|bin| {
            let text = version_of(bin)?;
            crate::core::server::parse_version_output(&text).map(|(t, v)| (t, v, bin))
        })
}

fn version_of(bin: &str) -> Option<String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .arg("--version")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(4096)
        .read_to_string(&mut out)
        .ok()?;
    Some(out)
}
