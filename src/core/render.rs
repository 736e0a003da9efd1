//! Renders `users.acl` and `redis.conf` from the templates in `templates/`, compiled into the
//! binary. Strict undefined variables: a template that names a value the code does not provide
//! fails instead of writing an empty string into a security rule. Every value has been
//! validated (see `validate`) before it gets here; the rendered ACL is checked again line by line.

use super::spec::{Role, Spec, UserSpec};
use minijinja::{context, Environment, UndefinedBehavior};
use serde::Serialize;

pub const USERS_ACL_TEMPLATE: &str = include_str!("../../templates/users.acl");
pub const REDIS_CONF_TEMPLATE: &str = include_str!("../../templates/redis.conf");
pub const SENTINEL_CONF_TEMPLATE: &str = include_str!("../../templates/sentinel.conf");

/// An environment holding only the template about to be rendered: compiling a template
/// costs more than rendering it, so each render compiles just the one it needs.
fn env(name: &'static str, source: &'static str) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(false);
    env.add_template(name, source)
        .unwrap_or_else(|e| panic!("{name} template compiles: {e}"));
    env
}

#[derive(Serialize)]
struct AclUser<'a> {
    name: &'a str,
    role: &'a str,
    hashes: &'a [String],
    keys: Vec<String>,
    channels: Vec<String>,
    commands: &'a [String],
}

/// One user as it goes into users.acl: its spec and the SHA-256 hashes of its passwords
/// (two while a rotation is in progress).
pub struct AclEntry<'a> {
    pub user: &'a UserSpec,
    pub hashes: Vec<String>,
}

/// Renders users.acl. Fails if a rendered line is not the single `user NAME ...` line the
/// renderer intended (defence in depth against a template or validation slip).
pub fn users_acl(entries: &[AclEntry<'_>]) -> Result<String, String> {
    let users: Vec<AclUser<'_>> = entries
        .iter()
        .map(|e| AclUser {
            name: &e.user.name,
            role: match e.user.role {
                Role::Admin => "admin",
                Role::App => "app",
                Role::Monitor => "monitor",
                Role::Custom => "custom",
                Role::Replication => "replication",
                Role::Sentinel => "sentinel",
            },
            hashes: &e.hashes,
            keys: e.user.key_patterns(),
            channels: e.user.channel_patterns(),
            commands: &e.user.commands,
        })
        .collect();
    for e in entries {
        if e.hashes.is_empty() || !e.hashes.iter().all(|h| super::password::is_acl_hash(h)) {
            return Err(format!("user `{}` has no valid password hash", e.user.name));
        }
    }
    let out = env("users.acl", USERS_ACL_TEMPLATE)
        .get_template("users.acl")
        .and_then(|t| t.render(context! { users => users }))
        .map_err(|e| format!("rendering users.acl: {e:#}"))?;
    check_acl(&out, entries.len())?;
    Ok(out)
}

/// Structural check of a rendered ACL file: one `user default off` line, then one line per
/// user, no comments, no plaintext passwords, no `nopass`.
pub fn check_acl(text: &str, users: usize) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != users + 1 {
        return Err(format!(
            "users.acl has {} rule lines, expected {}",
            lines.len(),
            users + 1
        ));
    }
    if !lines[0].starts_with("user default off ") {
        return Err("users.acl does not start with `user default off`".into());
    }
    for l in &lines {
        let toks: Vec<&str> = l.split_ascii_whitespace().collect();
        if toks.first() != Some(&"user") {
            return Err(format!("users.acl line does not start with `user`: {l}"));
        }
        if toks
            .iter()
            .skip(2)
            .any(|t| t.starts_with('>') || *t == "nopass")
        {
            return Err(format!(
                "users.acl would hold a plaintext password or nopass for `{}`",
                toks[1]
            ));
        }
    }
    Ok(())
}

#[derive(Serialize)]
pub struct Rename {
    pub from: String,
    pub to: String,
}

/// Absolute paths as Redis will see them (on the host, or inside a container).
pub struct ConfPaths {
    pub tls_cert_file: String,
    pub tls_key_file: String,
    pub tls_ca_cert_file: String,
    pub aclfile: String,
}

