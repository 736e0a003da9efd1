//! What a bundle is made from: the resolved options of `init`, stored in `manifest.json` so that
//! `renew`, `rotate` and `check` work from the same facts, and the `provision.toml` schema that
//! feeds it.

use super::cakey::Protection;
use super::duration::Dur;
use super::pki::KeyType;
use super::topology::{self, Instance, InstanceKind, Topology};
use super::validate;
use serde::{Deserialize, Serialize};

/// The dangerous commands the security review disables; each gets an unguessable new name
/// (or "" with `--disable-commands`).
pub const RENAMED_COMMANDS: &[&str] = &[
    "FLUSHDB",
    "FLUSHALL",
    "KEYS",
    "CONFIG",
    "SHUTDOWN",
    "BGREWRITEAOF",
    "BGSAVE",
    "SAVE",
    "DEBUG",
];

pub const DEFAULT_HOSTS: &[&str] = &["redis", "localhost", "127.0.0.1", "::1"];
pub const DEFAULT_BIND: &[&str] = &["127.0.0.1", "-::1"];
pub const DEFAULT_PORT: u16 = 6379;
pub const DEFAULT_CA_VALIDITY: Dur = Dur::days(3650);
pub const DEFAULT_CERT_VALIDITY: Dur = Dur::days(365);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything (`~* &* +@all`); reaches renamed commands through their new names.
    Admin,
    /// Data commands on its key and channel patterns; no admin, dangerous or scripting commands.
    App,
    /// PING, INFO, CLIENT LIST, SLOWLOG GET, LATENCY LATEST; no key access.
    Monitor,
    /// Exactly the `commands` given, on the given patterns.
    Custom,
    /// Replicas log in to their primary as this user (`+psync +replconf +ping`); added
    /// automatically to replication and cluster topologies.
    Replication,
    /// Sentinels log in to Redis nodes as this user (the rights Sentinel needs, renamed
    /// commands reached through `sentinel rename-command`); added when there are Sentinels.
    Sentinel,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    pub role: Role,
    /// Key patterns (`app:*`). Default for app and custom users: `*`. Ignored for admin and monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// Channel patterns. Default for app and custom users: `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// ACL command rules for a custom user (`+get`, `+@read`, `-flushall`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// How the user logs in (`auth = "cert"` in provision.toml, `init --user-auth`); absent
    /// means by password, as in every bundle made before certificate identity existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<UserAuth>,
    /// A URI identity (`uri = "spiffe://example.org/ns/prod/app"`) for a user that logs in by
    /// certificate on Valkey 9.1 and newer: the URI goes into the client certificate's SAN, the
    /// server maps it with `tls-auth-clients-user URI`, and the ACL user is named by the URI
    /// (Valkey looks the whole URI up as a user name). The bundle's files keep `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// `provision user disable`: the user's users.acl line says `off` (no login, by password
    /// or certificate); its files stay, so `user enable` gives it back as it was.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// How an ACL user logs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserAuth {
    /// `AUTH user password` (the password file); the client certificate only opens TLS.
    #[default]
    Password,
    /// The client certificate alone logs in as the user its CN names
    /// (`tls-auth-clients-user CN`); the user has no password (`resetpass`, never `nopass`).
    Cert,
    /// The certificate logs in, and a password works too (break-glass, for example for admin).
    Both,
}

