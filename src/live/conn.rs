//! Logging in to one node as the admin and running one command.

use super::{Error, TIMEOUT};
use crate::core::secret::Secret;

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

/// Splits `HOST:PORT` (`[::1]:6379` for IPv6).
pub fn parse_node(s: &str) -> Result<(String, u16), Error> {
    let (h, p) = s
        .rsplit_once(':')
        .ok_or_else(|| Error::Address(format!("`{s}` is not HOST:PORT")))?;
    let port: u16 = p
        .parse()
        .map_err(|_| Error::Address(format!("`{s}`: `{p}` is not a port")))?;
    let host = h.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(Error::Address(format!("`{s}` is not HOST:PORT")));
    }
    Ok((host.to_string(), port))
}

/// A `redis` crate connection to `host:port` over TLS, trusting `c.ca_pem`, with hostname
/// verification on and `c`'s client certificate; logged in as `c.user` with its password, or
/// by the certificate alone when `c.password` is None. The one TLS client of the crate (the
/// integration tests use it too).
pub fn connect(host: &str, port: u16, c: &Creds) -> redis::RedisResult<redis::Connection> {
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

/// `command` for a command whose only success is `OK` (`ACL SETUSER`, `CONFIG SET`, ...):
/// any other reply is `Error::Unexpected`, naming the command by its public words.
pub fn command_ok(node: &str, creds: &Creds, args: &[&str]) -> Result<(), Error> {
    match command(node, creds, args)? {
        r if r == "OK" => Ok(()),
        reply => Err(Error::Unexpected {
            node: node.to_string(),
            command: public_name(args),
            reply,
        }),
    }
}

/// The first two words of a command as an operator may see them: a renamed command by its
/// public prefix (`CONFIG_…` → `CONFIG`), never its secret name; no argument beyond the
/// subcommand (it may be a password).
fn public_name(args: &[&str]) -> String {
    let first = args[0].split('_').next().unwrap_or(args[0]);
    match args.get(1) {
        Some(sub) => format!("{first} {sub}"),
        None => first.to_string(),
    }
}

/// One logged-in connection to a node as the admin: the commands of one change share it.
pub(super) struct Session<'a> {
    pub(super) node: &'a str,
    con: redis::Connection,
}

impl<'a> Session<'a> {
    pub(super) fn open(node: &'a str, creds: &Creds) -> Result<Self, Error> {
        let (host, port) = parse_node(node)?;
        let con = connect(&host, port, creds).map_err(|e| Error::Login {
            node: node.to_string(),
            user: creds.user.clone(),
            detail: e.to_string(),
        })?;
        Ok(Session { node, con })
    }

    /// Runs one command; an error names it by `public_name` (never a secret renamed command,
    /// never an argument that may be a password).
    pub(super) fn run(&mut self, args: &[&str]) -> Result<redis::Value, Error> {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut self.con).map_err(|e| Error::Refused {
            node: self.node.to_string(),
            command: public_name(args),
            detail: redact(&e.to_string(), args),
        })
    }
}

/// A server's error text with the command's secret words taken out: Redis quotes an unknown
/// command by its name (`unknown command 'CONFIG_x7…'`, the secret rename) and echoes its
/// first arguments, which may be a password or a hash.
fn redact(detail: &str, args: &[&str]) -> String {
    let mut d = detail.to_string();
    let public = args[0].split('_').next().unwrap_or(args[0]);
    if public != args[0] {
        d = d.replace(args[0], &format!("{public}_…"));
    }
    for a in args.iter().skip(2).filter(|a| a.len() >= 8) {
        d = d.replace(a, "…");
    }
    d
}

/// Connects as admin and runs one command; returns the reply as text.
pub fn command(node: &str, creds: &Creds, args: &[&str]) -> Result<String, Error> {
    Ok(match Session::open(node, creds)?.run(args)? {
        redis::Value::Okay => "OK".into(),
        redis::Value::SimpleString(s) => s,
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_never_carry_a_renamed_command_or_an_argument() {
        let d = super::redact(
            "ResponseError: unknown command 'CONFIG_j70ji0inujnfv4de7im397sse8', with args beginning with: 'GET' 'tls-cert-file' '>s3cretpassword1'",
            &["CONFIG_j70ji0inujnfv4de7im397sse8", "GET", "tls-cert-file", ">s3cretpassword1"],
        );
        assert!(!d.contains("j70ji0") && !d.contains("s3cret"), "{d}");
        assert!(d.contains("unknown command 'CONFIG_…'"), "{d}");
    }
}
