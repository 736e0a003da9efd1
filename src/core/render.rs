//! Renders every generated file from the templates in `templates/`, compiled into the binary,
//! or from an operator's override of the same name (`--templates DIR`). Strict undefined
//! variables: a template that names a value the code does not provide fails instead of writing
//! an empty string into a security rule. Every value has been validated (see `validate`) before
//! it gets here; the rendered ACL is checked again line by line, whichever template made it.
//!
//! Pure: the caller reads override files and hands their sources in (`Templates::with_overrides`).

use super::spec::{Role, Spec, UserSpec};
use super::topology::Kind;
use minijinja::{context, Environment, UndefinedBehavior};
use serde::Serialize;

pub const USERS_ACL_TEMPLATE: &str = include_str!("../../templates/users.acl");
pub const REDIS_CONF_TEMPLATE: &str = include_str!("../../templates/redis.conf");
pub const SENTINEL_CONF_TEMPLATE: &str = include_str!("../../templates/sentinel.conf");

/// Every built-in template, by the file name an override must have.
pub const BUILTIN: &[(&str, &str)] = &[
    ("users.acl", USERS_ACL_TEMPLATE),
    ("redis.conf", REDIS_CONF_TEMPLATE),
    ("sentinel.conf", SENTINEL_CONF_TEMPLATE),
    (
        "provision-renew.service",
        include_str!("../../templates/provision-renew.service"),
    ),
    (
        "provision-renew.timer",
        include_str!("../../templates/provision-renew.timer"),
    ),
    (
        "provision-alerts.yml",
        include_str!("../../templates/provision-alerts.yml"),
    ),
    (
        "docker-compose.yml",
        include_str!("../../templates/docker-compose.yml"),
    ),
];

/// A template that failed to compile or render, or rendered something unusable. Names the
/// override file (and line) when an operator's template is at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// The built-in name (`redis.conf`).
    pub name: String,
    /// The override file, when the template came from `--templates DIR`.
    pub path: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl TemplateError {
    /// An operator's template is at fault (bad input), rather than a built-in one (a bug).
    pub fn is_override(&self) -> bool {
        self.path.is_some()
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(p) => write!(f, "template `{p}`")?,
            None => write!(f, "built-in template `{}`", self.name)?,
        }
        if let Some(l) = self.line {
            write!(f, ", line {l}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TemplateError {}

/// One operator template replacing a built-in one.
#[derive(Clone, Debug)]
struct Override {
    name: &'static str,
    path: String,
    source: String,
}

/// The templates a command renders with: the built-ins, some replaced by overrides.
#[derive(Clone, Debug, Default)]
pub struct Templates {
    overrides: Vec<Override>,
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Self {
        Templates::default()
    }

    /// Built-ins replaced by `(file name, path for messages, source)` overrides. Each override
    /// is compiled now, so a syntax error is reported before anything is generated; a name that
    /// is not a built-in template is refused.
    pub fn with_overrides(list: Vec<(String, String, String)>) -> Result<Self, TemplateError> {
        let mut overrides = Vec::new();
        for (name, path, source) in list {
            let Some(&(builtin, _)) = BUILTIN.iter().find(|(n, _)| *n == name) else {
                return Err(TemplateError {
                    name: name.clone(),
                    path: Some(path),
                    line: None,
                    message: format!(
                        "`{name}` is not a built-in template; overrides must be named {}",
                        names()
                    ),
                });
            };
            let o = Override {
                name: builtin,
                path,
                source,
            };
            let mut env = environment(builtin);
            env.add_template(builtin, &o.source)
                .map_err(|e| template_error(builtin, Some(&o.path), &o.source, e))?;
            overrides.push(o);
        }
        Ok(Templates { overrides })
    }

    /// The names of the built-in templates that are overridden.
    pub fn overridden(&self) -> Vec<&'static str> {
        self.overrides.iter().map(|o| o.name).collect()
    }

    fn get(&self, name: &str) -> (&str, Option<&str>) {
        match self.overrides.iter().find(|o| o.name == name) {
            Some(o) => (&o.source, Some(&o.path)),
            None => (
                BUILTIN
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, s)| *s)
                    .unwrap_or_else(|| panic!("no built-in template `{name}`")),
                None,
            ),
        }
    }

    /// An error about the rendered output of `name` (not about the template's syntax).
    pub fn output_error(&self, name: &str, message: impl Into<String>) -> TemplateError {
        TemplateError {
            name: name.into(),
            path: self.get(name).1.map(str::to_string),
            line: None,
            message: message.into(),
        }
    }

    /// Renders the template `name` (strict: an undefined variable is an error).
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, TemplateError> {
        let (source, path) = self.get(name);
        let mut env = environment(name);
        env.add_template(name, source)
            .and_then(|_| env.get_template(name))
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(name, path, source, e))
    }
}

