//! Users after day one, pure: what `provision user add|set|disable|enable|remove` makes of a
//! bundle generation. Each change is one new set of files: the spec in the manifest, users.acl
//! (every other user's hashes kept as they are, a rotation in progress included), the
//! Sentinels' configs, and the user's own files: a new user's certificate (from the bundle's
//! CA), key and password; a removed user's files gone and its certificate recorded as revoked.

use super::bundle::{self, BuildError, Files, Manifest, OutFile, Records, Revoked};
use super::conf::acl_hashes;
use super::files::{user_crt, user_key, user_password};
use super::password::{self, sha256_hex};
use super::pki::{self, BACKDATE};
use super::render::{AclEntry, Templates};
use super::secret::Secret;
use super::spec::{Role, UserSpec};
use time::OffsetDateTime;

/// One change to a bundle's users.
#[derive(Clone, Debug)]
pub enum Change {
    /// A new user: its certificate, key and (unless it logs in by certificate) password.
    Add(UserSpec),
    /// New key patterns, channel patterns or command rules for an existing user (`None`: keep).
    Set {
        name: String,
        keys: Option<Vec<String>>,
        channels: Option<Vec<String>>,
        commands: Option<Vec<String>>,
    },
    /// The user's line says `off`; its files stay.
    Disable(String),
    /// Undoes `Disable`.
    Enable(String),
    /// The user's files go, its certificate is revoked.
    Remove(String),
}

impl Change {
    /// The command word of the change (`add`, `set`, ...), as in `provision user <word>`.
    pub fn verb(&self) -> &'static str {
        match self {
            Change::Add(_) => "add",
            Change::Set { .. } => "set",
            Change::Disable(_) => "disable",
            Change::Enable(_) => "enable",
            Change::Remove(_) => "remove",
        }
    }

    /// The user the change is about.
    pub fn user(&self) -> &str {
        match self {
            Change::Add(u) => &u.name,
            Change::Set { name, .. }
            | Change::Disable(name)
            | Change::Enable(name)
            | Change::Remove(name) => name,
        }
    }
}

/// What a change works on: the current generation and its manifest, the templates users.acl
/// is rendered from, and the new generation's id and time.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub templates: &'a Templates,
    pub files: &'a Files,
    pub manifest: &'a Manifest,
    pub now: OffsetDateTime,
    pub generation: &'a str,
    /// The issuing CA's private key (PEM): needed only to add a user.
    pub ca_key: Option<&'a Secret>,
}

/// What a live node must do to match the new users.acl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Live {
    /// `ACL SETUSER <acl_name> reset <rules>` with the rules of its new users.acl line; `kill`:
    /// then close its connections (`CLIENT KILL USER`), which `off` alone leaves open.
    Set {
        acl_name: String,
        rules: Vec<String>,
        kill: bool,
    },
    /// `ACL DELUSER <acl_name>`, which also closes its connections.
    Delete { acl_name: String },
}

/// The new generation's files and what changed.
pub struct Outcome {
    pub files: Files,
    pub live: Live,
    /// What each Sentinel must do (its own ACL, `render::sentinel_acl`): None when the bundle
    /// has no Sentinels or Sentinel does not know the user (a custom user).
    pub sentinel: Option<Live>,
    /// The certificate a removal revoked.
    pub revoked: Option<Revoked>,
}

