//! The consistency and expiry audit behind `provision check`: pure, over a bundle's files
//! in memory, reporting every problem (not just the first) with the file it concerns.

use super::bundle::{self, Files, Manifest, OutFile};
use super::cakey::{self, Protection, CA_KEY_AGE};
use super::conf;
use super::duration::{human, Dur};
use super::inspect::{self, CertInfo};
use super::integrity;
use super::password::{is_acl_hash, sha256_hex};
use super::render;
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Monitoring-plugin states; the order is the severity order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Status {
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub status: Status,
    pub file: String,
    pub message: String,
    /// True for findings about time left (what `renew` fixes); false for consistency problems.
    #[serde(skip)]
    pub expiry: bool,
    /// True when a file differs from what the signed manifest records (a hand edit, or
    /// tampering): what `--accept-local-changes` lets a writer carry on with.
    #[serde(skip)]
    pub local_change: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct CertStatus {
    pub file: String,
    pub role: String,
    pub subject: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub not_after_unix: i64,
    pub seconds_left: i64,
    pub fraction_left: f64,
    pub status: Status,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub status: Status,
    pub certificates: Vec<CertStatus>,
    pub findings: Vec<Finding>,
    /// Users whose ACL line holds more than one password (a rotation in progress).
    pub rotations_in_progress: Vec<String>,
    /// How the CA key is stored, and whether it was checked against ca.crt.
    pub ca_key: CaKeyReport,
    /// The manifest's signature and the CA it chains to.
    pub integrity: IntegrityReport,
    /// Where a CA rollover stands.
    pub ca_rollover: CaRolloverReport,
}

/// Where a CA rollover stands: `phase` is "none", "overlap" (a new CA is published in ca.crt,
/// every certificate is still from the old CA), "finish-due" (the overlap has passed; `renew`
/// moves every certificate to the new CA) or "old-ca-trusted" (finished; old CAs stay in
/// ca.crt until what they issued has expired).
#[derive(Clone, Debug, Serialize)]
pub struct CaRolloverReport {
    pub phase: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_ca_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_after: Option<String>,
    /// Seconds of overlap left (0 once it has passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_seconds_left: Option<i64>,
    /// Old CAs still trusted in ca.crt, and until when.
    pub old_cas: Vec<OldCa>,
    /// One line for people.
    pub summary: String,
}

impl Default for CaRolloverReport {
    fn default() -> Self {
        CaRolloverReport {
            phase: "none",
            new_ca_sha256: None,
            started_at: None,
            finish_after: None,
            overlap_seconds_left: None,
            old_cas: vec![],
            summary: String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct OldCa {
    pub sha256_fingerprint: String,
    pub subject: String,
    pub keep_until: String,
    pub seconds_left: i64,
}

/// What `check` verified of the bundle's signature.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IntegrityReport {
    /// Whether `manifest.sig` verified against a CA in ca.crt.
    pub signed: bool,
    /// SHA-256 fingerprint of the signer's certificate (lower-case hex), when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_sha256: Option<String>,
    /// The issuing CA's SHA-256 fingerprint as `openssl x509 -noout -fingerprint -sha256`
    /// prints it: what `restore --expect-ca` takes.
    pub ca_fingerprint: String,
    /// Files compared with the digests the manifest records.
    pub files_verified: usize,
}

/// The CA key as `check` sees it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaKeyReport {
    /// `ca.key`, or `ca.key.age` when protected.
    pub file: String,
    pub protected: bool,
    /// "recipients" or "passphrase" when protected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The age recipients (public keys) of a protected key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// Whether the key matches the CA in ca.crt; `None` when it could not be checked (a
    /// protected key without `--identity`).
    pub matches_ca: Option<bool>,
    /// One line for people: "CA key protected (age, 2 recipients)".
    pub summary: String,
}

/// Expiry thresholds. `None` means the default for the certificate's lifetime:
/// WARNING when `renew` would re-issue it now (`duration::renewal_threshold`: a third of the
/// lifetime left); CRITICAL when less than min(7 days, 1/10 of the lifetime) is left, so a
/// short-lived CI certificate is not critical from birth.
#[derive(Clone, Copy, Debug, Default)]
pub struct Thresholds {
    pub warn: Option<Dur>,
    pub crit: Option<Dur>,
}

impl Thresholds {
    pub fn warn_secs(&self, lifetime: i64) -> i64 {
        super::duration::renewal_threshold(lifetime, self.warn)
    }
    pub fn crit_secs(&self, lifetime: i64) -> i64 {
        self.crit
            .map_or((lifetime / 10).min(7 * 86_400), |d| d.secs() as i64)
    }
}

struct Ctx {
    findings: Vec<Finding>,
}

impl Ctx {
    fn push(&mut self, status: Status, file: &str, message: String, expiry: bool, local: bool) {
        self.findings.push(Finding {
            status,
            file: file.into(),
            message,
            expiry,
            local_change: local,
        });
    }
    /// A certificate that expires soon (renew fixes it).
    fn add_expiry(&mut self, status: Status, file: &str, message: impl Into<String>) {
        self.push(status, file, message.into(), true, false);
    }
    /// An operator's local edit (`renew --accept-local-changes` may keep it).
    fn add_local(&mut self, status: Status, file: &str, message: impl Into<String>) {
        self.push(status, file, message.into(), false, true);
    }
    fn add(&mut self, status: Status, file: &str, message: impl Into<String>) {
        self.push(status, file, message.into(), false, false);
    }
}

fn certs_of(ctx: &mut Ctx, file: Option<&OutFile>, name: &str) -> Vec<CertInfo> {
    let Some(f) = file else {
        ctx.add(Status::Critical, name, "missing");
        return vec![];
    };
    match inspect::pem_certificates(f.data.expose()) {
        Ok(ders) => {
            let mut out = Vec::new();
            for d in ders {
                match inspect::inspect(&d) {
                    Ok(i) => out.push(i),
                    Err(e) => ctx.add(
                        Status::Critical,
                        name,
                        format!("unreadable certificate: {e}"),
                    ),
                }
            }
            out
        }
        Err(e) => {
            ctx.add(
                Status::Critical,
                name,
                format!("not a PEM certificate: {e}"),
            );
            vec![]
        }
    }
}

/// A bundle's files as `check` reads them: an index by name, the manifest if it parses, and
/// the users it names (or, without a manifest, those with a password file).
struct View<'a> {
    files: &'a Files,
    index: HashMap<&'a str, &'a OutFile>,
    manifest: Option<Manifest>,
    users: Vec<String>,
}

impl<'a> View<'a> {
    fn open(ctx: &mut Ctx, files: &'a Files) -> Self {
        // Every file is looked up by name, most once per user: an index built once keeps
        // `check` linear in the size of the bundle (a search of the list each time made it
        // quadratic, a tenth of the time at 1000 users). The first file of a name wins, as in
        // `Files::get`.
        let mut index: HashMap<&str, &OutFile> = HashMap::with_capacity(files.0.len());
        for f in &files.0 {
            index.entry(f.name.as_str()).or_insert(f);
        }
        let manifest: Option<Manifest> = match index.get(bundle::MANIFEST) {
            None => {
                ctx.add(Status::Critical, bundle::MANIFEST, "missing");
                None
            }
            Some(f) => match serde_json::from_str(f.data.expose_str()) {
                Ok(m) => Some(m),
                Err(e) => {
                    ctx.add(Status::Critical, bundle::MANIFEST, format!("invalid: {e}"));
                    None
                }
            },
        };
        let users: Vec<String> = match &manifest {
            Some(m) => m.spec.users.iter().map(|u| u.name.clone()).collect(),
            None => files
                .names()
                .filter_map(|n| n.strip_suffix(".password"))
                .map(str::to_string)
                .collect(),
        };
        for rec in manifest.iter().flat_map(|m| m.files.iter()) {
            if !index.contains_key(rec.name.as_str()) {
                ctx.add(
                    Status::Critical,
                    &rec.name,
                    "missing (listed in manifest.json)",
                );
            }
        }
        View {
            files,
            index,
            manifest,
            users,
        }
    }
    fn get(&self, name: &str) -> Option<&'a OutFile> {
        self.index.get(name).copied()
    }
    fn text(&self, name: &str) -> Option<&'a str> {
        self.get(name).map(|f| f.data.expose_str())
    }
    fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }
}