/// The built-in template names, for messages.
pub fn names() -> String {
    BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn environment(name: &str) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(false);
    // users.acl and redis.conf have always been rendered without their final newline
    // (their templates end in a block that emits it); the other files keep theirs.
    env.set_keep_trailing_newline(!matches!(
        name,
        "users.acl" | "redis.conf" | "sentinel.conf"
    ));
    env
}

fn template_error(
    name: &str,
    path: Option<&str>,
    source: &str,
    e: minijinja::Error,
) -> TemplateError {
    let mut message = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    // The failing expression (template code, never the literal text around it), so
    // "undefined value" says which one.
    if let Some(text) = e.range().and_then(|r| source.get(r)) {
        let text: String = text.trim().chars().take(120).collect();
        if !text.is_empty() {
            message.push_str(&format!(" (`{text}`)"));
        }
    }
    TemplateError {
        name: name.into(),
        path: path.map(str::to_string),
        line: e.line(),
        message,
    }
}

#[derive(Serialize)]
struct AclUser<'a> {
    name: &'a str,
    /// Disabled (`provision user disable`): the line says `off`.
    off: bool,
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

impl<'a> AclEntry<'a> {
    pub fn new(user: &'a UserSpec, hashes: Vec<String>) -> Self {
        AclEntry { user, hashes }
    }
}