/// Why a change cannot be made. `Invalid`, `NoSuchUser`, `Exists` and `Refused` are bad input
/// (nothing is written); `Build` is a bundle that cannot be re-rendered or signed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("the bundle has no user `{0}`")]
    NoSuchUser(String),
    #[error("the bundle already has a user `{0}`")]
    Exists(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl From<pki::PkiError> for UserError {
    fn from(e: pki::PkiError) -> Self {
        UserError::Build(e.into())
    }
}

/// Applies `change` to the bundle of `r`: the new files (manifest signed) and what live nodes
/// must do. The new spec is validated as `init` validates one.
pub fn apply(r: &Request, change: &Change) -> Result<Outcome, UserError> {
    let m = r.manifest;
    let mut spec = m.spec.clone();
    let name = change.user().to_string();
    let pos = spec.users.iter().position(|u| u.name == name);
    let mut out = r.files.clone();
    let mut revoked = None;
    match (change, pos) {
        // Names are unique regardless of case (their files are on any filesystem).
        (Change::Add(u), _) => {
            if let Some(other) = spec
                .users
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&u.name))
            {
                return Err(UserError::Exists(other.name.clone()));
            }
            if matches!(u.role, Role::Replication | Role::Sentinel) {
                return Err(UserError::Refused(format!(
                    "role `{:?}` belongs to the topology's own users; give app, monitor, admin or --rules",
                    u.role
                )
                .to_lowercase()));
            }
            let mut u = u.clone();
            if u.cert_login() && !m.spec.cert_identity() {
                return Err(UserError::Refused(format!(
                    "`{}` would log in by certificate, but this bundle was made without certificate users (its configs have no tls-auth-clients-user, and its other certificates name their users)",
                    u.name
                )));
            }
            // In a URI-identity bundle a certificate user is named by its SPIFFE ID.
            if u.cert_login() && u.uri.is_none() && m.spec.cert_identity_mode() == Some("URI") {
                u.uri = Some(pki::client_uri(&spec.trust_domain, &u.name));
            }
            spec.users.push(u);
        }
        (_, None) => return Err(UserError::NoSuchUser(name)),
        (change, Some(i)) => {
            let u = &mut spec.users[i];
            if matches!(u.role, Role::Replication | Role::Sentinel) {
                return Err(UserError::Refused(format!(
                    "`{name}` is the {:?} user the topology needs; it cannot be changed, disabled or removed",
                    u.role
                )
                .to_lowercase()));
            }
            let last_admin = u.role == Role::Admin
                && !u.disabled
                && m.spec
                    .users
                    .iter()
                    .filter(|o| o.role == Role::Admin && !o.disabled)
                    .count()
                    == 1;
            if last_admin && matches!(change, Change::Disable(_) | Change::Remove(_)) {
                return Err(UserError::Refused(format!(
                    "`{name}` is the bundle's only enabled admin, the user provision logs in as to change nodes; add another with `provision user add NAME --role admin` first"
                )));
            }
            match change {
                Change::Set {
                    keys,
                    channels,
                    commands,
                    ..
                } => {
                    if !matches!(u.role, Role::App | Role::Custom) {
                        return Err(UserError::Refused(format!(
                            "`{name}` has role {:?}, whose rules are fixed; only app and custom users take --keys, --channels or --rules",
                            u.role
                        ).to_lowercase()));
                    }
                    if let Some(k) = keys {
                        u.keys = Some(k.clone());
                    }
                    if let Some(c) = channels {
                        u.channels = Some(c.clone());
                    }
                    if let Some(c) = commands {
                        if u.role == Role::App {
                            u.role = Role::Custom;
                        }
                        u.commands = c.clone();
                    }
                }
                Change::Disable(_) => u.disabled = true,
                Change::Enable(_) => u.disabled = false,
                Change::Remove(_) => {
                    let removed = spec.users.remove(i);
                    revoked = Some(revoke(r.files, &removed, r.now)?);
                    for f in [
                        user_crt(&removed.name),
                        user_key(&removed.name),
                        user_password(&removed.name),
                    ] {
                        out.0.retain(|x| x.name != f);
                    }
                }
                Change::Add(_) => unreachable!("handled above"),
            }
        }
    }
    spec.validate().map_err(UserError::Invalid)?;

    let new_password = match change {
        Change::Add(_) => {
            let u = spec.users.last().expect("the added user").clone();
            add_credentials(r, &spec, &u, &mut out)?.map(|p| sha256_hex(p.expose()))
        }
        _ => None,
    };

    // users.acl: every user keeps the hashes it has (both, during a rotation).
    let acl = r.files.text(bundle::USERS_ACL).unwrap_or("").to_string();
    let entries: Vec<AclEntry<'_>> = spec
        .users
        .iter()
        .map(|u| {
            let hashes = match (&new_password, u.name == name) {
                (Some(h), true) => vec![h.clone()],
                _ => acl_hashes(&acl, u.acl_name()),
            };
            AclEntry::new(u, hashes)
        })
        .collect();
    let text =
        super::render::users_acl_with(r.templates, &entries, spec.topology.kind, spec.target())
            .map_err(BuildError::from)?;
    let acl_name = m.spec.acl_name_of(&name).to_string();
    let live = match change {
        Change::Remove(_) => Live::Delete { acl_name },
        _ => {
            let acl_name = spec.acl_name_of(&name).to_string();
            Live::Set {
                rules: line_rules(&text, &acl_name),
                kill: matches!(change, Change::Disable(_)),
                acl_name,
            }
        }
    };
    let sentinel = sentinel_live(&m.spec, &spec, &entries, change, &name)?;
    out.put(OutFile::secret(
        bundle::USERS_ACL,
        Secret::from_string(text),
    ));
    if !spec.topology.is_standalone() {
        let dir = bundle::conf_dir_of(&out, &spec);
        bundle::render_topology_files(r.templates, &spec, &mut out, &dir, &bundle::rfc3339(r.now))?;
    }
    let mut records: Records = m.records();
    records
        .rotations
        .retain(|x| x.user != name || !matches!(change, Change::Remove(_)));
    records.revoked.extend(revoked.clone());
    let manifest = bundle::build_manifest(&spec, &out, r.generation, r.now, records)?;
    bundle::put_manifest(&mut out, manifest)?;
    Ok(Outcome {
        files: out,
        live,
        sentinel,
        revoked,
    })
}

