//! Two-phase password rotation, pure: the ACL file and password files at each step.
//!
//! Redis ACL users may hold several passwords. Start: the user's line holds the old and the
//! new hash, `<user>.password` holds the new password. Finish: only the new hash remains.
//! Only hashes are needed to add or remove a password on a live node, so the old password
//! itself is never kept.

use super::bundle::{self, Files, Manifest, OutFile, Rotation};
use super::password::{self, sha256_hex};
use super::render::{self, AclEntry, TemplateError, Templates};
use super::secret::Secret;
use time::OffsetDateTime;

/// The `#hash` tokens of each user's line in users.acl, in order.
pub use super::conf::acl_hashes;

/// One user's step: which hash a node must gain or lose.
#[derive(Clone, Debug)]
pub struct Step {
    pub user: String,
    /// The user's name on the server (`ACL SETUSER` takes it): its URI identity, if it has one.
    pub acl_user: String,
    /// `#<hash>` to add, or `!<hash>` to remove, as ACL SETUSER takes it.
    pub rule: String,
    /// The rule that undoes it.
    pub undo: String,
    pub old_hash: String,
    pub new_hash: String,
}

/// Why a rotation step cannot be computed.
#[derive(Debug)]
pub enum RotationError {
    /// The bundle's state does not allow it (already started, not started, no password).
    State(String),
    /// users.acl could not be re-rendered (a broken override template, or a bug).
    Template(TemplateError),
}

impl From<String> for RotationError {
    fn from(s: String) -> Self {
        RotationError::State(s)
    }
}

impl From<&str> for RotationError {
    fn from(s: &str) -> Self {
        RotationError::State(s.into())
    }
}

impl std::fmt::Display for RotationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RotationError::State(s) => f.write_str(s),
            RotationError::Template(e) => write!(f, "{e}"),
        }
    }
}

/// What a rotation works on: the bundle generation, its manifest, the users to rotate, and
/// the new generation's id and time.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// users.acl is re-rendered from these.
    pub templates: &'a Templates,
    pub files: &'a Files,
    pub manifest: &'a Manifest,
    pub users: &'a [String],
    pub now: OffsetDateTime,
    pub generation: &'a str,
}

impl<'a> Request<'a> {
    /// users.acl, a copy of the files to change, and no steps yet.
    fn begin(&self) -> Result<(&'a str, Files, Vec<Step>), RotationError> {
        let acl = self
            .files
            .text(bundle::USERS_ACL)
            .ok_or("users.acl is missing")?;
        Ok((acl, self.files.clone(), Vec::new()))
    }

    /// `user`'s name on the server (its URI identity, if it has one).
    fn acl_user(&self, user: &str) -> String {
        self.manifest.spec.acl_name_of(user).to_string()
    }
}

/// Starts a rotation for `users`: new passwords, both hashes in users.acl (rendered from
/// `templates`).
pub fn start(r: &Request) -> Result<(Files, Vec<Step>), RotationError> {
    let (m, users, now) = (r.manifest, r.users, r.now);
    let (acl, mut out, mut steps) = r.begin()?;
    let mut rotations = m.rotations.clone();
    for u in users {
        let acl_user = r.acl_user(u);
        let hashes = acl_hashes(acl, &acl_user);
        match hashes.len() {
            0 => return Err(format!("users.acl has no password for `{u}`").into()),
            1 => {}
            _ => {
                return Err(format!(
                    "a rotation for `{u}` is already in progress (users.acl holds two passwords); finish it with `provision rotate --user {u} --finish`"
                )
                .into())
            }
        }
        let pw = password::generate();
        let new_hash = sha256_hex(pw.expose());
        steps.push(Step {
            user: u.clone(),
            acl_user: acl_user.clone(),
            rule: format!("#{new_hash}"),
            undo: format!("!{new_hash}"),
            old_hash: hashes[0].clone(),
            new_hash: new_hash.clone(),
        });
        rotations.retain(|r| r.user != *u);
        rotations.push(Rotation {
            user: u.clone(),
            started_at: bundle::rfc3339(now),
            old_hash_prefix: hashes[0][..12].to_string(),
            new_hash_prefix: new_hash[..12].to_string(),
        });
        out.put(OutFile::secret(bundle::user_password(u), pw));
    }
    r.rewrite(&mut out, &steps, rotations, true)?;
    Ok((out, steps))
}

/// Finishes the rotation for `users`: only the hash of the current password file remains.
pub fn finish(r: &Request) -> Result<(Files, Vec<Step>), RotationError> {
    let (m, users) = (r.manifest, r.users);
    let (acl, mut out, mut steps) = r.begin()?;
    for u in users {
        let acl_user = r.acl_user(u);
        let hashes = acl_hashes(acl, &acl_user);
        let current = sha256_hex(
            r.files
                .get(&bundle::user_password(u))
                .ok_or(format!("{u}.password is missing"))?
                .data
                .expose(),
        );
        if hashes.len() < 2 {
            return Err(format!(
                "no rotation in progress for `{u}`; start one with `provision rotate --user {u}`"
            )
            .into());
        }
        if !hashes.contains(&current) {
            return Err(format!(
                "{u}.password matches none of the passwords in users.acl; run `provision check`"
            )
            .into());
        }
        let old = hashes
            .iter()
            .find(|h| **h != current)
            .cloned()
            .unwrap_or_default();
        steps.push(Step {
            user: u.clone(),
            acl_user: acl_user.clone(),
            rule: format!("!{old}"),
            undo: format!("#{old}"),
            old_hash: old,
            new_hash: current,
        });
    }
    let rotations = m
        .rotations
        .iter()
        .filter(|r| !users.contains(&r.user))
        .cloned()
        .collect();
    r.rewrite(&mut out, &steps, rotations, false)?;
    Ok((out, steps))
}