impl UserAuth {
    pub const ALL: [UserAuth; 3] = [UserAuth::Password, UserAuth::Cert, UserAuth::Both];
    pub fn name(self) -> &'static str {
        match self {
            UserAuth::Password => "password",
            UserAuth::Cert => "cert",
            UserAuth::Both => "both",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

impl UserSpec {
    pub fn new(name: &str, role: Role) -> Self {
        UserSpec {
            name: name.into(),
            role,
            keys: None,
            channels: None,
            commands: vec![],
            auth: None,
            uri: None,
            disabled: false,
        }
    }
    /// The user's name in users.acl and on the server: its URI identity if it has one, else
    /// its name.
    pub fn acl_name(&self) -> &str {
        self.uri.as_deref().unwrap_or(&self.name)
    }
    pub fn auth(&self) -> UserAuth {
        self.auth.unwrap_or_default()
    }
    /// Whether the user has a password (a `.password` file and a hash in users.acl).
    pub fn has_password(&self) -> bool {
        self.auth() != UserAuth::Cert
    }
    /// Whether the user's client certificate logs in as the user by itself.
    pub fn cert_login(&self) -> bool {
        self.auth() != UserAuth::Password
    }
    pub fn key_patterns(&self) -> Vec<String> {
        self.keys.clone().unwrap_or_else(|| vec!["*".into()])
    }
    pub fn channel_patterns(&self) -> Vec<String> {
        self.channels.clone().unwrap_or_else(|| vec!["*".into()])
    }
}

pub fn default_users() -> Vec<UserSpec> {
    vec![
        UserSpec::new("admin", Role::Admin),
        UserSpec::new("app", Role::App),
        UserSpec::new("monitor", Role::Monitor),
    ]
}

/// The complete, validated description of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub key_type: KeyType,
    pub ca_validity: Dur,
    pub cert_validity: Dur,
    pub hosts: Vec<String>,
    pub port: u16,
    pub bind: Vec<String>,
    pub disable_commands: bool,
    pub no_persistence: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    pub maxclients: u32,
    pub timeout: u32,
    pub users: Vec<UserSpec>,
    /// Where the bundle is mounted inside a container (`--mount-dir`): redis.conf names files
    /// under this path instead of the host directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_dir: Option<String>,
    /// Standalone (default), replication (+ Sentinels) or cluster, with every node.
    #[serde(default, skip_serializing_if = "Topology::is_standalone")]
    pub topology: Topology,
    /// The `--templates` directory (absolute) whose overrides made this bundle's files; later
    /// re-renders (`rotate` rewriting users.acl, `compose`, `schedule`) use it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<String>,
    /// Set when the CA key is stored only encrypted (`ca.key.age`, `init --protect-ca-key`):
    /// how, and to which recipients (public keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_key: Option<Protection>,
    /// The SPIFFE trust domain of the client certificates' URI SANs
    /// (`spiffe://<trust_domain>/redis/user/<name>`; `init --trust-domain`). Bundles made
    /// before it existed read as the default, so `renew` gives their clients the default URI.
    #[serde(default = "default_trust_domain")]
    pub trust_domain: String,
    /// The server the bundle is made for (`init --server`); absent in bundles made before
    /// targets existed, which were made for the baseline, redis 7.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<super::server::Target>,
}

fn default_trust_domain() -> String {
    super::pki::DEFAULT_TRUST_DOMAIN.to_string()
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            key_type: KeyType::EcdsaP256,
            ca_validity: DEFAULT_CA_VALIDITY,
            cert_validity: DEFAULT_CERT_VALIDITY,
            hosts: DEFAULT_HOSTS.iter().map(|s| s.to_string()).collect(),
            port: DEFAULT_PORT,
            bind: DEFAULT_BIND.iter().map(|s| s.to_string()).collect(),
            disable_commands: false,
            no_persistence: false,
            data_dir: None,
            maxclients: 10_000,
            timeout: 300,
            users: default_users(),
            mount_dir: None,
            topology: Topology::default(),
            templates: None,
            ca_key: None,
            trust_domain: default_trust_domain(),
            server: None,
        }
    }
}

impl Spec {
    /// The server the bundle is made for.
    pub fn target(&self) -> super::server::Target {
        self.server.unwrap_or(super::server::BASELINE)
    }