/// Audits a bundle. `exists` answers whether a path named in redis.conf exists on disk.
/// One function per area; a new kind of file or topology adds one.
pub fn check(
    files: &Files,
    now: OffsetDateTime,
    th: Thresholds,
    exists: &dyn Fn(&str) -> bool,
) -> Report {
    let mut ctx = Ctx {
        findings: Vec::new(),
    };
    let v = View::open(&mut ctx, files);
    check_modes(&mut ctx, files);
    let cas = certs_of(&mut ctx, v.get(bundle::CA_CRT), bundle::CA_CRT);
    let mut statuses = check_cas(&mut ctx, &v, &cas, now, th);
    let ca_rollover = rollover(&mut ctx, files, v.manifest(), &cas, now);
    let integrity = integrity(&mut ctx, files, &v.index, v.manifest(), &cas);
    let ca_key = ca_key_at_rest(&mut ctx, files, v.manifest(), cas.first());
    let instances = match v.manifest() {
        Some(m) => m.spec.instances(),
        None => crate::core::spec::Spec::default().instances(),
    };
    statuses.extend(check_leaves(&mut ctx, &v, &cas, &instances, now, th));
    let rotations = check_acl(&mut ctx, &v);
    check_configs(&mut ctx, &v, &instances, exists);
    revoked_present(&mut ctx, files, v.manifest());

    let status = ctx
        .findings
        .iter()
        .map(|f| f.status)
        .chain(statuses.iter().map(|s| s.status))
        .max()
        .unwrap_or(Status::Ok);
    Report {
        status,
        certificates: statuses,
        findings: ctx.findings,
        rotations_in_progress: rotations,
        ca_key,
        integrity,
        ca_rollover,
    }
}

/// Modes: anything secret must be 0600 (or stricter).
fn check_modes(ctx: &mut Ctx, files: &Files) {
    for f in &files.0 {
        let secret = !(f.name.ends_with(".crt")
            || f.name == bundle::MANIFEST
            || f.name == integrity::MANIFEST_SIG);
        if secret && f.mode & 0o077 != 0 {
            ctx.add(
                Status::Critical,
                &f.name,
                format!(
                    "mode {:04o} lets other users read a secret; it must be 0600 (chmod 600)",
                    f.mode
                ),
            );
        }
    }
}

/// The CAs of ca.crt: each a self-signed CA certificate, and the expiry of each.
fn check_cas(
    ctx: &mut Ctx,
    v: &View,
    cas: &[CertInfo],
    now: OffsetDateTime,
    th: Thresholds,
) -> Vec<CertStatus> {
    for ca in cas {
        if !ca.is_ca || !ca.key_cert_sign {
            ctx.add(
                Status::Critical,
                bundle::CA_CRT,
                format!(
                    "`{}` is not a CA certificate (CA:TRUE and keyCertSign required)",
                    ca.subject
                ),
            );
        }
        if inspect::verify_signed_by(&ca.der, &ca.der).is_err() {
            ctx.add(
                Status::Critical,
                bundle::CA_CRT,
                format!("`{}` is not validly self-signed", ca.subject),
            );
        }
    }
    let retired: Vec<String> = v
        .manifest()
        .iter()
        .flat_map(|m| m.retired_cas.iter().map(|r| r.sha256_fingerprint.clone()))
        .collect();
    let in_overlap = v.manifest().is_some_and(|m| m.ca_rollover.is_some());
    let mut statuses = Vec::new();
    for (i, ca) in cas.iter().enumerate() {
        // After a CA rollover, old CAs stay in ca.crt; their expiry is informational. While a
        // rollover is in its overlap, the old CA being due is what the rollover answers; only
        // running out is reported.
        let lifetime = (ca.not_after - ca.not_before).whole_seconds().max(1);
        let informational = (i > 0 && retired.contains(&ca.sha256_fingerprint))
            || (i == 0
                && in_overlap
                && (ca.not_after - now).whole_seconds() >= th.crit_secs(lifetime));
        statuses.push(expiry(
            ctx,
            bundle::CA_CRT,
            "ca",
            ca,
            now,
            th,
            informational,
        ));
    }
    statuses
}

/// Every server and client certificate: expiry, key type, issued by a CA of ca.crt, a leaf,
/// the usages and names its role needs, and its key beside it.
fn check_leaves(
    ctx: &mut Ctx,
    v: &View,
    cas: &[CertInfo],
    instances: &[crate::core::topology::Instance],
    now: OffsetDateTime,
    th: Thresholds,
) -> Vec<CertStatus> {
    let mut leaves: Vec<(String, String, &str)> = instances
        .iter()
        .map(|i| (i.crt.clone(), i.key.clone(), "server"))
        .collect();
    for u in &v.users {
        leaves.push((bundle::user_crt(u), bundle::user_key(u), "client"));
    }
    let mut statuses = Vec::new();
    for (crt, key, role) in &leaves {
        let certs = certs_of(ctx, v.get(crt), crt);
        let Some(c) = certs.first() else { continue };
        statuses.push(expiry(ctx, crt, role, c, now, th, false));
        if let Some(m) = v.manifest() {
            if c.key_algorithm != m.spec.key_type.name() {
                ctx.add(
                    Status::Warning,
                    crt,
                    format!(
                        "holds a {} key, but the bundle is configured for {}",
                        c.key_algorithm, m.spec.key_type
                    ),
                );
            }
        }
        if !cas
            .iter()
            .any(|ca| inspect::verify_signed_by(&c.der, &ca.der).is_ok())
        {
            ctx.add(
                Status::Critical,
                crt,
                "not signed by any CA in ca.crt (a certificate from a foreign CA?)",
            );
        }
        if c.is_ca {
            ctx.add(
                Status::Critical,
                crt,
                "is a CA certificate; a leaf must have CA:FALSE",
            );
        }
        if *role == "server" {
            if !(c.server_auth && c.client_auth) {
                ctx.add(Status::Critical, crt, "needs EKU serverAuth and clientAuth (Redis presents it on replication and cluster links)");
            }
            if c.sans.is_empty() {
                ctx.add(
                    Status::Critical,
                    crt,
                    "has no subjectAltName; clients that verify hostnames will refuse it",
                );
            }
        } else {
            if !c.client_auth {
                ctx.add(Status::Critical, crt, "lacks EKU clientAuth");
            }
            client_cn(ctx, crt, &c.common_name, v.manifest());
            client_uri(ctx, crt, &c.sans, v.manifest());
        }
        match v.text(key) {
            Some(k) => key_matches(ctx, key, k, c),
            None => ctx.add(Status::Critical, key, "missing"),
        }
    }
    statuses
}

/// users.acl against the password files, then against the declared policy. Returns the users
/// whose password rotation is in progress (two hashes on their line).
fn check_acl(ctx: &mut Ctx, v: &View) -> Vec<String> {
    let mut rotations = Vec::new();
    let Some(acl) = v.text(bundle::USERS_ACL) else {
        ctx.add(Status::Critical, bundle::USERS_ACL, "missing");
        return rotations;
    };
    let (lines, other) = conf::acl_users(acl);
    for (n, l) in other {
        ctx.add(
            Status::Critical,
            bundle::USERS_ACL,
            format!("line {n} is not a `user` line (Redis refuses to start): {l}"),
        );
    }
    if !lines.iter().any(|u| u.name == "default") {
        ctx.add(Status::Critical, bundle::USERS_ACL, "has no `user default off` line: Redis would leave the default user open without a password");
    }
    acl_policy(ctx, bundle::USERS_ACL, &lines, v.manifest(), true);
    let mut line_of: HashMap<&str, &conf::AclUser> = HashMap::with_capacity(lines.len());
    for u in &lines {
        line_of.entry(u.name.as_str()).or_insert(u);
    }
    for u in &v.users {
        let declared = v
            .manifest()
            .and_then(|m| m.spec.users.iter().find(|s| s.name == *u));
        // The user's name in users.acl: its URI identity, if it logs in by one.
        let acl_name = declared.map_or(u.as_str(), |s| s.acl_name());
        // A user disabled with `provision user disable` and switched back on by hand (or the
        // reverse) is not the bundle provision signed.
        if let Some(s) = declared {
            if let Err(e) = render::on_off_line(acl, acl_name, s.disabled) {
                ctx.add(Status::Critical, bundle::USERS_ACL, e.to_string());
            }
        }
        if declared.is_some_and(|s| !s.has_password()) {
            if let Err(e) = render::cert_only_line(acl, acl_name) {
                ctx.add(Status::Critical, bundle::USERS_ACL, e.to_string());
            }
            continue;
        }
        let pw_file = bundle::user_password(u);
        let Some(pw) = v.get(&pw_file) else {
            ctx.add(Status::Critical, &pw_file, "missing");
            continue;
        };
        let Some(line) = line_of.get(acl_name) else {
            ctx.add(
                Status::Critical,
                bundle::USERS_ACL,
                format!("has no line for user `{u}`"),
            );
            continue;
        };
        let hashes = line.hashes();
        if !hashes.contains(&sha256_hex(pw.data.expose())) {
            ctx.add(
                Status::Critical,
                bundle::USERS_ACL,
                format!(
                    "the hash for `{u}` does not match {pw_file}: that password would be refused"
                ),
            );
        }
        if hashes.len() > 1 {
            let since = v
                .manifest()
                .iter()
                .flat_map(|m| m.rotations.iter())
                .find(|r| r.user == *u)
                .map(|r| r.started_at.clone());
            rotations.push(match since {
                Some(t) => format!("{u} (since {t})"),
                None => u.clone(),
            });
        }
    }
    rotations
}