/// Renders users.acl for a standalone server from the built-in template.
pub fn users_acl(entries: &[AclEntry<'_>]) -> Result<String, TemplateError> {
    users_acl_for(entries, Kind::Standalone)
}

/// Renders users.acl for `topology` from the built-in template.
pub fn users_acl_for(entries: &[AclEntry<'_>], topology: Kind) -> Result<String, TemplateError> {
    users_acl_with(
        &Templates::builtin(),
        entries,
        topology,
        super::server::BASELINE,
    )
}

/// Renders users.acl. Fails if a rendered line is not the single `user NAME ...` line the
/// renderer intended (defence in depth against a template, override or validation slip).
/// `topology` is in the template's context so that cluster bundles can grant the app user the
/// CLUSTER subcommands and READONLY/READWRITE/ASKING that cluster clients need, and no others;
/// `commandlog` (the target has COMMANDLOG) lets monitor read its lengths as it reads SLOWLOG's.
pub fn users_acl_with(
    templates: &Templates,
    entries: &[AclEntry<'_>],
    topology: Kind,
    target: super::server::Target,
) -> Result<String, TemplateError> {
    let topology = match topology {
        Kind::Standalone => "standalone",
        Kind::Replication => "replication",
        Kind::Cluster => "cluster",
    };
    let users: Vec<AclUser<'_>> = entries
        .iter()
        .map(|e| AclUser {
            name: e.user.acl_name(),
            off: e.user.disabled,
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
        let problem = if !e.user.has_password() {
            (!e.hashes.is_empty()).then_some("logs in by certificate only but has a password hash")
        } else if e.hashes.is_empty() || !e.hashes.iter().all(|h| super::password::is_acl_hash(h)) {
            Some("has no valid password hash")
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(TemplateError {
                name: "users.acl".into(),
                path: None,
                line: None,
                message: format!("user `{}` {p}", e.user.name),
            });
        }
    }
    let out = templates.render(
        "users.acl",
        context! { users => users, topology => topology, commandlog => target.caps().commandlog },
    )?;
    check_acl(&out, entries.len())
        .map_err(|e| templates.output_error("users.acl", e.to_string()))?;
    for e in entries {
        on_off_line(&out, e.user.acl_name(), e.user.disabled)
            .map_err(|m| templates.output_error("users.acl", m.to_string()))?;
    }
    for e in entries.iter().filter(|e| !e.user.has_password()) {
        cert_only_line(&out, e.user.acl_name())
            .map_err(|m| templates.output_error("users.acl", m.to_string()))?;
    }
    Ok(out)
}

/// A user's line says `on` or, for a disabled user, `off`, exactly once: an override template
/// that ignored `off` would leave a user the operator cut off able to log in.
pub fn on_off_line(acl: &str, user: &str, disabled: bool) -> Result<(), AclError> {
    let line = acl
        .lines()
        .find(|l| l.split_ascii_whitespace().nth(1) == Some(user))
        .ok_or_else(|| AclError::NoLine(user.into()))?;
    let flags: Vec<&str> = line
        .split_ascii_whitespace()
        .skip(2)
        .filter(|t| *t == "on" || *t == "off")
        .collect();
    let want = if disabled { "off" } else { "on" };
    if flags != [want] {
        return Err(AclError::OnOff {
            user: user.into(),
            want,
        });
    }
    Ok(())
}

/// A certificate-only user's line must clear every password (`resetpass`) and set none: an
/// override that dropped `resetpass` or added a hash would let a password log in.
pub fn cert_only_line(acl: &str, user: &str) -> Result<(), AclError> {
    let line = acl
        .lines()
        .find(|l| l.split_ascii_whitespace().nth(1) == Some(user))
        .ok_or_else(|| AclError::NoLine(user.into()))?;
    let toks: Vec<&str> = line.split_ascii_whitespace().collect();
    if !toks.contains(&"resetpass")
        || toks
            .iter()
            .any(|t| t.starts_with('#') || t.starts_with('>') || *t == "nopass")
    {
        return Err(AclError::CertOnlyWithPassword(user.into()));
    }
    Ok(())
}

/// Structural check of a rendered ACL file: one `user default off` line, then one line per
/// user, no comments, no plaintext passwords, no `nopass`.
pub fn check_acl(text: &str, users: usize) -> Result<(), AclError> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != users + 1 {
        return Err(AclError::LineCount {
            found: lines.len(),
            expected: users + 1,
        });
    }
    if !lines[0].starts_with("user default off ") {
        return Err(AclError::DefaultNotFirst);
    }
    for l in &lines {
        let toks: Vec<&str> = l.split_ascii_whitespace().collect();
        if toks.first() != Some(&"user") {
            return Err(AclError::NotAUserLine(l.escape_debug().to_string()));
        }
        if toks
            .iter()
            .skip(2)
            .any(|t| t.starts_with('>') || *t == "nopass")
        {
            return Err(AclError::Plaintext(toks[1].escape_debug().to_string()));
        }
    }
    Ok(())
}

/// What is wrong with the shape of a users.acl (rendered here, or read from a bundle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("users.acl has {found} rule lines, expected {expected}")]
    LineCount { found: usize, expected: usize },
    #[error("users.acl does not start with `user default off`")]
    DefaultNotFirst,
    #[error("users.acl line does not start with `user`: {0}")]
    NotAUserLine(String),
    #[error("users.acl would hold a plaintext password or nopass for `{0}`")]
    Plaintext(String),
    #[error("users.acl has no line for `{0}`")]
    NoLine(String),
    #[error("the users.acl line of `{user}` must say `{want}` exactly once")]
    OnOff { user: String, want: &'static str },
    #[error("user `{0}` logs in by certificate only, so its users.acl line must have `resetpass` and no password (`#hash`, `>password`, `nopass`)")]
    CertOnlyWithPassword(String),
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

impl ConfPaths {
    /// The certificate, key and CA paths every TLS config names.
    fn tls(&self) -> [&String; 3] {
        [
            &self.tls_cert_file,
            &self.tls_key_file,
            &self.tls_ca_cert_file,
        ]
    }
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

/// Renders redis.conf (`Templates::builtin()` for the built-in template).
pub fn redis_conf_with(
    templates: &Templates,
    spec: &Spec,
    paths: &ConfPaths,
    node: &NodeConf,
    renames: &[Rename],
    generated_at: &str,
) -> Result<String, TemplateError> {
    for p in paths
        .tls()
        .into_iter()
        .chain([&paths.aclfile])
        .chain(node.masterauth_file.as_ref())
    {
        super::validate::conf_path(p).map_err(|e| TemplateError {
            name: "redis.conf".into(),
            path: None,
            line: None,
            message: e.to_string(),
        })?;
    }
    let out = templates.render(
        "redis.conf",
        context! {
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
                tls_auto_reload_interval => spec.target().caps().tls_auto_reload
                    .then_some(super::server::AUTO_RELOAD_INTERVAL_SECS),
                tls_auth_clients_user => spec.cert_identity_mode(),
        },
    )?;
    // An override may set what only newer servers have: the target would not start on it.
    let (ds, _) = super::conf::directives(&out);
    if let Some(problem) = super::server::unsupported_directives(spec.target(), &ds)
        .into_iter()
        .next()
    {
        return Err(
            templates.output_error("redis.conf", format!("the rendered redis.conf {problem}"))
        );
    }
    Ok(out)
}

/// `masteruser`/`masterauth` for every node of a replicated topology (included by each
/// node's config; 0600).
pub fn masterauth_conf(user: &str, password: &str) -> Result<String, TemplateError> {
    if !password.chars().all(|c| c.is_ascii_alphanumeric()) || password.is_empty() {
        return Err(TemplateError {
            name: "masterauth.conf".into(),
            path: None,
            line: None,
            message: "the replication password must be letters and digits".into(),
        });
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
///
/// app has `+info` on Sentinel because a client connecting to a Sentinel directly runs its
/// ready check with INFO (ioredis warns "Skipping the ready check because INFO command
/// fails" without it); a Sentinel's INFO names its masters, their addresses and the replica
/// and Sentinel counts, which SENTINEL MASTERS already shows app. `+role`: redis-rs sends
/// ROLE to every Sentinel it connects to, to make sure it is one; a Sentinel's ROLE is the
/// word `sentinel` and the names of its masters.
pub fn sentinel_acl(entries: &[AclEntry<'_>]) -> Result<Vec<String>, String> {
    let mut v = vec!["user default off resetpass resetkeys resetchannels -@all".to_string()];
    for e in entries {
        let rules = match e.user.role {
            Role::Admin | Role::Sentinel => "~* &* +@all",
            Role::App => "resetkeys resetchannels &* -@all +ping +info +role +sentinel|get-master-addr-by-name +sentinel|masters +sentinel|master +sentinel|replicas +sentinel|slaves +sentinel|sentinels +subscribe +psubscribe +unsubscribe +punsubscribe",
            Role::Monitor => "resetkeys resetchannels -@all +ping +info +sentinel|masters +sentinel|master +sentinel|replicas +sentinel|sentinels +sentinel|ckquorum",
            Role::Custom | Role::Replication => continue,
        };
        if e.hashes.is_empty() || !e.hashes.iter().all(|h| super::password::is_acl_hash(h)) {
            return Err(format!("user `{}` has no valid password hash", e.user.name));
        }
        let hashes: Vec<String> = e.hashes.iter().map(|h| format!("#{h}")).collect();
        v.push(format!(
            "user {} {} {} {rules}",
            e.user.acl_name(),
            if e.user.disabled { "off" } else { "on" },
            hashes.join(" ")
        ));
    }
    Ok(v)
}

pub fn sentinel_conf(
    templates: &Templates,
    spec: &Spec,
    paths: &ConfPaths,
    s: &SentinelConf<'_>,
    renames: &[Rename],
    acl: &[String],
    generated_at: &str,
) -> Result<String, TemplateError> {
    for p in paths.tls() {
        super::validate::conf_path(p).map_err(|e| templates.output_error("sentinel.conf", e))?;
    }
    let renames: Vec<&Rename> = renames.iter().filter(|r| !r.to.is_empty()).collect();
    templates.render(
        "sentinel.conf",
        context! {
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
        },
    )
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

    /// One ACL entry per user, its hash made from its name.
    fn hashed(users: &[UserSpec]) -> Vec<AclEntry<'_>> {
        users
            .iter()
            .map(|u| AclEntry::new(u, vec![sha256_hex(u.name.as_bytes())]))
            .collect()
    }

    #[test]
    fn a_certificate_only_user_gets_resetpass_and_no_password() {
        let mut app = UserSpec::new("app", Role::App);
        app.auth = Some(crate::core::spec::UserAuth::Cert);
        let admin = UserSpec::new("admin", Role::Admin);
        let h = sha256_hex(b"x");
        let acl = users_acl(&[
            AclEntry::new(&admin, vec![h.clone()]),
            AclEntry::new(&app, vec![]),
        ])
        .unwrap();
        let line = acl.lines().find(|l| l.starts_with("user app ")).unwrap();
        assert!(line.starts_with("user app on resetpass "), "{line}");
        assert!(!line.contains('#') && !line.contains("nopass"), "{line}");
        assert!(acl.contains(&format!("user admin on #{h} ")), "{acl}");
        // A hash for a certificate-only user, or none for a password user, is refused.
        let e = users_acl(&[AclEntry::new(&app, vec![h.clone()])]).unwrap_err();
        assert!(e.to_string().contains("certificate only"), "{e}");
        assert!(users_acl(&[AclEntry::new(&admin, vec![])]).is_err());
        // An override that drops resetpass is refused after rendering.
        let t = ov("users.acl", "user default off resetpass\n{% for u in users %}user {{ u.name }} on ~* +@read\n{% endfor %}").unwrap();
        let e = users_acl_with(
            &t,
            &[AclEntry::new(&app, vec![])],
            Kind::Standalone,
            crate::core::server::BASELINE,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("must have `resetpass`"), "{e}");
    }

    #[test]
    fn acl_for_default_users() {
        let users = default_users();
        let entries = hashed(&users);
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
        assert!(lines[2].ends_with("+@connection -@dangerous -@admin -@scripting +info"));
        assert!(lines[3].ends_with(
            "resetkeys resetchannels -@all +ping +info +client|list +slowlog|len +latency|latest"
        ));
        assert!(!acl.contains('>'));
        assert!(!acl.lines().any(|l| l.trim_start().starts_with('#')));
    }

    #[test]
    fn cluster_app_gets_the_slot_map_and_only_on_cluster() {
        let users = default_users();
        let entries = hashed(&users);
        let cluster_rules = " +cluster|slots +cluster|shards +cluster|nodes +cluster|info \
                             +cluster|myid +readonly +readwrite +asking";
        let cluster = users_acl_for(&entries, Kind::Cluster).unwrap();
        let app = cluster
            .lines()
            .find(|l| l.starts_with("user app "))
            .unwrap();
        assert!(
            app.ends_with(&format!(
                "-@dangerous -@admin -@scripting +info{cluster_rules}"
            )),
            "{app}"
        );
        let monitor = cluster
            .lines()
            .find(|l| l.starts_with("user monitor "))
            .unwrap();
        // redis_exporter reads CLUSTER INFO on cluster nodes; nothing else of the slot map.
        assert!(
            monitor.ends_with("+latency|latest +cluster|info"),
            "{monitor}"
        );
        assert_eq!(cluster.matches("+cluster|").count(), 6, "{cluster}");
        for kind in [Kind::Standalone, Kind::Replication] {
            let acl = users_acl_for(&entries, kind).unwrap();
            assert!(!acl.contains("cluster|"), "{acl}");
            assert!(!acl.contains("+readonly"), "{acl}");
        }
    }

    #[test]
    fn app_may_ask_role_only_on_replication() {
        let users = default_users();
        let entries = hashed(&users);
        let app = |kind| {
            let acl = users_acl_for(&entries, kind).unwrap();
            acl.lines()
                .find(|l| l.starts_with("user app "))
                .unwrap()
                .to_string()
        };
        // redis-rs checks each replica a Sentinel names with ROLE.
        assert!(
            app(Kind::Replication).ends_with("+info +role"),
            "{}",
            app(Kind::Replication)
        );
        for kind in [Kind::Standalone, Kind::Cluster] {
            assert!(!app(kind).contains("+role"), "{}", app(kind));
        }
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
            AclEntry::new(&admin, vec![h1.clone()]),
            AclEntry::new(&app, vec![h1.clone(), h2.clone()]),
            AclEntry::new(&ro, vec![h2.clone()]),
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
        assert!(users_acl(&[AclEntry::new(&u, vec![])]).is_err());
        assert!(users_acl(&[AclEntry::new(&u, vec!["nothex".into()])]).is_err());
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
            let c = redis_conf_with(
                &Templates::builtin(),
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

    /// `user` with one password, the hash of "x".
    fn with_x(user: &UserSpec) -> AclEntry<'_> {
        AclEntry {
            user,
            hashes: vec![sha256_hex(b"x")],
        }
    }

    /// redis.conf of a default standalone bundle, rendered from `t`.
    fn standalone_conf(t: &Templates) -> Result<String, TemplateError> {
        let spec = Spec::default();
        redis_conf_with(t, &spec, &paths(), &NodeConf::standalone(&spec), &[], "now")
    }

    fn ov(name: &str, src: &str) -> Result<Templates, TemplateError> {
        Templates::with_overrides(vec![(name.into(), format!("/t/{name}"), src.into())])
    }

    #[test]
    fn override_replaces_one_template_and_keeps_the_others() {
        let t = ov("redis.conf", "port {{ port }}\nextra yes\n").unwrap();
        assert_eq!(t.overridden(), ["redis.conf"]);
        let c = standalone_conf(&t).unwrap();
        assert_eq!(c, "port 6379\nextra yes");
        let u = UserSpec::new("admin", Role::Admin);
        let e = [with_x(&u)];
        // users.acl still comes from the built-in template: the exact expected text, not the
        // renderer compared with itself.
        assert_eq!(
            users_acl_with(&t, &e, Kind::Standalone, crate::core::server::BASELINE)
                .unwrap()
                .trim_end(),
            format!(
                "user default off resetpass resetkeys resetchannels -@all\n\
                 user admin on #{} ~* &* +@all",
                sha256_hex(b"x")
            )
        );
    }

    #[test]
    fn monitor_reads_commandlog_lengths_only_where_the_server_has_commandlog() {
        let u = UserSpec::new("monitor", Role::Monitor);
        let e = [with_x(&u)];
        let line = |target: &str| {
            let acl = users_acl_with(
                &Templates::builtin(),
                &e,
                Kind::Standalone,
                target.parse().unwrap(),
            )
            .unwrap();
            acl.lines().nth(1).unwrap().to_string()
        };
        let base = format!(
            "user monitor on #{} resetkeys resetchannels -@all +ping +info +client|list \
             +slowlog|len +latency|latest",
            sha256_hex(b"x")
        );
        for t in ["redis-7.0", "redis-8.6", "valkey-8.0"] {
            assert_eq!(line(t), base, "{t}");
        }
        for t in ["valkey-8.1", "valkey-9.1"] {
            assert_eq!(line(t), format!("{base} +commandlog|len"), "{t}");
        }
    }

    #[test]
    fn broken_overrides_name_the_file_and_line() {
        let e = ov("redis.conf", "port 0\n\n{% if port %}\n").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("/t/redis.conf"));
        assert!(e.is_override());
        assert!(
            e.to_string().starts_with("template `/t/redis.conf`, line "),
            "{e}"
        );
        assert!(e.message.contains("syntax error"), "{e}");

        let t = ov("redis.conf", "port 0\n# fine\n{{ no_such_value }}\n").unwrap();
        let e = standalone_conf(&t).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(
            e.to_string().contains("undefined value (`no_such_value`)"),
            "{e}"
        );

        let e = ov("redis.conf.j2", "x").unwrap_err();
        assert!(e.message.contains("not a built-in template"), "{e}");

        // An override whose output is not an ACL file is refused, naming the override.
        let t = ov("users.acl", "user default on nopass ~* +@all\n").unwrap();
        let u = UserSpec::new("admin", Role::Admin);
        let e = users_acl_with(
            &t,
            &[with_x(&u)],
            Kind::Standalone,
            crate::core::server::BASELINE,
        )
        .unwrap_err();
        assert_eq!(e.path.as_deref(), Some("/t/users.acl"), "{e}");
    }
}