/// The change on a Sentinel: its ACL line for the user (Sentinel knows admin, app and monitor
/// users, with rules of its own), or its deletion.
fn sentinel_live(
    old: &super::spec::Spec,
    new: &super::spec::Spec,
    entries: &[AclEntry<'_>],
    change: &Change,
    name: &str,
) -> Result<Option<Live>, UserError> {
    if new.topology.sentinels.is_empty() {
        return Ok(None);
    }
    let known = |s: &super::spec::Spec| {
        s.users
            .iter()
            .find(|u| u.name == name)
            .filter(|u| matches!(u.role, Role::Admin | Role::App | Role::Monitor))
            .map(|u| u.acl_name().to_string())
    };
    if let Change::Remove(_) = change {
        return Ok(known(old).map(|acl_name| Live::Delete { acl_name }));
    }
    let Some(acl_name) = known(new) else {
        // A user Sentinel knew that is now custom: gone from Sentinel's ACL.
        return Ok(known(old).map(|acl_name| Live::Delete { acl_name }));
    };
    let lines = super::render::sentinel_acl(entries).map_err(BuildError::Render)?;
    Ok(Some(Live::Set {
        rules: line_rules(&lines.join("\n"), &acl_name),
        kill: matches!(change, Change::Disable(_)),
        acl_name,
    }))
}

/// The users a config file (`provision apply --config`) asks for, completed as `init`
/// completes them: `user_auth` for users that do not say, and the users the topology itself
/// needs (replication, Sentinel) kept from the bundle when the file does not list them.
pub fn desired(
    current: &super::spec::Spec,
    listed: &[UserSpec],
    user_auth: Option<super::spec::UserAuth>,
) -> Vec<UserSpec> {
    let mut v: Vec<UserSpec> = listed.to_vec();
    if let Some(auth) = user_auth {
        for u in v
            .iter_mut()
            .filter(|u| u.auth.is_none() && !matches!(u.role, Role::Replication | Role::Sentinel))
        {
            u.auth = (auth != super::spec::UserAuth::Password).then_some(auth);
        }
    }
    for u in &current.users {
        if matches!(u.role, Role::Replication | Role::Sentinel)
            && !v.iter().any(|x| x.name == u.name)
        {
            v.push(u.clone());
        }
    }
    v
}

/// The changes that make `current`'s users `desired`: additions first, then changes, then
/// removals (so a new admin exists before an old one goes). A user whose role or way of
/// logging in differs cannot be changed in place: that is an error naming it.
pub fn plan(current: &super::spec::Spec, desired: &[UserSpec]) -> Result<Vec<Change>, UserError> {
    let mut adds = Vec::new();
    let mut changes = Vec::new();
    let mut removes = Vec::new();
    for d in desired {
        let Some(c) = current.users.iter().find(|c| c.name == d.name) else {
            adds.push(Change::Add(d.clone()));
            continue;
        };
        let uri_differs = d.uri.is_some() && d.uri != c.uri;
        if d.role != c.role || d.auth() != c.auth() || uri_differs {
            return Err(UserError::Refused(format!(
                "user `{}` changes its role or the way it logs in; remove it and add it again (two `provision apply` runs, or `provision user remove` then `add`)",
                d.name
            )));
        }
        let (keys, channels, commands) = (
            (d.keys != c.keys).then(|| d.key_patterns()),
            (d.channels != c.channels).then(|| d.channel_patterns()),
            (d.commands != c.commands).then(|| d.commands.clone()),
        );
        if keys.is_some() || channels.is_some() || commands.is_some() {
            changes.push(Change::Set {
                name: d.name.clone(),
                keys,
                channels,
                commands,
            });
        }
        if d.disabled != c.disabled {
            changes.push(if d.disabled {
                Change::Disable(d.name.clone())
            } else {
                Change::Enable(d.name.clone())
            });
        }
    }
    for c in &current.users {
        if !desired.iter().any(|d| d.name == c.name) {
            removes.push(Change::Remove(c.name.clone()));
        }
    }
    adds.extend(changes);
    adds.extend(removes);
    Ok(adds)
}

/// The rules of `acl_name`'s line in users.acl (everything after `user NAME`).
pub fn line_rules(acl: &str, acl_name: &str) -> Vec<String> {
    acl.lines()
        .map(|l| l.split_ascii_whitespace().collect::<Vec<_>>())
        .find(|t| t.len() > 1 && t[0] == "user" && t[1] == acl_name)
        .map(|t| t[2..].iter().map(|s| s.to_string()).collect())
        .unwrap_or_default()
}

/// A new user's certificate (issued by the bundle's issuing CA), key and password into `out`;
/// returns the password (None for a certificate-only user).
fn add_credentials(
    r: &Request,
    spec: &super::spec::Spec,
    u: &UserSpec,
    out: &mut Files,
) -> Result<Option<Secret>, UserError> {
    let ca_key = r.ca_key.ok_or_else(|| {
        BuildError::Render("adding a user needs the CA key, and none was given".into())
    })?;
    let ca_pem = pki::pem_blocks(r.files.text(bundle::CA_CRT).unwrap_or(""))
        .into_iter()
        .next()
        .ok_or_else(|| BuildError::Render("ca.crt holds no certificate".into()))?;
    let ca = super::inspect::pem_certificates(ca_pem.as_bytes())
        .ok()
        .and_then(|d| d.into_iter().next())
        .and_then(|der| super::inspect::inspect(&der).ok())
        .ok_or_else(|| BuildError::Render("ca.crt cannot be read".into()))?;
    let signing = pki::key_from_pem(ca_key.expose_str())?;
    let issuer = pki::issuer_from_pem(&ca_pem, &signing)?;
    let key = pki::generate_keys(spec.key_type, 1, &|| {})?
        .into_iter()
        .next()
        .expect("one key");
    let not_after = (r.now + spec.cert_validity.as_time()).min(ca.not_after);
    let params = pki::leaf_params(
        &bundle::client_leaf(spec, u),
        spec.key_type,
        &key,
        r.now - BACKDATE,
        not_after,
    )?;
    out.put(OutFile::public(
        user_crt(&u.name),
        pki::sign_leaf(&params, &key, &issuer)?,
    ));
    out.put(OutFile::secret(user_key(&u.name), pki::key_pem(&key)));
    if !u.has_password() {
        return Ok(None);
    }
    let pw = password::generate();
    out.put(OutFile::secret(user_password(&u.name), pw.clone()));
    Ok(Some(pw))
}

/// Every certificate in `files` (any `.crt`, each certificate of it) that `revoked` names, by
/// serial or fingerprint, with the file it is in.
pub fn revoked_certificates<'a>(
    files: &Files,
    revoked: &'a [Revoked],
) -> Vec<(String, &'a Revoked)> {
    let mut found = Vec::new();
    if revoked.is_empty() {
        return found;
    }
    for f in files.0.iter().filter(|f| f.name.ends_with(".crt")) {
        for der in super::inspect::pem_certificates(f.data.expose()).unwrap_or_default() {
            let Ok(i) = super::inspect::inspect(&der) else {
                continue;
            };
            if let Some(r) = revoked
                .iter()
                .find(|r| r.sha256_fingerprint == i.sha256_fingerprint || r.serial == i.serial)
            {
                found.push((f.name.clone(), r));
            }
        }
    }
    found
}