/// A certificate revoked with its user (`provision user remove`) must not be back anywhere in
/// the bundle: Redis has no CRL, so a revoked certificate in ca.crt's company would log in
/// again the day its user is re-created by hand.
fn revoked_present(ctx: &mut Ctx, files: &Files, manifest: Option<&Manifest>) {
    let Some(m) = manifest else {
        return;
    };
    for (file, r) in super::users::revoked_certificates(files, &m.revoked) {
        ctx.add(
            Status::Critical,
            &file,
            format!(
                "holds the certificate of removed user `{}` (serial {}, revoked {}): remove it, or re-add the user with `provision user add` for a new certificate",
                r.user, r.serial, r.revoked_at
            ),
        );
    }
}

/// Each config: referenced files exist, and nothing weaker than the declared policy; the
/// rename map matches every Redis node's rename-command lines.
fn check_configs(
    ctx: &mut Ctx,
    v: &View,
    instances: &[crate::core::topology::Instance],
    exists: &dyn Fn(&str) -> bool,
) {
    let rename_map = v.text(bundle::RENAMED).map(render::parse_rename_map);
    match &rename_map {
        None => ctx.add(Status::Critical, bundle::RENAMED, "missing"),
        Some(Err(e)) => ctx.add(Status::Critical, bundle::RENAMED, e.clone()),
        _ => {}
    }
    let rename_map: Option<Vec<(String, String)>> = match &rename_map {
        Some(Ok(map)) => Some(map.iter().map(|r| (r.from.clone(), r.to.clone())).collect()),
        _ => None,
    };
    let masterauth = v
        .manifest()
        .filter(|m| !m.spec.topology.is_standalone())
        .map(|m| bundle::conf_dir_of(v.files, &m.spec))
        .map(|d| format!("{}/{}", d.trim_end_matches('/'), bundle::MASTERAUTH));
    for inst in instances {
        let conf_name = inst.conf.as_str();
        let Some(text) = v.text(conf_name) else {
            ctx.add(Status::Critical, conf_name, "missing");
            continue;
        };
        let (ds, bad) = conf::directives(text);
        for n in bad {
            ctx.add(
                Status::Critical,
                conf_name,
                format!("line {n} has unbalanced quotes (Redis refuses to start)"),
            );
        }
        let sentinel = inst.kind == crate::core::topology::InstanceKind::Sentinel;
        let keys: &[&str] = if sentinel {
            &["tls-cert-file", "tls-key-file", "tls-ca-cert-file"]
        } else {
            &[
                "tls-cert-file",
                "tls-key-file",
                "tls-ca-cert-file",
                "aclfile",
            ]
        };
        for &key in keys {
            match conf::last(&ds, key).map(|d| d.args.join(" ")) {
                Some(p) if !exists(&p) => ctx.add(
                    Status::Critical,
                    conf_name,
                    format!("{key} points at `{p}`, which does not exist"),
                ),
                None => ctx.add(Status::Critical, conf_name, format!("has no {key}")),
                _ => {}
            }
        }
        conf_policy(
            ctx,
            conf_name,
            &ds,
            v.manifest(),
            sentinel,
            masterauth.as_deref(),
        );
        if sentinel {
            sentinel_users(ctx, conf_name, &ds, v.manifest());
        } else {
            cert_identity_conf(ctx, conf_name, &ds, v.manifest());
            let in_conf: Vec<(String, String)> = conf::all(&ds, "rename-command")
                .filter(|d| d.args.len() == 2)
                .map(|d| (d.args[0].clone(), d.args[1].clone()))
                .collect();
            if rename_map.as_ref().is_some_and(|map| *map != in_conf) {
                ctx.add(
                    Status::Critical,
                    bundle::RENAMED,
                    format!("does not match the rename-command lines of {conf_name}"),
                );
            }
        }
    }
}

/// Sentinel keeps its own users (the rights its clients need) in sentinel.conf.
fn sentinel_users(
    ctx: &mut Ctx,
    conf_name: &str,
    ds: &[conf::Directive],
    manifest: Option<&Manifest>,
) {
    let users: Vec<conf::AclUser> = conf::all(ds, "user")
        .filter(|d| !d.args.is_empty())
        .map(|d| conf::AclUser {
            line: d.line,
            name: d.args[0].clone(),
            rules: d.args[1..].to_vec(),
        })
        .collect();
    acl_policy(ctx, conf_name, &users, manifest, false);
}

/// The declared user whose client certificate `crt` is.
fn user_of_crt<'a>(m: &'a Manifest, crt: &str) -> Option<&'a super::spec::UserSpec> {
    m.spec
        .users
        .iter()
        .find(|u| bundle::user_crt(&u.name) == crt)
}

/// A client certificate's CN decides who it logs in as where the server maps certificates to
/// users (`tls-auth-clients-user CN`): it must be what the bundle issues (`Spec::client_cn`),
/// the user's name for a certificate-identity user, a name of no user otherwise.
fn client_cn(ctx: &mut Ctx, crt: &str, cn: &str, manifest: Option<&Manifest>) {
    let Some(m) = manifest else { return };
    let Some(u) = user_of_crt(m, crt) else {
        return;
    };
    let want = m.spec.client_cn(u);
    if cn == want {
        return;
    }
    let why = if u.cert_login() {
        format!("user `{}` logs in by certificate, so its certificate must have CN `{want}`: it cannot log in", u.name)
    } else if m.spec.users.iter().any(|o| o.name == cn) {
        format!("its CN `{cn}` names a user: where the server maps certificates to users it would log in as `{cn}` without a password; expected CN `{want}`")
    } else {
        format!("has CN `{cn}`, but the bundle issues `{want}`")
    };
    ctx.add(
        Status::Critical,
        crt,
        format!("{why} (re-issue it with `provision renew --force`)"),
    );
}

/// Where the server maps URIs to users (`tls-auth-clients-user URI`), a certificate logs in
/// as the user its first URI SAN that names an enabled user names: a URI-identity user's
/// certificate must carry its URI, and no other client certificate a URI that names a user.
fn client_uri(ctx: &mut Ctx, crt: &str, sans: &[String], manifest: Option<&Manifest>) {
    let Some(m) = manifest else { return };
    if m.spec.cert_identity_mode() != Some("URI") {
        return;
    }
    let Some(u) = user_of_crt(m, crt) else {
        return;
    };
    let uris: Vec<&str> = sans.iter().filter_map(|s| s.strip_prefix("URI:")).collect();
    let named: Vec<&str> = uris
        .iter()
        .copied()
        .filter(|x| {
            m.spec
                .users
                .iter()
                .any(|o| o.cert_login() && o.acl_name() == *x)
        })
        .collect();
    let problem = match (&u.uri, named.as_slice()) {
        (Some(want), [one]) if one == want => return,
        (None, []) => return,
        (Some(want), _) => format!(
            "user `{}` logs in by its URI, so its certificate must carry URI SAN `{want}` and no other user's: it has {}",
            u.name,
            if uris.is_empty() { "none".to_string() } else { uris.join(", ") }
        ),
        (None, names) => format!(
            "has URI SAN `{}`, which names a user: the server would log it in as that user without a password",
            names.join(", ")
        ),
    };
    ctx.add(
        Status::Critical,
        crt,
        format!("{problem} (re-issue it with `provision renew --force`)"),
    );
}