/// What differs between the nodes of a topology.
#[derive(Default)]
pub struct NodeConf {
    pub port: u16,
    /// `HOST PORT` of the primary, for a replica.
    pub replicaof: Option<String>,
    pub cluster: bool,
    pub cluster_config_file: Option<String>,
    /// Absolute path of the 0600 file with `masteruser`/`masterauth`.
    pub masterauth_file: Option<String>,
}

impl NodeConf {
    pub fn standalone(spec: &Spec) -> Self {
        NodeConf {
            port: spec.port,
            ..Default::default()
        }
    }
}

pub fn redis_conf(
    spec: &Spec,
    paths: &ConfPaths,
    node: &NodeConf,
    renames: &[Rename],
    generated_at: &str,
) -> Result<String, String> {
    for p in [
        &paths.tls_cert_file,
        &paths.tls_key_file,
        &paths.tls_ca_cert_file,
        &paths.aclfile,
    ]
    .into_iter()
    .chain(node.masterauth_file.as_ref())
    {
        super::validate::conf_path(p)?;
    }
    env("redis.conf", REDIS_CONF_TEMPLATE)
        .get_template("redis.conf")
        .and_then(|t| {
            t.render(context! {
                version => env!("CARGO_PKG_VERSION"),
                generated_at => generated_at,
                port => node.port,
                bind => spec.bind,
                cluster => node.cluster,
                cluster_config_file => node.cluster_config_file,
                replicaof => node.replicaof,
                masterauth_file => node.masterauth_file,
                maxclients => spec.maxclients,
                timeout => spec.timeout,
                tls_cert_file => paths.tls_cert_file,
                tls_key_file => paths.tls_key_file,
                tls_ca_cert_file => paths.tls_ca_cert_file,
                aclfile => paths.aclfile,
                renames => renames,
                no_persistence => spec.no_persistence,
                data_dir => spec.data_dir,
            })
        })
        .map_err(|e| format!("rendering redis.conf: {e:#}"))
}

/// `masteruser`/`masterauth` for every node of a replicated topology (included by each
/// node's config; 0600).
pub fn masterauth_conf(user: &str, password: &str) -> Result<String, String> {
    if !password.chars().all(|c| c.is_ascii_alphanumeric()) || password.is_empty() {
        return Err("the replication password must be letters and digits".into());
    }
    Ok(format!(
        "# Written by provision: the replication user replicas log in to their primary with.\nmasteruser {user}\nmasterauth \"{password}\"\n"
    ))
}

/// One Sentinel's config: what it watches, how it logs in, and its own users.
pub struct SentinelConf<'a> {
    pub name: &'a str,
    pub port: u16,
    pub master_name: &'a str,
    pub primary_host: &'a str,
    pub primary_port: u16,
    pub quorum: u32,
    pub down_after_ms: u32,
    pub auth_user: &'a str,
    pub auth_pass: &'a str,
}