impl Request<'_> {
    /// Re-renders users.acl from the spec and each user's hashes after `steps`, and the manifest.
    fn rewrite(
        &self,
        out: &mut Files,
        steps: &[Step],
        rotations: Vec<Rotation>,
        adding: bool,
    ) -> Result<(), RotationError> {
        let (templates, m, now) = (self.templates, self.manifest, self.now);
        let acl = out.text(bundle::USERS_ACL).unwrap_or("").to_string();
        let mut entries = Vec::new();
        for u in &m.spec.users {
            let mut hashes = acl_hashes(&acl, u.acl_name());
            if let Some(s) = steps.iter().find(|s| s.user == u.name) {
                if adding {
                    hashes.push(s.new_hash.clone());
                } else {
                    hashes.retain(|h| *h != s.old_hash);
                }
            }
            entries.push(AclEntry { user: u, hashes });
        }
        let text =
            render::users_acl_with(templates, &entries, m.spec.topology.kind, m.spec.target())
                .map_err(RotationError::Template)?;
        out.put(OutFile::secret(
            bundle::USERS_ACL,
            Secret::from_string(text),
        ));
        // masterauth.conf and the Sentinels' configs hold passwords (or their users' hashes).
        if !m.spec.topology.is_standalone() {
            let dir = bundle::conf_dir_of(out, &m.spec);
            bundle::render_topology_files(templates, &m.spec, out, &dir, &bundle::rfc3339(now))
                .map_err(|e| RotationError::State(e.to_string()))?;
        }
        let manifest = bundle::build_manifest(
            &m.spec,
            out,
            self.generation,
            now,
            bundle::Records {
                rotations,
                ..m.records()
            },
        )
        .map_err(|e| RotationError::State(e.to_string()))?;
        bundle::put_manifest(out, manifest).map_err(|e| RotationError::State(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::Spec;

    type Step = fn(&Request) -> Result<(Files, Vec<super::Step>), RotationError>;

    /// Runs `step` (start or finish) for `users` on `files`, reading the manifest from them.
    fn run(
        step: Step,
        files: &Files,
        users: &[String],
        now: OffsetDateTime,
        generation: &str,
    ) -> Result<(Files, Vec<super::Step>), RotationError> {
        let manifest: Manifest =
            serde_json::from_str(files.text("manifest.json").unwrap()).unwrap();
        step(&Request {
            templates: &Templates::builtin(),
            files,
            manifest: &manifest,
            users,
            now,
            generation,
        })
    }

    #[test]
    fn a_uri_user_keeps_both_passwords_while_rotating() {
        use crate::core::spec::UserAuth;
        let now = OffsetDateTime::now_utc();
        let uri = "spiffe://example.org/sa/monitor";
        let mut spec = Spec {
            server: Some("valkey-9.1".parse().unwrap()),
            ..Spec::default()
        };
        spec.users[2].auth = Some(UserAuth::Both);
        spec.users[2].uri = Some(uri.into());
        let f = bundle::generate(&spec, &bundle::Gen::new("/b", "g", now)).unwrap();
        let old_pw = f.get("monitor.password").unwrap().data.clone();
        let users = vec!["monitor".to_string()];
        let (g, steps) = run(start, &f, &users, now, "g2").unwrap();
        let new_pw = g.get("monitor.password").unwrap().data.clone();
        assert_eq!(steps[0].acl_user, uri);
        assert_eq!(
            acl_hashes(g.text("users.acl").unwrap(), uri),
            vec![sha256_hex(old_pw.expose()), sha256_hex(new_pw.expose())],
            "the old password keeps working until finish"
        );
    }

    #[test]
    fn start_then_finish() {
        let now = OffsetDateTime::now_utc();
        let f = bundle::generate(&Spec::default(), &bundle::Gen::new("/b", "g", now)).unwrap();
        let old_pw = f.get("app.password").unwrap().data.clone();
        let users = vec!["app".to_string()];
        let (g, steps) = run(start, &f, &users, now, "g2").unwrap();
        let new_pw = g.get("app.password").unwrap().data.clone();
        assert_ne!(old_pw, new_pw);
        let acl = g.text("users.acl").unwrap();
        assert_eq!(
            acl_hashes(acl, "app"),
            vec![sha256_hex(old_pw.expose()), sha256_hex(new_pw.expose())]
        );
        assert_eq!(
            acl_hashes(acl, "admin"),
            acl_hashes(f.text("users.acl").unwrap(), "admin"),
            "others untouched"
        );
        assert_eq!(steps[0].rule, format!("#{}", sha256_hex(new_pw.expose())));
        let m2: Manifest = serde_json::from_str(g.text("manifest.json").unwrap()).unwrap();
        assert_eq!(m2.rotations.len(), 1);
        let err = run(start, &g, &users, now, "g3").unwrap_err().to_string();
        assert!(err.contains("already in progress"), "{err}");

        let (h, steps) = run(finish, &g, &users, now, "g3").unwrap();
        assert_eq!(
            acl_hashes(h.text("users.acl").unwrap(), "app"),
            vec![sha256_hex(new_pw.expose())]
        );
        assert_eq!(steps[0].rule, format!("!{}", sha256_hex(old_pw.expose())));
        let m3: Manifest = serde_json::from_str(h.text("manifest.json").unwrap()).unwrap();
        assert!(m3.rotations.is_empty());
        let err = run(finish, &h, &users, now, "g4").unwrap_err().to_string();
        assert!(err.contains("no rotation in progress"), "{err}");
        // Nothing secret in the manifest: only 12-hex prefixes of hashes.
        assert!(!g
            .text("manifest.json")
            .unwrap()
            .contains(&sha256_hex(new_pw.expose())));
    }
}