/// `tls-auth-clients-user` exactly when the bundle has certificate-identity users: without it
/// they cannot log in; added to a bundle without them, every client certificate whose CN names
/// a user would log in as that user with no password.
fn cert_identity_conf(
    ctx: &mut Ctx,
    conf_name: &str,
    ds: &[conf::Directive],
    manifest: Option<&Manifest>,
) {
    let Some(m) = manifest else { return };
    let mode =
        conf::last(ds, "tls-auth-clients-user").map(|d| d.args.join(" ").to_ascii_lowercase());
    let want = m.spec.cert_identity_mode().map(str::to_ascii_lowercase);
    match (want.as_deref(), mode.as_deref()) {
        (Some(w), Some(v)) if w == v => {}
        (None, None | Some("off")) => {}
        (Some(_), _) => ctx.add(
            Status::Critical,
            conf_name,
            format!(
                "certificate-identity users cannot log in: `tls-auth-clients-user {}` is missing or changed",
                m.spec.cert_identity_mode().unwrap_or("CN")
            ),
        ),
        (None, Some(v)) => ctx.add(
            Status::Critical,
            conf_name,
            format!("has `tls-auth-clients-user {v}`, but the bundle's users log in by password: a client certificate would log in as the user it names without one; remove the line"),
        ),
    }
}

/// A CA rollover's state: the new CA it records is published in ca.crt (never first) with
/// its key beside it; once the overlap has passed, finishing is due. ca.crt trusts nothing
/// but the issuing CA, the rollover's new CA and old CAs in their overlap.
fn rollover(
    ctx: &mut Ctx,
    files: &Files,
    manifest: Option<&Manifest>,
    cas: &[CertInfo],
    now: OffsetDateTime,
) -> CaRolloverReport {
    use super::cakey::{Slot, CA_NEXT_KEY_AGE};
    let mut r = CaRolloverReport::default();
    let Some(m) = manifest else { return r };
    let time_of = |s: &str| {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap_or(now)
    };
    let listed = |n: &str| m.files.iter().any(|f| f.name == n);
    for o in &m.retired_cas {
        r.old_cas.push(OldCa {
            sha256_fingerprint: o.sha256_fingerprint.clone(),
            subject: o.subject.clone(),
            keep_until: o.keep_until.clone(),
            seconds_left: (time_of(&o.keep_until) - now).whole_seconds().max(0),
        });
    }
    for (i, ca) in cas.iter().enumerate().skip(1) {
        let fp = &ca.sha256_fingerprint;
        let known = m.retired_cas.iter().any(|o| &o.sha256_fingerprint == fp)
            || m.ca_rollover
                .as_ref()
                .is_some_and(|o| &o.sha256_fingerprint == fp);
        if !known {
            ctx.add(
                Status::Critical,
                bundle::CA_CRT,
                format!("certificate {} of ca.crt, `{}`, is neither the issuing CA, a rollover's new CA nor an old CA in its overlap (manifest.json records none of them): Redis would accept client certificates it signs; remove it", i + 1, ca.subject),
            );
        }
    }
    let Some(ro) = &m.ca_rollover else {
        for n in [Slot::Next.plain(), CA_NEXT_KEY_AGE] {
            if files.get(n).is_some() {
                ctx.add(Status::Critical, n, "a new CA key, but manifest.json records no CA rollover: remove it, or restore the bundle with `provision rollback`");
            }
        }
        if let Some(o) = r.old_cas.iter().max_by_key(|o| o.seconds_left) {
            r.phase = "old-ca-trusted";
            r.summary = format!(
                "CA rollover finished: ca.crt still trusts the old CA for the certificates it issued until {} (`provision renew --retire-old-ca` drops it sooner)",
                o.keep_until
            );
        }
        return r;
    };
    r.new_ca_sha256 = Some(ro.sha256_fingerprint.clone());
    r.started_at = Some(ro.started_at.clone());
    r.finish_after = Some(ro.finish_after.clone());
    // Rounded up: "0 s left" only once `renew` would finish it.
    let d = time_of(&ro.finish_after) - now;
    let left = if d.is_positive() {
        d.whole_seconds() + i64::from(d.subsec_nanoseconds() > 0)
    } else {
        0
    };
    r.overlap_seconds_left = Some(left);
    match cas.iter().position(|c| c.sha256_fingerprint == ro.sha256_fingerprint) {
        None => ctx.add(
            Status::Critical,
            bundle::CA_CRT,
            format!("the CA rollover's new CA `{}` (recorded in manifest.json) is missing from ca.crt: clients cannot learn to trust it; restore the bundle with `provision rollback`", ro.subject),
        ),
        Some(0) => ctx.add(
            Status::Critical,
            bundle::CA_CRT,
            format!("the CA rollover's new CA `{}` is first in ca.crt, as if it issued, but the rollover has not finished", ro.subject),
        ),
        Some(i) => {
            let protected = m.spec.ca_key.is_some();
            let (want, other) = if protected {
                (CA_NEXT_KEY_AGE, Slot::Next.plain())
            } else {
                (Slot::Next.plain(), CA_NEXT_KEY_AGE)
            };
            match files.get(want) {
                None if listed(want) => {}
                None => ctx.add(Status::Critical, want, "missing: the CA rollover cannot finish without the new CA's key"),
                Some(f) if !protected => key_matches(ctx, want, f.data.expose_str(), &cas[i]),
                Some(f) => {
                    if let Err(e) = super::cakey::sealed_with_passphrase(f.data.expose()) {
                        ctx.add(Status::Critical, want, e.to_string());
                    }
                }
            }
            if files.get(other).is_some() {
                ctx.add(Status::Critical, other, format!("does not belong in this bundle (its new CA key is {want})"));
            }
        }
    }
    if left > 0 {
        r.phase = "overlap";
        r.summary = format!(
            "CA rollover, step 1 of 2: a new CA is published in ca.crt; every certificate stays on the old CA until {} ({} left). Ship ca.crt to every client now",
            ro.finish_after,
            human(left)
        );
    } else {
        r.phase = "finish-due";
        r.summary = format!(
            "CA rollover, step 1 of 2 done: the overlap ended on {}",
            ro.finish_after
        );
        ctx.add(
            Status::Warning,
            bundle::CA_CRT,
            format!("the CA rollover's overlap ended on {}: `provision renew --rollover-ca --finish` (or the renew timer) moves every certificate to the new CA", ro.finish_after),
        );
    }
    r
}