/// The ACL rules a Sentinel applies to its own clients: admins and the sentinel user (other
/// Sentinels) may do anything; app users may ask where the primary is and follow failovers;
/// monitor users may read state. Other roles have no business with Sentinel.
pub fn sentinel_acl(entries: &[AclEntry<'_>]) -> Result<Vec<String>, String> {
    let mut v = vec!["user default off resetpass resetkeys resetchannels -@all".to_string()];
    for e in entries {
        let rules = match e.user.role {
            Role::Admin | Role::Sentinel => "~* &* +@all",
            Role::App => "resetkeys resetchannels &* -@all +ping +sentinel|get-master-addr-by-name +sentinel|master +sentinel|replicas +sentinel|sentinels +subscribe +psubscribe +unsubscribe +punsubscribe",
            Role::Monitor => "resetkeys resetchannels -@all +ping +info +sentinel|masters +sentinel|master +sentinel|replicas +sentinel|sentinels +sentinel|ckquorum",
            Role::Custom | Role::Replication => continue,
        };
        if e.hashes.is_empty() || !e.hashes.iter().all(|h| super::password::is_acl_hash(h)) {
            return Err(format!("user `{}` has no valid password hash", e.user.name));
        }
        let hashes: Vec<String> = e.hashes.iter().map(|h| format!("#{h}")).collect();
        v.push(format!(
            "user {} on {} {rules}",
            e.user.name,
            hashes.join(" ")
        ));
    }
    Ok(v)
}

pub fn sentinel_conf(
    spec: &Spec,
    paths: &ConfPaths,
    s: &SentinelConf<'_>,
    renames: &[Rename],
    acl: &[String],
    generated_at: &str,
) -> Result<String, String> {
    for p in [
        &paths.tls_cert_file,
        &paths.tls_key_file,
        &paths.tls_ca_cert_file,
    ] {
        super::validate::conf_path(p)?;
    }
    let renames: Vec<&Rename> = renames.iter().filter(|r| !r.to.is_empty()).collect();
    env("sentinel.conf", SENTINEL_CONF_TEMPLATE)
        .get_template("sentinel.conf")
        .and_then(|t| {
            t.render(context! {
                version => env!("CARGO_PKG_VERSION"),
                generated_at => generated_at,
                name => s.name,
                port => s.port,
                bind => spec.bind,
                tls_cert_file => paths.tls_cert_file,
                tls_key_file => paths.tls_key_file,
                tls_ca_cert_file => paths.tls_ca_cert_file,
                master_name => s.master_name,
                primary_host => s.primary_host,
                primary_port => s.primary_port,
                quorum => s.quorum,
                down_after_ms => s.down_after_ms,
                failover_timeout_ms => (s.down_after_ms as u64 * 6).max(10_000),
                auth_user => s.auth_user,
                auth_pass => s.auth_pass,
                renames => renames,
                acl => acl,
            })
        })
        .map_err(|e| format!("rendering sentinel.conf: {e:#}"))
}

/// `renamed-commands`: one `ORIGINAL NEWNAME` per line (`ORIGINAL ""` when disabled).
pub fn rename_map(renames: &[Rename]) -> String {
    let mut s = String::new();
    for r in renames {
        let to = if r.to.is_empty() {
            "\"\""
        } else {
            r.to.as_str()
        };
        s.push_str(&format!("{} {}\n", r.from, to));
    }
    s
}

/// Parses `renamed-commands` back.
pub fn parse_rename_map(text: &str) -> Result<Vec<Rename>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_ascii_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some(f), Some(t), None) => Ok(Rename {
                    from: f.to_string(),
                    to: if t == "\"\"" {
                        String::new()
                    } else {
                        t.to_string()
                    },
                }),
                _ => Err(format!("malformed line in renamed-commands: `{l}`")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::password::sha256_hex;
    use crate::core::spec::default_users;

    fn paths() -> ConfPaths {
        ConfPaths {
            tls_cert_file: "/s/redis.crt".into(),
            tls_key_file: "/s/redis.key".into(),
            tls_ca_cert_file: "/s/ca.crt".into(),
            aclfile: "/s/users.acl".into(),
        }
    }

    #[test]
    fn acl_for_default_users() {
        let users = default_users();
        let entries: Vec<_> = users
            .iter()
            .map(|u| AclEntry {
                user: u,
                hashes: vec![sha256_hex(u.name.as_bytes())],
            })
            .collect();
        let acl = users_acl(&entries).unwrap();
        let lines: Vec<&str> = acl.lines().collect();
        assert_eq!(lines.len(), 4, "{acl}");
        assert_eq!(
            lines[0],
            "user default off resetpass resetkeys resetchannels -@all"
        );
        assert_eq!(
            lines[1],
            format!("user admin on #{} ~* &* +@all", sha256_hex(b"admin"))
        );
        assert!(lines[2].starts_with(&format!(
            "user app on #{} resetkeys ~* resetchannels &* -@all +@read",
            sha256_hex(b"app")
        )));
        assert!(lines[2].ends_with("+@connection -@dangerous -@admin -@scripting"));
        assert!(lines[3].ends_with(
            "resetkeys resetchannels -@all +ping +info +client|list +slowlog|get +latency|latest"
        ));
        assert!(!acl.contains('>'));
        assert!(!acl.lines().any(|l| l.trim_start().starts_with('#')));
    }

    #[test]
    fn acl_with_patterns_two_hashes_and_custom_user() {
        let mut app = UserSpec::new("ja4proxy", Role::App);
        app.keys = Some(vec!["ja4:*".into(), "rate:*".into()]);
        app.channels = Some(vec![]);
        let mut ro = UserSpec::new("reader", Role::Custom);
        ro.commands = vec!["+get".into(), "+@connection".into()];
        ro.keys = Some(vec!["cache:*".into()]);
        let admin = UserSpec::new("admin", Role::Admin);
        let (h1, h2) = (sha256_hex(b"1"), sha256_hex(b"2"));
        let acl = users_acl(&[
            AclEntry {
                user: &admin,
                hashes: vec![h1.clone()],
            },
            AclEntry {
                user: &app,
                hashes: vec![h1.clone(), h2.clone()],
            },
            AclEntry {
                user: &ro,
                hashes: vec![h2.clone()],
            },
        ])
        .unwrap();
        assert!(
            acl.contains(&format!(
                "user ja4proxy on #{h1} #{h2} resetkeys ~ja4:* ~rate:* resetchannels -@all"
            )),
            "{acl}"
        );
        assert!(acl.contains(&format!("user reader on #{h2} resetkeys ~cache:* resetchannels &* -@all +get +@connection\n")), "{acl}");
    }

    #[test]
    fn acl_refuses_missing_or_bad_hash() {
        let u = UserSpec::new("admin", Role::Admin);
        assert!(users_acl(&[AclEntry {
            user: &u,
            hashes: vec![]
        }])
        .is_err());
        assert!(users_acl(&[AclEntry {
            user: &u,
            hashes: vec!["nothex".into()]
        }])
        .is_err());
    }

    #[test]
    fn conf_renders_every_option() {
        let renames = vec![
            Rename {
                from: "CONFIG".into(),
                to: "CONFIG_abc".into(),
            },
            Rename {
                from: "KEYS".into(),
                to: String::new(),
            },
        ];
        for (no_persist, data_dir) in [(false, None), (true, Some("/data".to_string()))] {
            let spec = Spec {
                no_persistence: no_persist,
                data_dir: data_dir.clone(),
                ..Spec::default()
            };
            let c = redis_conf(
                &spec,
                &paths(),
                &NodeConf::standalone(&spec),
                &renames,
                "2026-01-01T00:00:00Z",
            )
            .unwrap();
            for want in [
                "port 0\n",
                "tls-port 6379\n",
                "bind 127.0.0.1 -::1\n",
                "tls-auth-clients yes\n",
                "tls-replication yes\n",
                "tls-cluster yes\n",
                "tls-protocols \"TLSv1.2 TLSv1.3\"\n",
                "aclfile \"/s/users.acl\"\n",
                "protected-mode yes\n",
                "enable-debug-command no\n",
                "enable-module-command no\n",
                "enable-protected-configs no\n",
                "rename-command CONFIG \"CONFIG_abc\"\n",
                "rename-command KEYS \"\"\n",
                "tls-cert-file \"/s/redis.crt\"\n",
                "tls-ca-cert-file \"/s/ca.crt\"\n",
            ] {
                assert!(c.contains(want), "missing {want:?} in\n{c}");
            }
            assert_eq!(c.contains("save \"\"\n"), no_persist);
            assert_eq!(c.contains("rdb-del-sync-files yes"), no_persist);
            assert_eq!(c.contains("dir \"/data\""), data_dir.is_some());
            assert!(!c.contains("requirepass"));
        }
    }

    #[test]
    fn rename_map_round_trips() {
        let r = vec![
            Rename {
                from: "CONFIG".into(),
                to: "CONFIG_x".into(),
            },
            Rename {
                from: "KEYS".into(),
                to: String::new(),
            },
        ];
        let text = rename_map(&r);
        assert_eq!(text, "CONFIG CONFIG_x\nKEYS \"\"\n");
        let back = parse_rename_map(&text).unwrap();
        assert_eq!(back[0].to, "CONFIG_x");
        assert_eq!(back[1].to, "");
    }
}