    /// The dangerous commands this bundle renames (or disables): all of RENAMED_COMMANDS,
    /// but CONFIG keeps its name on a target whose Lua engine asks CONFIG by name, unless
    /// `--disable-commands` disables it.
    pub fn renamed_commands(&self) -> Vec<&'static str> {
        RENAMED_COMMANDS
            .iter()
            .copied()
            .filter(|c| *c != "CONFIG" || self.disable_commands || self.target().renames_config())
            .collect()
    }

    /// Checks every value that reaches a certificate, users.acl or redis.conf. Returns every
    /// problem found, not just the first.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        // Both an `Invalid` from `validate` and a message of its own here.
        macro_rules! push {
            ($r:expr) => {{
                let r: Result<(), _> = $r;
                if let Err(e) = r {
                    errs.push(e.to_string())
                }
            }};
        }
        if self.cert_validity > self.ca_validity {
            push!(Err(format!(
                "the certificate validity ({}) is longer than the CA validity ({}); a leaf never outlives its CA: shorten --cert-validity or lengthen --ca-validity",
                self.cert_validity, self.ca_validity
            )));
        }
        push!(validate::trust_domain(&self.trust_domain));
        if self.hosts.is_empty() {
            push!(Err(
                "no host names for the server certificate; give at least one --host".to_string(),
            ));
        }
        for h in &self.hosts {
            push!(validate::host(h));
        }
        if self.port == 0 {
            push!(Err(
                "port 0 is not a valid TLS port; give --port 1-65535".to_string()
            ));
        }
        if self.bind.is_empty() {
            push!(Err("no bind address; give at least one --bind".to_string()));
        }
        for b in &self.bind {
            push!(validate::bind_addr(b));
        }
        if let Some(d) = &self.data_dir {
            push!(validate::conf_path(d));
            if !d.starts_with('/') {
                push!(Err(format!("data dir `{d}` must be an absolute path")));
            }
        }
        for e in self.ca_key.iter().flat_map(|p| p.validate()) {
            push!(Err(e));
        }
        if self.maxclients == 0 {
            push!(Err("maxclients must be at least 1".to_string()));
        }
        if self.users.is_empty() {
            push!(Err("no users; define at least one admin user".to_string()));
        }
        if !self
            .users
            .iter()
            .any(|u| u.role == Role::Admin && !u.disabled)
        {
            push!(Err(
                "no user has role `admin`; provision needs one to reload certificates and rotate passwords".to_string(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for u in &self.users {
            push!(validate::user_name(&u.name));
            if !seen.insert(u.name.to_ascii_lowercase()) {
                push!(Err(format!(
                    "user `{}` is defined twice; user names must be unique",
                    u.name
                )));
            }
            for k in u.keys.iter().flatten() {
                push!(validate::pattern("key", k));
            }
            for c in u.channels.iter().flatten() {
                push!(validate::pattern("channel", c));
            }
            for c in &u.commands {
                push!(validate::command_rule(c));
            }
            for (kind, pats) in [("key", &u.keys), ("channel", &u.channels)] {
                if let Some(p) = pats {
                    if p.len() > 1 && p.iter().any(|x| x == "*") {
                        push!(Err(format!(
                            "user `{}`: the {kind} pattern `*` already matches everything; Redis refuses other patterns next to it, so give `*` alone",
                            u.name
                        )));
                    }
                }
            }
            match u.role {
                Role::Custom if u.commands.is_empty() => push!(Err(format!(
                    "custom user `{}` has no `commands`; list its ACL rules, for example [\"+get\", \"+@read\"]",
                    u.name
                ))),
                Role::Admin | Role::App | Role::Monitor | Role::Replication | Role::Sentinel if !u.commands.is_empty() => push!(Err(format!(
                    "user `{}` has role `{:?}`, whose rules are fixed; use role = \"custom\" to list commands",
                    u.name, u.role
                ).to_lowercase())),
                _ => {}
            }
        }
        self.topology.validate(&mut errs);
        self.validate_topology_users(&mut errs);
        self.validate_user_auth(&mut errs);
        self.validate_uris(&mut errs);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    fn validate_topology_users(&self, errs: &mut Vec<String>) {
        let has = |r: Role| self.users.iter().any(|u| u.role == r);
        let t = &self.topology;
        if !t.is_standalone() && !has(Role::Replication) {
            errs.push("replicas need a user with role `replication` to log in to their primary; add one (init adds `replication` by itself when users are not listed)".into());
        }
        if t.sentinels.is_empty() && has(Role::Sentinel) {
            errs.push("a user has role `sentinel` but the topology has no Sentinels".into());
        }
        if !t.sentinels.is_empty() && !has(Role::Sentinel) {
            errs.push(
                "Sentinels need a user with role `sentinel` to log in to the nodes; add one".into(),
            );
        }
        for r in [Role::Replication, Role::Sentinel] {
            if self.users.iter().filter(|u| u.role == r).count() > 1 {
                errs.push(format!("only one user may have role `{r:?}`").to_lowercase());
            }
        }
        // Node files sit next to user files: no name may be both.
        let users: std::collections::HashSet<String> = self
            .users
            .iter()
            .map(|u| u.name.to_ascii_lowercase())
            .collect();
        for n in t.nodes.iter().chain(&t.sentinels) {
            let lower = n.name.to_ascii_lowercase();
            if users.contains(&lower)
                || ["ca", "users", "manifest", "masterauth", "renamed-commands"]
                    .contains(&lower.as_str())
            {
                errs.push(format!(
                    "node name `{}` is also a user or bundle file name; rename the node",
                    n.name
                ));
            }
        }
    }

    /// Whether any user logs in by certificate: then every node's redis.conf has
    /// `tls-auth-clients-user CN`.
    pub fn cert_identity(&self) -> bool {
        self.users.iter().any(UserSpec::cert_login)
    }

    /// What `tls-auth-clients-user` maps in a bundle with certificate-identity users: `URI`
    /// when they have URI identities (`uri = "spiffe://..."`), else `CN`; `None` without such
    /// users.
    pub fn cert_identity_mode(&self) -> Option<&'static str> {
        if !self.cert_identity() {
            None
        } else if self.users.iter().any(|u| u.uri.is_some()) {
            Some("URI")
        } else {
            Some("CN")
        }
    }

    /// The CN of `user`'s client certificate. With `tls-auth-clients-user CN` the server logs
    /// a certificate in as the enabled user its CN names, so in a bundle where anyone logs in
    /// by certificate, a password user's certificate carries a CN that names no user (user
    /// names have no spaces): it opens TLS, and the password still has to be given.
    pub fn client_cn(&self, user: &UserSpec) -> String {
        if self.cert_identity() && !user.cert_login() {
            format!("{} (password login)", user.name)
        } else {
            user.name.clone()
        }
    }

    fn validate_user_auth(&self, errs: &mut Vec<String>) {
        if !self.cert_identity() {
            return;
        }
        let target = self.target();
        if !target.caps().cert_user_cn {
            errs.push(format!(
                "certificate-identity users (`--user-auth cert|both`, `auth = \"cert\"`) need `tls-auth-clients-user`, which {} lacks; Valkey 9.0 and newer and Redis 8.6 and newer have it: give --server valkey-9.0 (or newer), or keep password users",
                target
            ));
        }
        for u in &self.users {
            if matches!(u.role, Role::Replication | Role::Sentinel)
                && u.auth() != UserAuth::Password
            {
                errs.push(format!(
                    "user `{}` has role `{:?}`, which logs in with a password Redis sends (masterauth, Sentinel's auth-pass); it cannot be `auth = \"{}\"`",
                    u.name, u.role, u.auth().name()
                ).to_lowercase());
            }
            // A server certificate's CN (the first host of a standalone server) must not name
            // a user, or the server's own certificate would log in as that user.
            if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(&u.name)) {
                errs.push(format!(
                    "user `{}` has the name of a host of the server certificate; with certificate identity the server's certificate would log in as that user: rename the user",
                    u.name
                ));
            }
        }
        if !self.topology.sentinels.is_empty() {
            errs.push("certificate-identity users are not supported with Sentinels yet (Sentinel keeps its own ACL in sentinel.conf); use password users for this topology".into());
        }
    }

    /// URI identities: only for users that log in by certificate, all such users or none (the
    /// server maps either CN or URI), unique, and only on a target with
    /// `tls-auth-clients-user URI`.
    fn validate_uris(&self, errs: &mut Vec<String>) {
        if !self.users.iter().any(|u| u.uri.is_some()) {
            return;
        }
        let target = self.target();
        if !target.caps().cert_user_uri {
            errs.push(format!(
                "URI identities (`--cert-identity uri`, `uri = \"...\"`) need `tls-auth-clients-user URI`, which {target} lacks; Valkey 9.1 and newer have it: give --server valkey-9.1, or drop `uri` to log in by CN"
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for u in &self.users {
            match &u.uri {
                Some(uri) => {
                    if let Err(e) = validate::identity_uri(uri) {
                        errs.push(format!("user `{}`: {e}", u.name));
                    }
                    if !u.cert_login() {
                        errs.push(format!(
                            "user `{}` has a URI identity but logs in by password; give it auth = \"cert\" or \"both\", or drop `uri`",
                            u.name
                        ));
                    }
                    if !seen.insert(uri.as_str()) {
                        errs.push(format!("user `{}`: URI `{uri}` is given to two users; each user needs its own", u.name));
                    }
                    // A password user's certificate carries its SPIFFE ID; that must name no one.
                    if let Some(o) = self.users.iter().find(|o| {
                        o.name != u.name
                            && o.uri.is_none()
                            && super::pki::client_uri(&self.trust_domain, &o.name) == *uri
                    }) {
                        errs.push(format!(
                            "user `{}`: URI `{uri}` is the SPIFFE ID in `{}`'s certificate, which would then log in as `{}`; give `{}` another URI",
                            u.name, o.name, u.name, u.name
                        ));
                    }
                }
                None if u.cert_login() => errs.push(format!(
                    "user `{}` logs in by certificate but has no `uri`, while others have one; the server maps either CN or URI, so give every certificate-login user a `uri`",
                    u.name
                )),
                None => {}
            }
        }
    }

    /// The name the server knows user `name` by (its URI identity, if it logs in by one);
    /// `name` itself for a user the spec does not declare.
    pub fn acl_name_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.users
            .iter()
            .find(|u| u.name == name)
            .map_or(name, |u| u.acl_name())
    }

    pub fn user_with_role(&self, role: Role) -> Option<&UserSpec> {
        self.users.iter().find(|u| u.role == role)
    }

    /// Every Redis and Sentinel process of the bundle, with the files it owns.
    pub fn instances(&self) -> Vec<Instance> {
        let t = &self.topology;
        if t.is_standalone() {
            // The bundle's own server is on loopback; reached by a loopback name its
            // certificate holds, so a certificate for `localhost` alone still verifies.
            let loopback = ["127.0.0.1", "localhost", "::1"]
                .into_iter()
                .find(|l| self.hosts.iter().any(|h| h == l))
                .unwrap_or("127.0.0.1");
            let node = topology::NodeSpec {
                name: "redis".into(),
                hosts: vec![loopback.into()],
                port: self.port,
            };
            return vec![Instance {
                name: "redis".into(),
                kind: InstanceKind::Redis,
                crt: "redis.crt".into(),
                key: "redis.key".into(),
                conf: "redis.conf".into(),
                hosts: self.hosts.clone(),
                port: self.port,
                replica_of: None,
                address: node.address(),
            }];
        }
        let primary = (t.kind == topology::Kind::Replication).then(|| t.nodes[0].clone());
        let mk = |n: &topology::NodeSpec, kind, replica_of| Instance {
            name: n.name.clone(),
            kind,
            crt: format!("{}.crt", n.name),
            key: format!("{}.key", n.name),
            conf: format!("{}.conf", n.name),
            hosts: n.hosts.clone(),
            port: n.port,
            replica_of,
            address: n.address(),
        };
        let mut v: Vec<Instance> = t
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                mk(
                    n,
                    InstanceKind::Redis,
                    if i > 0 { primary.clone() } else { None },
                )
            })
            .collect();
        v.extend(
            t.sentinels
                .iter()
                .map(|n| mk(n, InstanceKind::Sentinel, None)),
        );
        v
    }

    /// The Redis data nodes clients talk to: the one server of a standalone bundle (its
    /// hosts are the server certificate's SANs, `port` its port), else the topology's nodes
    /// (for replication the primary first). `NodeSpec::host` picks where to reach each.
    pub fn data_nodes(&self) -> Vec<topology::NodeSpec> {
        if self.topology.is_standalone() {
            vec![topology::NodeSpec {
                name: "redis".into(),
                hosts: self.hosts.clone(),
                port: self.port,
            }]
        } else {
            self.topology.nodes.clone()
        }
    }

    /// The admin provision logs in as: the first enabled one (a validated spec has one).
    pub fn admin(&self) -> &UserSpec {
        self.users
            .iter()
            .find(|u| u.role == Role::Admin && !u.disabled)
            .or_else(|| self.users.iter().find(|u| u.role == Role::Admin))
            .expect("validated spec has an admin")
    }
}

/// `provision.toml`: every field optional; flags override it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub dir: Option<std::path::PathBuf>,
    pub key_type: Option<KeyType>,
    pub ca_validity: Option<Dur>,
    pub cert_validity: Option<Dur>,
    pub hosts: Option<Vec<String>>,
    pub port: Option<u16>,
    pub bind: Option<Vec<String>>,
    pub disable_commands: Option<bool>,
    pub no_persistence: Option<bool>,
    pub data_dir: Option<String>,
    /// Where the bundle is mounted inside a container (paths in redis.conf); `--mount-dir`.
    pub mount_dir: Option<String>,
    /// Directory of template overrides (`--templates`).
    pub templates: Option<std::path::PathBuf>,
    pub maxclients: Option<u32>,
    pub timeout: Option<u32>,
    pub users: Option<Vec<UserSpec>>,
    /// `[topology]`: kind, nodes, sentinels, master_name, quorum, down_after_ms.
    pub topology: Option<Topology>,
    /// The client certificates' SPIFFE trust domain (`--trust-domain`).
    pub trust_domain: Option<String>,
    /// The server the bundle is for: `auto` or a target such as `valkey-9.1` (`--server`).
    pub server: Option<String>,
    /// How users without their own `auth` log in: password, cert or both (`--user-auth`).
    pub user_auth: Option<UserAuth>,
    /// What maps a certificate to its user: `cn` or `uri` (`--cert-identity`).
    pub cert_identity: Option<String>,
}