/// The revocation record of a removed user's certificate.
fn revoke(files: &Files, u: &UserSpec, now: OffsetDateTime) -> Result<Revoked, UserError> {
    let crt = user_crt(&u.name);
    let info = files
        .get(&crt)
        .and_then(|f| super::inspect::pem_certificates(f.data.expose()).ok())
        .and_then(|d| d.into_iter().next())
        .and_then(|der| super::inspect::inspect(&der).ok())
        .ok_or_else(|| BuildError::Render(format!("{crt} is missing or unreadable")))?;
    Ok(Revoked {
        user: u.name.clone(),
        serial: info.serial,
        sha256_fingerprint: info.sha256_fingerprint,
        revoked_at: bundle::rfc3339(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::bundle::{generate, Gen};
    use crate::core::spec::Spec;

    fn bundle() -> (Files, Manifest, Secret) {
        let now = OffsetDateTime::now_utc();
        let files = generate(&Spec::default(), &Gen::new("/b", "g1", now)).unwrap();
        let m: Manifest = serde_json::from_str(files.text(bundle::MANIFEST).unwrap()).unwrap();
        let key = files.get(bundle::CA_KEY).unwrap().data.clone();
        (files, m, key)
    }

    fn run(files: &Files, m: &Manifest, key: &Secret, c: Change) -> Result<Outcome, UserError> {
        let t = Templates::builtin();
        apply(
            &Request {
                templates: &t,
                files,
                manifest: m,
                now: OffsetDateTime::now_utc(),
                generation: "g2",
                ca_key: Some(key),
            },
            &c,
        )
    }

    fn manifest_of(f: &Files) -> Manifest {
        serde_json::from_str(f.text(bundle::MANIFEST).unwrap()).unwrap()
    }

    #[test]
    fn add_issues_a_certificate_from_the_ca_and_keeps_every_other_hash() {
        let (files, m, key) = bundle();
        let mut u = UserSpec::new("orders", Role::App);
        u.keys = Some(vec!["orders:*".into()]);
        let o = run(&files, &m, &key, Change::Add(u)).unwrap();
        let acl = o.files.text(bundle::USERS_ACL).unwrap();
        let old = files.text(bundle::USERS_ACL).unwrap();
        for user in ["admin", "app", "monitor"] {
            assert_eq!(acl_hashes(acl, user), acl_hashes(old, user), "{user}");
        }
        let pw = o.files.text("orders.password").unwrap();
        assert_eq!(acl_hashes(acl, "orders"), vec![sha256_hex(pw.as_bytes())]);
        let crt = o.files.get("orders.crt").unwrap().data.expose().to_vec();
        let der = super::super::inspect::pem_certificates(&crt).unwrap();
        let ca = super::super::inspect::pem_certificates(
            files.get(bundle::CA_CRT).unwrap().data.expose(),
        )
        .unwrap();
        super::super::inspect::verify_signed_by(&der[0], &ca[0]).unwrap();
        assert!(o.files.get("orders.key").unwrap().mode == bundle::MODE_SECRET);
        match &o.live {
            Live::Set {
                acl_name,
                rules,
                kill,
            } => {
                assert_eq!(acl_name, "orders");
                assert!(!kill);
                assert_eq!(rules[0], "on");
                assert!(rules.contains(&"~orders:*".to_string()), "{rules:?}");
            }
            l => panic!("{l:?}"),
        }
        let m2 = manifest_of(&o.files);
        assert!(m2.spec.users.iter().any(|u| u.name == "orders"));
        assert!(m2.certificates.iter().any(|c| c.file == "orders.crt"));
        // Without the CA key nothing is issued.
        let t = Templates::builtin();
        let r = Request {
            templates: &t,
            files: &files,
            manifest: &m,
            now: OffsetDateTime::now_utc(),
            generation: "g2",
            ca_key: None,
        };
        assert!(apply(&r, &Change::Add(UserSpec::new("x", Role::App))).is_err());
    }

    #[test]
    fn bad_changes_are_refused_with_what_is_wrong() {
        let (files, m, key) = bundle();
        let refused = |c: Change| run(&files, &m, &key, c).err().expect("refused").to_string();
        assert!(refused(Change::Add(UserSpec::new("app", Role::App))).contains("already has"));
        assert!(refused(Change::Add(UserSpec::new("APP", Role::App))).contains("already has"));
        assert!(refused(Change::Add(UserSpec::new("bad name", Role::App)))
            .contains("invalid user name"));
        assert!(refused(Change::Remove("nobody".into())).contains("no user `nobody`"));
        assert!(refused(Change::Remove("admin".into())).contains("only enabled admin"));
        assert!(refused(Change::Disable("admin".into())).contains("only enabled admin"));
        let mut bad = UserSpec::new("x", Role::App);
        bad.keys = Some(vec!["~evil".into()]);
        assert!(refused(Change::Add(bad)).contains("pattern"));
        assert!(refused(Change::Set {
            name: "monitor".into(),
            keys: Some(vec!["a:*".into()]),
            channels: None,
            commands: None
        })
        .contains("fixed"));
    }

    #[test]
    fn disable_enable_and_remove() {
        let (files, m, key) = bundle();
        let o = run(&files, &m, &key, Change::Disable("app".into())).unwrap();
        let acl = o.files.text(bundle::USERS_ACL).unwrap();
        assert!(acl.contains("user app off #"), "{acl}");
        assert!(matches!(o.live, Live::Set { kill: true, .. }));
        assert!(o.files.get("app.crt").is_some());
        let m2 = manifest_of(&o.files);
        let back = run(&o.files, &m2, &key, Change::Enable("app".into())).unwrap();
        assert_eq!(
            back.files.text(bundle::USERS_ACL).unwrap(),
            files.text(bundle::USERS_ACL).unwrap()
        );

        let o = run(&files, &m, &key, Change::Remove("app".into())).unwrap();
        for f in ["app.crt", "app.key", "app.password"] {
            assert!(o.files.get(f).is_none(), "{f}");
        }
        assert!(!o
            .files
            .text(bundle::USERS_ACL)
            .unwrap()
            .contains("user app "));
        assert_eq!(
            o.live,
            Live::Delete {
                acl_name: "app".into()
            }
        );
        let m2 = manifest_of(&o.files);
        let r = o.revoked.unwrap();
        assert_eq!(m2.revoked, vec![r.clone()]);
        let was = m.certificates.iter().find(|c| c.file == "app.crt").unwrap();
        assert_eq!(r.serial, was.serial);
        assert_eq!(r.sha256_fingerprint, was.sha256_fingerprint);
    }

    #[test]
    fn check_reports_a_revoked_certificate_brought_back() {
        use crate::core::checkup::{check, Status, Thresholds};
        let (files, m, key) = bundle();
        let o = run(&files, &m, &key, Change::Remove("app".into())).unwrap();
        let th = Thresholds::default();
        let clean = check(&o.files, OffsetDateTime::now_utc(), th, &|_| true);
        assert!(
            !clean
                .findings
                .iter()
                .any(|f| f.message.contains("removed user")),
            "{:?}",
            clean.findings
        );
        // The removed user's certificate put back (beside the CA, where a hand edit might).
        let mut back = o.files.clone();
        let mut ca = back.get(bundle::CA_CRT).unwrap().data.expose().to_vec();
        ca.extend_from_slice(files.get("app.crt").unwrap().data.expose());
        back.put(OutFile::public(bundle::CA_CRT, ca));
        let r = check(&back, OffsetDateTime::now_utc(), th, &|_| true);
        let f = r
            .findings
            .iter()
            .find(|f| f.message.contains("removed user `app`"))
            .expect("revoked certificate reported");
        assert_eq!(f.status, Status::Critical);
        assert_eq!(f.file, bundle::CA_CRT);
    }

    fn set(
        keys: Option<Vec<String>>,
        channels: Option<Vec<String>>,
        commands: Option<Vec<String>>,
    ) -> Vec<String> {
        let (files, m, key) = bundle();
        let name = "app".into();
        let o = run(
            &files,
            &m,
            &key,
            Change::Set {
                name,
                keys,
                channels,
                commands,
            },
        )
        .unwrap();
        let Live::Set { rules, .. } = o.live else {
            panic!("{:?}", o.live)
        };
        rules
    }

    #[test]
    fn set_changes_patterns_and_rules() {
        let rules = set(Some(vec!["cache:*".into()]), Some(vec![]), None);
        assert!(rules.contains(&"~cache:*".to_string()), "{rules:?}");
        assert!(!rules.iter().any(|r| r.starts_with('&')), "{rules:?}");
        let rules = set(None, None, Some(vec!["+get".into(), "+set".into()]));
        assert_eq!(&rules[rules.len() - 3..], ["-@all", "+get", "+set"]);
    }
}