/// The signature over `manifest.json`, then every file against the digest, size and mode the
/// manifest records, and no file the manifest does not list. A bundle from before signing
/// (no signer, no signature) is a WARNING, and its records are still compared.
fn integrity(
    ctx: &mut Ctx,
    files: &Files,
    index: &HashMap<&str, &OutFile>,
    manifest: Option<&Manifest>,
    cas: &[CertInfo],
) -> IntegrityReport {
    let mut r = IntegrityReport {
        ca_fingerprint: cas
            .first()
            .map(|c| integrity::openssl_fingerprint(&c.sha256_fingerprint))
            .unwrap_or_default(),
        ..Default::default()
    };
    let Some(m) = manifest else { return r };
    let get = |n: &str| index.get(n).copied();
    let sig = get(integrity::MANIFEST_SIG);
    let signer = get(integrity::SIGNER_CRT);
    let manifest_bytes = get(bundle::MANIFEST)
        .map(|f| f.data.expose())
        .unwrap_or(&[]);
    match (sig, signer) {
        (None, None) => ctx.add(
            Status::Warning,
            bundle::MANIFEST,
            format!("not signed (a bundle made before provision signed its manifests): a hand edit cannot be told from provision's own; `provision renew --force` adds a signer ({})", integrity::SIGNER_CRT),
        ),
        (None, Some(_)) => ctx.add_local(
            Status::Critical,
            integrity::MANIFEST_SIG,
            "missing: the bundle has a signer, so its manifest must be signed (removed by hand?)",
        ),
        (Some(_), None) => ctx.add_local(
            Status::Critical,
            integrity::SIGNER_CRT,
            "missing: manifest.sig cannot be verified without it",
        ),
        (Some(sig), Some(signer)) => {
            let ders: Vec<Vec<u8>> = cas.iter().map(|c| c.der.clone()).collect();
            match integrity::verify(signer.data.expose(), &ders, manifest_bytes, sig.data.expose()) {
                Ok(fp) => {
                    r.signed = true;
                    r.signer_sha256 = Some(fp);
                }
                Err(e) => {
                    let file = match e {
                        integrity::IntegrityError::BadSignature => bundle::MANIFEST,
                        integrity::IntegrityError::Malformed => integrity::MANIFEST_SIG,
                        _ => integrity::SIGNER_CRT,
                    };
                    ctx.add_local(Status::Critical, file, e.to_string());
                }
            }
        }
    }
    let what = if r.signed {
        "the signed manifest"
    } else {
        "manifest.json"
    };
    let mut listed = std::collections::HashSet::with_capacity(m.files.len());
    for rec in &m.files {
        listed.insert(rec.name.as_str());
        let Some(f) = get(&rec.name) else { continue };
        r.files_verified += 1;
        let data = f.data.expose();
        let changed = match (&rec.sha256, &rec.secret_digest) {
            (Some(h), _) => *h != sha256_hex(data),
            (None, Some(h)) => *h != bundle::secret_digest(&rec.name, data),
            (None, None) => rec.bytes != data.len(),
        };
        if changed {
            ctx.add_local(
                Status::Critical,
                &rec.name,
                format!("changed since provision wrote it: its content is not what {what} records (edited by hand or tampered with); undo the edit, `provision rollback`, or rerun the command with --accept-local-changes if the edit was intended"),
            );
        }
        if format!("{:04o}", f.mode) != rec.mode {
            ctx.add_local(
                Status::Critical,
                &rec.name,
                format!("mode {:04o}, but {what} records {}", f.mode, rec.mode),
            );
        }
    }
    for f in &files.0 {
        let n = f.name.as_str();
        if n != bundle::MANIFEST && n != integrity::MANIFEST_SIG && !listed.contains(n) {
            ctx.add_local(
                Status::Critical,
                n,
                format!("not part of the bundle provision wrote ({what} does not list it); remove it, or rerun the command with --accept-local-changes to keep it"),
            );
        }
    }
    r
}

/// The CA key at rest: plaintext `ca.key` must match the CA; a protected one must be only
/// `ca.key.age` (never next to a plaintext copy), hold a valid age header, and be sealed the
/// way the manifest says. Whether it matches cannot be seen without the identity.
fn ca_key_at_rest(
    ctx: &mut Ctx,
    files: &Files,
    manifest: Option<&Manifest>,
    ca: Option<&CertInfo>,
) -> CaKeyReport {
    let Some(p) = manifest.and_then(|m| m.spec.ca_key.as_ref()) else {
        let mut matches_ca = None;
        if let (Some(key), Some(ca)) = (files.text(bundle::CA_KEY), ca) {
            let before = ctx.findings.len();
            key_matches(ctx, bundle::CA_KEY, key, ca);
            matches_ca = Some(ctx.findings.len() == before);
        }
        return CaKeyReport {
            file: bundle::CA_KEY.into(),
            protected: false,
            matches_ca,
            summary: "CA key in plaintext (ca.key)".into(),
            ..CaKeyReport::default()
        };
    };
    if files.get(bundle::CA_KEY).is_some() {
        ctx.add(
            Status::Critical,
            bundle::CA_KEY,
            format!("a plaintext CA key in a bundle whose CA key is protected ({CA_KEY_AGE}): whoever reads it can sign; remove it after checking that {CA_KEY_AGE} opens"),
        );
    }
    let listed = manifest.is_some_and(|m| m.files.iter().any(|f| f.name == CA_KEY_AGE));
    match files.get(CA_KEY_AGE) {
        // A file the manifest lists is already reported missing.
        None if listed => {}
        None => ctx.add(
            Status::Critical,
            CA_KEY_AGE,
            "missing: manifest.json says the CA key is protected, so renew cannot sign",
        ),
        Some(f) => match cakey::sealed_with_passphrase(f.data.expose()) {
            Err(e) => ctx.add(Status::Critical, CA_KEY_AGE, e.to_string()),
            Ok(pw) if pw != (*p == Protection::Passphrase) => ctx.add(
                Status::Warning,
                CA_KEY_AGE,
                format!(
                    "is encrypted with {}, but manifest.json records {}; renew will ask for the wrong key",
                    if pw { "a passphrase" } else { "recipients" },
                    p.method()
                ),
            ),
            Ok(_) => {}
        },
    }
    CaKeyReport {
        file: CA_KEY_AGE.into(),
        protected: true,
        method: Some(p.method().into()),
        recipients: match p {
            Protection::Recipients { recipients } => recipients.clone(),
            Protection::Passphrase => vec![],
        },
        matches_ca: None,
        summary: format!("CA key protected ({})", p.describe()),
    }
}

fn expiry(
    ctx: &mut Ctx,
    file: &str,
    role: &str,
    c: &CertInfo,
    now: OffsetDateTime,
    th: Thresholds,
    informational: bool,
) -> CertStatus {
    let lifetime = (c.not_after - c.not_before).whole_seconds().max(1);
    let left = (c.not_after - now).whole_seconds();
    let status = if informational {
        Status::Ok
    } else if left <= 0 {
        ctx.add_expiry(
            Status::Critical,
            file,
            format!("`{}` expired on {}", c.common_name, c.not_after.date()),
        );
        Status::Critical
    } else if c.not_before > now {
        ctx.add_expiry(
            Status::Critical,
            file,
            format!("`{}` is not valid before {}", c.common_name, c.not_before),
        );
        Status::Critical
    } else if left < th.crit_secs(lifetime) {
        ctx.add_expiry(
            Status::Critical,
            file,
            format!("`{}` expires in {}", c.common_name, human(left)),
        );
        Status::Critical
    } else if left < th.warn_secs(lifetime) {
        ctx.add_expiry(
            Status::Warning,
            file,
            format!(
                "`{}` expires in {}; renewal is due (`provision renew`)",
                c.common_name,
                human(left)
            ),
        );
        Status::Warning
    } else {
        Status::Ok
    };
    CertStatus {
        file: file.into(),
        role: role.into(),
        subject: c.subject.clone(),
        serial: c.serial.clone(),
        not_before: bundle::rfc3339(c.not_before),
        not_after: bundle::rfc3339(c.not_after),
        not_after_unix: c.not_after.unix_timestamp(),
        seconds_left: left,
        fraction_left: (left as f64 / lifetime as f64).clamp(0.0, 1.0),
        status,
        sans: c.sans.clone(),
    }
}

fn key_matches(ctx: &mut Ctx, key_file: &str, key_pem: &str, cert: &CertInfo) {
    match inspect::key_spki_as(key_pem, &cert.key_algorithm) {
        Ok(spki) if spki == cert.spki_der => {}
        Ok(_) => ctx.add(
            Status::Critical,
            key_file,
            format!(
                "does not match the certificate `{}` (swapped or replaced key?)",
                cert.common_name
            ),
        ),
        Err(e) => ctx.add(
            Status::Critical,
            key_file,
            format!("unreadable private key: {e}"),
        ),
    }
}

/// The value of a directive in redis.conf, unquoted.
pub fn conf_value(text: &str, key: &str) -> Option<String> {
    conf::value(text, key)
}

/// Rules that widen a user beyond any non-admin role: every command, the admin or dangerous
/// categories.
const WIDE: &[&str] = &["+@all", "allcommands", "+@admin", "+@dangerous"];