impl ConfigFile {
    pub fn parse(text: &str) -> Result<Self, super::invalid::Invalid> {
        toml::from_str(text)
            .map_err(|e: toml::de::Error| super::invalid::Invalid::Config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid() {
        Spec::default().validate().unwrap();
    }

    #[test]
    fn reports_every_problem() {
        let mut s = Spec {
            hosts: vec!["bad host".into()],
            cert_validity: Dur::days(4000),
            ..Spec::default()
        };
        s.users.push(UserSpec::new("app", Role::App));
        s.users.push(UserSpec::new("default", Role::App));
        let errs = s.validate().unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:#?}");
    }

    #[test]
    fn star_with_other_patterns_is_refused() {
        // Regression (found by the live property test): redis-server refuses to start on
        // `~* ~other` ("Adding a pattern after the * pattern ... is not valid").
        let mut app = UserSpec::new("app", Role::App);
        app.keys = Some(vec!["*".into(), "x:*".into()]);
        let s = Spec {
            users: vec![UserSpec::new("admin", Role::Admin), app],
            ..Spec::default()
        };
        assert!(s.validate().unwrap_err()[0].contains("`*` alone"));
    }

    #[test]
    fn certificate_identity_needs_a_server_that_maps_certificates() {
        let with = |server: &str, edit: &dyn Fn(&mut Spec)| {
            let mut s = Spec {
                server: Some(server.parse().unwrap()),
                ..Spec::default()
            };
            s.users[1].auth = Some(UserAuth::Cert);
            edit(&mut s);
            s.validate()
        };
        for ok in ["valkey-9.0", "valkey-9.1", "redis-8.6"] {
            with(ok, &|_| {}).unwrap();
        }
        for no in ["redis-7.0", "redis-8.4", "valkey-8.1"] {
            let e = with(no, &|_| {}).unwrap_err();
            assert!(
                e[0].contains(no) && e[0].contains("Valkey 9.0 and newer and Redis 8.6 and newer"),
                "{e:?}"
            );
        }
        // A user named like the server's host would be logged in by the server's certificate.
        let e = with("valkey-9.1", &|s| s.users[1].name = "localhost".into()).unwrap_err();
        assert!(e[0].contains("name of a host"), "{e:?}");
        // Replication users send a password Redis keeps in masterauth.
        let mut r = UserSpec::new("replication", Role::Replication);
        r.auth = Some(UserAuth::Cert);
        let e = with("valkey-9.1", &|s| {
            s.topology = Topology {
                kind: topology::Kind::Replication,
                nodes: vec![
                    topology::NodeSpec {
                        name: "n1".into(),
                        hosts: vec!["127.0.0.1".into()],
                        port: 7001,
                    },
                    topology::NodeSpec {
                        name: "n2".into(),
                        hosts: vec!["127.0.0.1".into()],
                        port: 7002,
                    },
                ],
                ..Topology::default()
            };
            s.users.push(r.clone());
        })
        .unwrap_err();
        assert!(e.iter().any(|m| m.contains("masterauth")), "{e:?}");
        // In a bundle where anyone logs in by certificate, no password user's CN names it.
        let mut s = Spec::default();
        assert_eq!(s.client_cn(&s.users[2].clone()), "monitor");
        s.users[1].auth = Some(UserAuth::Both);
        assert_eq!(s.client_cn(&s.users[1].clone()), "app");
        assert_eq!(s.client_cn(&s.users[2].clone()), "monitor (password login)");
    }

    #[test]
    fn uri_identity_is_validated() {
        let with = |server: &str, edit: &dyn Fn(&mut Spec)| {
            let mut s = Spec {
                server: Some(server.parse().unwrap()),
                ..Spec::default()
            };
            s.users[1].auth = Some(UserAuth::Cert);
            s.users[1].uri = Some("spiffe://example.org/ns/prod/sa/app".into());
            edit(&mut s);
            s.validate()
        };
        with("valkey-9.1", &|_| {}).unwrap();
        let mut s = Spec::default();
        s.users[1].auth = Some(UserAuth::Cert);
        s.users[1].uri = Some("spiffe://x/y".into());
        assert_eq!(s.cert_identity_mode(), Some("URI"));
        s.users[1].uri = None;
        assert_eq!(s.cert_identity_mode(), Some("CN"));
        for no in ["valkey-9.0", "redis-8.6", "redis-7.0"] {
            let e = with(no, &|_| {}).unwrap_err();
            assert!(
                e.iter()
                    .any(|m| m.contains(no) && m.contains("Valkey 9.1 and newer")),
                "{no}: {e:?}"
            );
        }
        type Edit = Box<dyn Fn(&mut Spec)>;
        let cases: Vec<(&str, Edit, &str)> = vec![
            (
                "not a URI",
                Box::new(|s| s.users[1].uri = Some("app".into())),
                "invalid URI identity",
            ),
            (
                "a password user with a URI",
                Box::new(|s| s.users[1].auth = Some(UserAuth::Password)),
                "logs in by password",
            ),
            (
                "one cert user without a URI",
                Box::new(|s| s.users[2].auth = Some(UserAuth::Cert)),
                "has no `uri`",
            ),
            (
                "two users, one URI",
                Box::new(|s| {
                    s.users[2].auth = Some(UserAuth::Cert);
                    s.users[2].uri = s.users[1].uri.clone();
                }),
                "given to two users",
            ),
            (
                "another user's SPIFFE ID",
                Box::new(|s| {
                    s.users[1].uri = Some(super::super::pki::client_uri(&s.trust_domain, "monitor"))
                }),
                "SPIFFE ID in `monitor`'s certificate",
            ),
        ];
        for (what, edit, message) in cases {
            let e = with("valkey-9.1", &*edit).expect_err(what);
            assert!(e.iter().any(|m| m.contains(message)), "{what}: {e:?}");
        }
    }

    #[test]
    fn needs_an_admin() {
        let s = Spec {
            users: vec![UserSpec::new("app", Role::App)],
            ..Spec::default()
        };
        assert!(s.validate().unwrap_err()[0].contains("admin"));
    }

    #[test]
    fn config_file_rejects_unknown_keys_and_wrong_types() {
        assert!(ConfigFile::parse("colour = 1")
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        assert!(ConfigFile::parse("port = \"x\"").is_err());
        assert!(ConfigFile::parse("ca_validity = \"0d\"")
            .unwrap_err()
            .to_string()
            .contains("zero"));
        let c = ConfigFile::parse(
            "hosts = [\"redis\"]\n[[users]]\nname = \"ja4proxy\"\nrole = \"app\"\nkeys = [\"ja4:*\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.users.unwrap()[0].keys.as_deref(),
            Some(&["ja4:*".to_string()][..])
        );
    }
}