/// Each ACL user against the declared policy: only declared users (and `default`, off),
/// hashed passwords only, and no rule wider than the user's role grants. `strict` also
/// holds key and channel patterns to the declared ones (users.acl; a Sentinel's own users
/// have no keys).
fn acl_policy(
    ctx: &mut Ctx,
    file: &str,
    lines: &[conf::AclUser],
    manifest: Option<&Manifest>,
    strict: bool,
) {
    use super::spec::Role;
    let mut seen = std::collections::HashSet::new();
    for u in lines {
        let name = u.name.as_str();
        if !seen.insert(name) {
            ctx.add(
                Status::Critical,
                file,
                format!("user `{name}` is defined twice (line {})", u.line),
            );
        }
        for r in &u.rules {
            if r.starts_with('>') {
                ctx.add(
                    Status::Critical,
                    file,
                    format!("user `{name}` has a plaintext password; store only #<sha256> hashes"),
                );
            } else if r.eq_ignore_ascii_case("nopass") {
                ctx.add(
                    Status::Critical,
                    file,
                    format!("user `{name}` has nopass: any password logs in"),
                );
            } else if let Some(h) = r.strip_prefix('#') {
                if !is_acl_hash(h) {
                    ctx.add(
                        Status::Critical,
                        file,
                        format!("user `{name}` has a malformed hash (Redis refuses to start)"),
                    );
                }
            }
        }
        if name == "default" {
            if u.enabled() {
                ctx.add(Status::Critical, file, "the default user is enabled: clients that do not log in would get its rights; it must be `user default off`");
            }
            continue;
        }
        let Some(m) = manifest else { continue };
        let Some(spec) = m.spec.users.iter().find(|s| s.acl_name() == name) else {
            ctx.add(
                Status::Critical,
                file,
                format!(
                    "user `{name}` (line {}) is not one of the bundle's users ({}): added by hand?",
                    u.line,
                    m.spec
                        .users
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        };
        // Admins have everything; on a Sentinel, so do the Sentinels' own peer logins.
        if matches!(spec.role, Role::Admin) || (!strict && matches!(spec.role, Role::Sentinel)) {
            continue;
        }
        for r in &u.rules {
            let lower = r.to_ascii_lowercase();
            let grant = lower.starts_with('+') || lower == "allcommands";
            let widened = if matches!(spec.role, Role::Custom) {
                // A custom user has exactly the command rules it was declared with.
                grant && !spec.commands.iter().any(|c| c.eq_ignore_ascii_case(r))
            } else {
                WIDE.contains(&lower.as_str())
                    || (!matches!(spec.role, Role::Sentinel)
                        && lower.strip_prefix('+').is_some_and(|c| {
                            let base = c.split('|').next().unwrap_or("");
                            super::spec::RENAMED_COMMANDS
                                .iter()
                                .any(|d| d.eq_ignore_ascii_case(base))
                        }))
            };
            if widened {
                ctx.add(
                    Status::Critical,
                    file,
                    format!(
                        "user `{name}` has `{r}`, wider than its declared role ({:?})",
                        spec.role
                    ),
                );
            }
        }
        if !strict {
            continue;
        }
        let declared = |v: &Option<Vec<String>>, role_default: bool| -> Vec<String> {
            match v {
                Some(p) => p.clone(),
                None if role_default => vec!["*".into()],
                None => vec![],
            }
        };
        let data_role = matches!(spec.role, Role::App | Role::Custom);
        let keys = declared(&spec.keys, data_role);
        let channels = declared(&spec.channels, data_role);
        for r in &u.rules {
            let (kind, pat, allowed) = if r.eq_ignore_ascii_case("allkeys") {
                ("key pattern", "*", &keys)
            } else if r.eq_ignore_ascii_case("allchannels") {
                ("channel pattern", "*", &channels)
            } else if let Some(p) = r.strip_prefix('~').or_else(|| {
                r.strip_prefix('%')
                    .and_then(|x| x.split_once('~'))
                    .map(|(_, p)| p)
            }) {
                ("key pattern", p, &keys)
            } else if let Some(p) = r.strip_prefix('&') {
                ("channel pattern", p, &channels)
            } else {
                continue;
            };
            // The Sentinel user's hello channel is part of its role.
            if matches!(spec.role, Role::Sentinel) && pat == "__sentinel__:hello" {
                continue;
            }
            if !allowed.iter().any(|a| a == pat) {
                ctx.add(
                    Status::Critical,
                    file,
                    format!("user `{name}` has {kind} `{pat}`, which is not declared for it"),
                );
            }
        }
    }
}

/// A Redis or Sentinel config against the bundle's declared policy (the last directive of a
/// key is the one Redis uses).
fn conf_policy(
    ctx: &mut Ctx,
    file: &str,
    ds: &[conf::Directive],
    manifest: Option<&Manifest>,
    sentinel: bool,
    masterauth: Option<&str>,
) {
    let val = |k: &str| conf::last(ds, k).map(|d| d.args.join(" "));
    if val("port").as_deref() != Some("0") {
        ctx.add(
            Status::Critical,
            file,
            "does not disable the plaintext port (`port 0`)",
        );
    }
    if val("tls-port").is_none_or(|p| p == "0") {
        ctx.add(
            Status::Critical,
            file,
            "has no tls-port: it would serve no TLS",
        );
    }
    if let Some(v) = val("tls-auth-clients") {
        if !v.eq_ignore_ascii_case("yes") {
            ctx.add(Status::Critical, file, format!("tls-auth-clients {v}: clients without a certificate from the bundle's CA would be let in; it must be yes"));
        }
    }
    if let Some(v) = val("protected-mode") {
        if !v.eq_ignore_ascii_case("yes") {
            ctx.add(
                Status::Critical,
                file,
                format!("protected-mode {v}: it must be yes"),
            );
        }
    }
    if let Some(m) = manifest {
        match conf::last(ds, "bind") {
            None => ctx.add(
                Status::Critical,
                file,
                "has no bind: Redis would listen on every interface",
            ),
            Some(d) => {
                for a in &d.args {
                    if !m.spec.bind.iter().any(|b| b == a) {
                        ctx.add(
                            Status::Critical,
                            file,
                            format!(
                                "binds `{a}`, which the bundle does not declare (declared: {})",
                                m.spec.bind.join(" ")
                            ),
                        );
                    }
                }
            }
        }
    }
    for d in ds {
        match d.key.as_str() {
            "loadmodule" => ctx.add(
                Status::Critical,
                file,
                format!("loads a module (line {})", d.line),
            ),
            "requirepass" => ctx.add(
                Status::Critical,
                file,
                format!(
                    "sets requirepass (line {}): passwords belong in the ACL file",
                    d.line
                ),
            ),
            "user" if !sentinel => ctx.add(
                Status::Critical,
                file,
                format!(
                    "defines a user (line {}): users belong in the ACL file",
                    d.line
                ),
            ),
            "include" if d.args.first().map(String::as_str) != masterauth => ctx.add(
                Status::Critical,
                file,
                format!(
                    "includes `{}` (line {}), which is not part of the bundle",
                    d.args.join(" "),
                    d.line
                ),
            ),
            _ => {}
        }
    }
    if sentinel {
        return;
    }
    for k in [
        "enable-debug-command",
        "enable-module-command",
        "enable-protected-configs",
    ] {
        if let Some(v) = val(k) {
            if !v.eq_ignore_ascii_case("no") {
                ctx.add(Status::Critical, file, format!("{k} {v}: it must be no"));
            }
        }
    }
    // Settings only newer servers have: on the bundle's target the server would not start.
    if let Some(m) = manifest {
        for problem in super::server::unsupported_directives(m.spec.target(), ds) {
            ctx.add(Status::Critical, file, problem);
        }
    }
    // What the bundle's target renames (CONFIG keeps its name where the Lua engine asks for
    // it); a bundle without a manifest is held to the full list.
    let renamed = manifest.map_or_else(
        || super::spec::RENAMED_COMMANDS.to_vec(),
        |m| m.spec.renamed_commands(),
    );
    for c in renamed {
        if !conf::all(ds, "rename-command")
            .any(|d| d.args.first().is_some_and(|a| a.eq_ignore_ascii_case(c)))
        {
            ctx.add(
                Status::Critical,
                file,
                format!("does not rename {c}: any user allowed it could run it under its own name"),
            );
        }
    }
}

/// Paths in the bundle's configs that lead outside it: every certificate, key, ACL file and
/// include a config names must be one of the bundle's own files in `conf_dir` (the bundle
/// directory under any of the names in `conf_dirs`, e.g. as given and with links resolved;
/// or the directory a container mounts it at). A generation copied in from
/// another bundle names that bundle's files.
pub fn foreign_paths(files: &Files, conf_dirs: &[String]) -> Vec<Finding> {
    let Some(m) = files
        .text(bundle::MANIFEST)
        .and_then(|t| serde_json::from_str::<Manifest>(t).ok())
    else {
        return vec![];
    };
    let dirs: Vec<&str> = match m.spec.mount_dir.as_deref() {
        Some(d) => vec![d.trim_end_matches('/')],
        None => conf_dirs.iter().map(|d| d.trim_end_matches('/')).collect(),
    };
    let dir = dirs.first().copied().unwrap_or("");
    let mut out = Vec::new();
    for inst in m.spec.instances() {
        let Some(text) = files.text(&inst.conf) else {
            continue;
        };
        let (ds, _) = conf::directives(text);
        for d in ds.iter().filter(|d| {
            matches!(
                d.key.as_str(),
                "tls-cert-file" | "tls-key-file" | "tls-ca-cert-file" | "aclfile" | "include"
            )
        }) {
            let p = d.args.join(" ");
            let own = dirs.iter().any(|dir| {
                p.strip_prefix(dir)
                    .and_then(|r| r.strip_prefix('/'))
                    .is_some_and(|n| !n.contains('/') && files.get(n).is_some())
            });
            if !own {
                out.push(Finding {
                    status: Status::Critical,
                    file: inst.conf.clone(),
                    message: format!(
                        "{} points at `{p}`, which is not this bundle's own file (in `{dir}`): a generation from another bundle?",
                        d.key
                    ),
                    expiry: false,
                    local_change: false,
                });
            }
        }
    }
    out
}

/// The consistency problems that make a bundle unsafe to renew or rotate over: everything
/// CRITICAL except expiry (an expired certificate is exactly what renewal is for).
pub fn blocking(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.status == Status::Critical && !f.expiry)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::bundle::OutFile;
    use crate::core::secret::Secret;
    use crate::core::spec::Spec;

    fn fresh(spec: &Spec) -> Files {
        bundle::generate(
            spec,
            &bundle::Gen::new("/b", "g", OffsetDateTime::now_utc()),
        )
        .unwrap()
    }
    fn run(f: &Files) -> Report {
        check(f, OffsetDateTime::now_utc(), Thresholds::default(), &|p| {
            p.starts_with("/b/")
        })
    }

    /// `mutate` applied to `base` makes the bundle CRITICAL with a finding saying `message`.
    fn critical_after(what: &str, base: &Files, mutate: &dyn Fn(&mut Files), message: &str) {
        let mut f = base.clone();
        mutate(&mut f);
        let r = run(&f);
        assert_eq!(r.status, Status::Critical, "{what}: {:#?}", r.findings);
        assert!(
            r.findings.iter().any(|x| x.message.contains(message)),
            "{what}: no finding says `{message}`: {:#?}",
            r.findings
        );
    }

    #[test]
    fn fresh_bundle_is_ok() {
        let r = run(&fresh(&Spec::default()));
        assert_eq!(r.status, Status::Ok, "{:#?}", r.findings);
        assert_eq!(r.certificates.len(), 5);
    }

    #[test]
    fn short_lived_is_ok_fresh_warning_when_due_and_critical_with_crit() {
        let f = fresh(&Spec {
            cert_validity: "1h".parse().unwrap(),
            ..Spec::default()
        });
        assert_eq!(run(&f).status, Status::Ok);
        // 45 minutes on, less than a third of 65 minutes (with the backdate) is left.
        let due = OffsetDateTime::now_utc() + time::Duration::minutes(45);
        assert_eq!(
            check(&f, due, Thresholds::default(), &|_| true).status,
            Status::Warning
        );
        let r = check(
            &f,
            OffsetDateTime::now_utc(),
            Thresholds {
                warn: None,
                crit: Some("2h".parse().unwrap()),
            },
            &|_| true,
        );
        assert_eq!(r.status, Status::Critical);
        let later = OffsetDateTime::now_utc() + time::Duration::hours(2);
        let r = check(&f, later, Thresholds::default(), &|_| true);
        assert_eq!(r.status, Status::Critical);
        assert!(r
            .findings
            .iter()
            .any(|x| x.message.contains("expired") && x.file == "redis.crt"));
    }

    #[test]
    fn a_setting_the_target_server_lacks_is_critical() {
        let spec = |t: &str| Spec {
            server: Some(t.parse().unwrap()),
            ..Spec::default()
        };
        // Made for valkey-9.1, the bundle sets auto reload itself: OK.
        let f = fresh(&spec("valkey-9.1"));
        assert!(
            String::from_utf8_lossy(f.get("redis.conf").unwrap().data.expose())
                .contains("tls-auto-reload-interval 60")
        );
        assert_eq!(run(&f).status, Status::Ok, "{:#?}", run(&f).findings);
        // The same line in a bundle for redis-8.0 names the directive, the line and who has it.
        for (target, line, who) in [
            ("redis-8.0", "tls-auto-reload-interval 60", "Valkey 9.1"),
            ("redis-8.4", "tls-auth-clients-user CN", "Redis 8.6"),
            ("valkey-9.0", "tls-auth-clients-user URI", "Valkey 9.1"),
        ] {
            let mut f = fresh(&spec(target));
            let conf =
                String::from_utf8_lossy(f.get("redis.conf").unwrap().data.expose()).into_owned();
            f.put(OutFile::secret(
                "redis.conf",
                Secret::from_string(format!("{conf}{line}\n")),
            ));
            let r = run(&f);
            let key = line.split(' ').next().unwrap();
            assert!(
                r.findings.iter().any(|x| x.status == Status::Critical
                    && x.message.contains(key)
                    && x.message.contains(target)
                    && x.message.contains(who)),
                "{target}: {:#?}",
                r.findings
            );
        }
        let mut f = fresh(&spec("valkey-9.1"));
        let conf = String::from_utf8_lossy(f.get("redis.conf").unwrap().data.expose()).into_owned();
        f.put(OutFile::secret(
            "redis.conf",
            Secret::from_string(format!("{conf}tls-auth-clients-user URI\n")),
        ));
        // valkey-9.1 has URI mode: not a setting it lacks, but a mapping a bundle of password
        // users must not have.
        let findings = run(&f).findings;
        assert!(
            !findings
                .iter()
                .any(|x| x.message.contains("Valkey 9.1 and newer")),
            "valkey-9.1 has URI mode: {findings:#?}"
        );
        assert!(
            findings.iter().any(|x| x.message.contains(
                "`tls-auth-clients-user uri`, but the bundle's users log in by password"
            )),
            "{findings:#?}"
        );
    }

    #[test]
    fn certificate_identity_is_checked() {
        use crate::core::spec::UserAuth;
        let spec = |app: UserAuth, monitor: UserAuth| {
            let mut s = Spec {
                server: Some("valkey-9.1".parse().unwrap()),
                ..Spec::default()
            };
            for u in s.users.iter_mut() {
                u.auth = Some(match u.name.as_str() {
                    "monitor" => monitor,
                    _ => app,
                });
            }
            s
        };
        let certs = fresh(&spec(UserAuth::Cert, UserAuth::Password));
        assert_eq!(
            run(&certs).status,
            Status::Ok,
            "{:#?}",
            run(&certs).findings
        );
        assert!(certs.get("app.password").is_none() && certs.get("monitor.password").is_some());
        let passwords = fresh(&spec(UserAuth::Password, UserAuth::Password));
        assert_eq!(run(&passwords).status, Status::Ok);
        let all_certs = fresh(&spec(UserAuth::Cert, UserAuth::Cert));
        fn edit(f: &mut Files, name: &str, from: &str, to: &str) {
            let t = f.text(name).unwrap().replace(from, to);
            assert_ne!(f.text(name).unwrap(), t, "{name}: `{from}` not found");
            f.put(OutFile::secret(name, Secret::from_string(t)));
        }
        type Mutation<'a> = Box<dyn Fn(&mut Files) + 'a>;
        let cases: Vec<(&str, &Files, Mutation<'_>, &str)> = vec![
            (
                "nopass for a certificate-only user",
                &certs,
                Box::new(|f| {
                    edit(
                        f,
                        "users.acl",
                        "user app on resetpass",
                        "user app on nopass",
                    )
                }),
                "must have `resetpass`",
            ),
            (
                "a password hash for a certificate-only user",
                &certs,
                Box::new(|f| {
                    let h = crate::core::password::sha256_hex(b"x");
                    edit(
                        f,
                        "users.acl",
                        "user app on resetpass",
                        &format!("user app on #{h}"),
                    )
                }),
                "must have `resetpass`",
            ),
            (
                "the mapping removed",
                &certs,
                Box::new(|f| edit(f, "redis.conf", "tls-auth-clients-user CN", "")),
                "cannot log in",
            ),
            (
                "the mapping added to a password bundle",
                &passwords,
                Box::new(|f| {
                    edit(
                        f,
                        "redis.conf",
                        "tls-auth-clients yes",
                        "tls-auth-clients yes\ntls-auth-clients-user CN",
                    )
                }),
                "without one; remove the line",
            ),
            (
                "a password user's certificate naming the user",
                &certs,
                Box::new(|f| f.put(all_certs.get("monitor.crt").unwrap().clone())),
                "names a user",
            ),
        ];
        for (what, base, mutate, message) in cases {
            critical_after(what, base, &*mutate, message);
        }
    }

    #[test]
    fn uri_identity_is_checked() {
        use crate::core::spec::UserAuth;
        let spec = |uri: &str| {
            let mut s = Spec {
                server: Some("valkey-9.1".parse().unwrap()),
                ..Spec::default()
            };
            s.users[1].auth = Some(UserAuth::Cert);
            s.users[1].uri = Some(uri.into());
            s
        };
        let base = fresh(&spec("spiffe://example.org/sa/app"));
        assert_eq!(run(&base).status, Status::Ok, "{:#?}", run(&base).findings);
        assert!(base
            .text("users.acl")
            .unwrap()
            .contains("\nuser spiffe://example.org/sa/app on resetpass "));
        // Same users, the app certificate of a bundle where app has another URI.
        let other = fresh(&spec("spiffe://example.org/sa/other"));
        type Mutation<'a> = Box<dyn Fn(&mut Files) + 'a>;
        let cases: Vec<(&str, Mutation<'_>, &str)> = vec![
            (
                "the certificate carries another URI",
                Box::new(|f| f.put(other.get("app.crt").unwrap().clone())),
                "must carry URI SAN `spiffe://example.org/sa/app`",
            ),
            (
                "the mode turned to CN",
                Box::new(|f| {
                    let t = f
                        .text("redis.conf")
                        .unwrap()
                        .replace("tls-auth-clients-user URI", "tls-auth-clients-user CN");
                    f.put(OutFile::secret("redis.conf", Secret::from_string(t)));
                }),
                "`tls-auth-clients-user URI` is missing or changed",
            ),
        ];
        for (what, mutate, message) in cases {
            critical_after(what, &base, &*mutate, message);
        }
    }

    #[test]
    fn each_defect_is_named() {
        let base = fresh(&Spec::default());
        let other = fresh(&Spec::default());
        type Mutation = Box<dyn Fn(&mut Files)>;
        let cases: Vec<(&str, Mutation, &str)> = vec![
            (
                "swapped key",
                Box::new(|f: &mut Files| {
                    let k = f.get("app.key").unwrap().clone();
                    f.put(OutFile {
                        name: "redis.key".into(),
                        ..k
                    });
                }),
                "redis.key",
            ),
            (
                "foreign cert",
                Box::new(move |f: &mut Files| {
                    f.put(other.get("app.crt").unwrap().clone());
                }),
                "app.crt",
            ),
            (
                "0644 key",
                Box::new(|f: &mut Files| {
                    let mut k = f.get("app.key").unwrap().clone();
                    k.mode = 0o644;
                    f.put(k);
                }),
                "app.key",
            ),
            (
                "tampered hash",
                Box::new(|f: &mut Files| {
                    let h = crate::core::password::sha256_hex(
                        f.get("app.password").unwrap().data.expose(),
                    );
                    let acl = f.text("users.acl").unwrap().replace(&h, &"a".repeat(64));
                    f.put(OutFile::secret("users.acl", Secret::from_string(acl)));
                }),
                "users.acl",
            ),
            (
                "missing file",
                Box::new(|f: &mut Files| f.0.retain(|x| x.name != "monitor.crt")),
                "monitor.crt",
            ),
            (
                "default user open",
                Box::new(|f: &mut Files| {
                    let a = f
                        .text("users.acl")
                        .unwrap()
                        .lines()
                        .skip(1)
                        .collect::<Vec<_>>()
                        .join("\n");
                    f.put(OutFile::secret("users.acl", Secret::from_string(a)));
                }),
                "users.acl",
            ),
            (
                "garbage cert",
                Box::new(|f: &mut Files| f.put(OutFile::public("ca.crt", "garbage"))),
                "ca.crt",
            ),
            (
                "rename mismatch",
                Box::new(|f: &mut Files| {
                    f.put(OutFile::secret(
                        "renamed-commands",
                        Secret::from_string("CONFIG x\n".into()),
                    ))
                }),
                "renamed-commands",
            ),
        ];
        for (what, mutate, file) in cases {
            let mut f = base.clone();
            mutate(&mut f);
            let r = run(&f);
            assert_eq!(r.status, Status::Critical, "{what}: {:#?}", r.findings);
            assert!(
                r.findings.iter().any(|x| x.file == file),
                "{what}: no finding names {file}: {:#?}",
                r.findings
            );
        }
    }

    #[test]
    fn missing_conf_paths_are_critical() {
        let f = fresh(&Spec::default());
        let r = check(
            &f,
            OffsetDateTime::now_utc(),
            Thresholds::default(),
            &|_| false,
        );
        assert_eq!(r.status, Status::Critical);
        assert!(r
            .findings
            .iter()
            .any(|x| x.message.contains("tls-cert-file")));
    }

    #[test]
    fn default_thresholds() {
        let t = Thresholds::default();
        assert_eq!(t.warn_secs(365 * 86_400), 365 * 86_400 / 3);
        assert_eq!(
            t.warn_secs(3600),
            1200,
            "no floor: a 1-hour certificate is OK from birth"
        );
        assert_eq!(t.crit_secs(365 * 86_400), 7 * 86_400);
        assert_eq!(t.crit_secs(3600), 360);
    }

    #[test]
    fn protected_ca_key_is_not_missing_but_must_be_a_lone_age_file() {
        use crate::core::cakey::{Protection, Sealer, CA_KEY_AGE};
        let spec = Spec {
            ca_key: Some(Protection::Recipients {
                recipients: vec![age::x25519::Identity::generate().to_public().to_string()],
            }),
            ..Spec::default()
        };
        let sealer = Sealer::for_protection(spec.ca_key.as_ref(), None).unwrap();
        let f = bundle::generate(
            &spec,
            &bundle::Gen::new("/b", "g", OffsetDateTime::now_utc()).sealed(&sealer),
        )
        .unwrap();
        let r = run(&f);
        assert_eq!(r.status, Status::Ok, "{:#?}", r.findings);
        assert!(r.ca_key.protected && r.ca_key.matches_ca.is_none());
        assert_eq!(r.ca_key.summary, "CA key protected (age, 1 recipient)");

        let plain = fresh(&Spec::default());
        let r = run(&plain);
        assert!(!r.ca_key.protected);
        assert_eq!(r.ca_key.matches_ca, Some(true));

        let mut leaked = f.clone();
        leaked.put(plain.get("ca.key").unwrap().clone());
        let r = run(&leaked);
        assert_eq!(r.status, Status::Critical);
        assert!(r
            .findings
            .iter()
            .any(|x| x.file == "ca.key" && x.message.contains("plaintext")));

        let mut garbage = f.clone();
        garbage.put(OutFile::secret(
            CA_KEY_AGE,
            plain.get("ca.key").unwrap().data.clone(),
        ));
        let r = run(&garbage);
        assert_eq!(r.status, Status::Critical);
        assert!(r
            .findings
            .iter()
            .any(|x| x.file == CA_KEY_AGE && x.message.contains("age header")));

        let mut gone = f.clone();
        gone.0.retain(|x| x.name != CA_KEY_AGE);
        let r = run(&gone);
        assert_eq!(r.status, Status::Critical);
        assert!(r.findings.iter().any(|x| x.file == CA_KEY_AGE));
    }
}
