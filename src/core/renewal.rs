//! Certificate renewal, pure: which certificates are due, and the bundle that re-issues them.
//!
//! A leaf is due when less than `within` (default: a third of its lifetime, the cert-manager
//! and step rule) is left. The CA is due by the same rule; a CA rollover never replaces the
//! CA silently: the new CA is published in `ca.crt` together with the old one, every leaf is
//! re-issued from the new CA, and the old CA stays in `ca.crt` until every certificate it
//! issued has expired, so peers still holding old-CA certificates keep working meanwhile.

use super::bundle::{self, BuildError, CaRollover, Files, Manifest, OutFile, RetiredCa};
use super::cakey::{self, Sealer, Slot};
use super::duration::Dur;
use super::inspect::{self, CertInfo};
use super::integrity;
use super::pki::{self, Leaf, BACKDATE};
use super::secret::Secret;
use super::spec::Spec;
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Clone, Debug, Serialize)]
pub struct Due {
    pub file: String,
    pub role: String,
    pub old_serial: String,
    pub not_after: String,
    pub reason: String,
}

/// The step of a CA rollover a plan takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaStep {
    /// A new CA is made and published in `ca.crt` after the issuing CA; leaves stay on the
    /// old CA, so clients that hold only the old `ca.crt` keep verifying the servers.
    Publish,
    /// The overlap has passed: the new CA becomes the issuing CA and every leaf is
    /// re-issued from it; the old CA stays trusted until what it issued has expired.
    Finish,
}

/// What `renew` was asked to do about the CA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CaRequest {
    /// Publish a new CA when the CA is due; finish a rollover whose overlap has passed.
    #[default]
    Auto,
    /// Publish a new CA now (`--rollover-ca`).
    Start,
    /// Finish the rollover in progress now (`--rollover-ca --finish`); refused before its
    /// overlap has passed.
    Finish,
}

/// The overlap of a CA rollover unless `--overlap` says otherwise: long enough for
/// configuration management on every client host to ship the new `ca.crt`.
pub const DEFAULT_OVERLAP: Dur = Dur::days(30);

/// What a renewal is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// Renew leaves with less than this left (default: the renewal rule).
    pub within: Option<Dur>,
    /// Renew every leaf.
    pub force: bool,
    pub ca: CaRequest,
    /// How long a new CA is published before leaves move to it.
    pub overlap: Dur,
    /// Drop old CAs from `ca.crt` now, before what they issued has expired.
    pub retire_old_cas: bool,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            within: None,
            force: false,
            ca: CaRequest::Auto,
            overlap: DEFAULT_OVERLAP,
            retire_old_cas: false,
        }
    }
}

/// Why a renewal cannot be planned as asked (bad input: nothing changes).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Bundle(#[from] BuildError),
    #[error("no CA rollover is in progress, so there is nothing to finish")]
    NoRollover,
    #[error("a CA rollover is already in progress: its new CA was published on {started_at}, and leaves move to it from {finish_after}")]
    InProgress {
        started_at: String,
        finish_after: String,
    },
    #[error("the CA rollover's overlap lasts until {finish_after} ({left} left): until then clients that still hold only the old ca.crt would refuse the new server certificates")]
    TooEarly { finish_after: String, left: String },
    #[error("{0}")]
    NothingToRetire(&'static str),
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// Set when the CA rolls over (either step).
    pub ca: Option<Due>,
    pub ca_step: Option<CaStep>,
    /// When a rollover published now may be finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_after: Option<String>,
    pub leaves: Vec<Due>,
    /// Old CAs dropped from ca.crt: what they issued has expired (or `--retire-old-ca`).
    pub drop_cas: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.leaves.is_empty() && self.drop_cas.is_empty()
    }
    /// Whether applying the plan signs anything (and so needs the CA key): dropping old CAs
    /// from ca.crt does not.
    pub fn needs_ca_key(&self) -> bool {
        self.ca.is_some() || !self.leaves.is_empty()
    }
    /// The key that signs: the new CA's when a rollover finishes, else the issuing CA's.
    pub fn signing_slot(&self) -> Slot {
        if self.ca_step == Some(CaStep::Finish) {
            Slot::Next
        } else {
            Slot::Current
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Renewed {
    pub file: String,
    pub role: String,
    pub old_serial: String,
    pub new_serial: String,
    pub sha256_fingerprint: String,
    pub not_after: String,
}

/// A certificate this module just made.
fn inspect_pem(pem: &str) -> CertInfo {
    inspect::inspect(&inspect::pem_certificates(pem.as_bytes()).expect("own PEM")[0])
        .expect("own cert")
}

/// The first certificate of a PEM file (the issuing CA of ca.crt, or a leaf).
fn first_cert(files: &Files, name: &str) -> Result<CertInfo, BuildError> {
    Ok(all_certs(files, name)?.swap_remove(0))
}

fn all_certs(files: &Files, name: &str) -> Result<Vec<CertInfo>, BuildError> {
    let f = files
        .get(name)
        .ok_or_else(|| BuildError::Render(format!("{name} is missing from the bundle")))?;
    let ders =
        inspect::pem_certificates(f.data.expose()).map_err(|source| BuildError::Inspect {
            file: name.into(),
            source,
        })?;
    ders.iter()
        .map(|d| {
            inspect::inspect(d).map_err(|source| BuildError::Inspect {
                file: name.into(),
                source,
            })
        })
        .collect()
}

fn due(
    c: &CertInfo,
    file: &str,
    role: &str,
    now: OffsetDateTime,
    within: Option<Dur>,
    force: bool,
) -> Option<Due> {
    let lifetime = (c.not_after - c.not_before).whole_seconds();
    let left = (c.not_after - now).whole_seconds();
    let threshold = super::duration::renewal_threshold(lifetime, within);
    let reason = if force {
        "forced".to_string()
    } else if left <= 0 {
        "expired".to_string()
    } else if left < threshold {
        format!(
            "{} left, under the renewal threshold of {}",
            super::duration::human(left),
            super::duration::human(threshold)
        )
    } else {
        return None;
    };
    Some(Due {
        file: file.into(),
        role: role.into(),
        old_serial: c.serial.clone(),
        not_after: bundle::rfc3339(c.not_after),
        reason,
    })
}

/// The leaf certificate files of a bundle, with their key files and roles.
pub fn leaves(spec: &Spec) -> Vec<(String, String, String)> {
    bundle::leaf_files(spec)
        .into_iter()
        .map(|(c, k, r)| (c, k, r.to_string()))
        .collect()
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// What is due in a bundle at `now`, and which step of a CA rollover to take.
pub fn plan(
    files: &Files,
    m: &Manifest,
    now: OffsetDateTime,
    req: &Request,
) -> Result<Plan, PlanError> {
    let ca = first_cert(files, bundle::CA_CRT)?;
    let mut p = Plan::default();
    match (&m.ca_rollover, req.ca) {
        (None, CaRequest::Finish) => return Err(PlanError::NoRollover),
        (Some(r), CaRequest::Start) => {
            return Err(PlanError::InProgress {
                started_at: r.started_at.clone(),
                finish_after: r.finish_after.clone(),
            })
        }
        (Some(r), ask) => {
            let finish_after = parse_time(&r.finish_after).unwrap_or(now);
            if now >= finish_after {
                p.ca_step = Some(CaStep::Finish);
                p.ca = Some(Due {
                    file: bundle::CA_CRT.into(),
                    role: "ca".into(),
                    old_serial: ca.serial.clone(),
                    not_after: bundle::rfc3339(ca.not_after),
                    reason: format!(
                        "the rollover's overlap ended on {}: leaves move to the new CA",
                        r.finish_after
                    ),
                });
            } else if ask == CaRequest::Finish {
                return Err(PlanError::TooEarly {
                    finish_after: r.finish_after.clone(),
                    left: super::duration::human((finish_after - now).whole_seconds()),
                });
            }
        }
        (None, ask) => {
            if let Some(mut d) = due(
                &ca,
                bundle::CA_CRT,
                "ca",
                now,
                None,
                ask == CaRequest::Start,
            ) {
                if ask == CaRequest::Start {
                    d.reason = "rollover requested (--rollover-ca)".into();
                }
                // The overlap ends while the old CA has half its time left at the latest,
                // so leaves move before it runs out.
                let half_left: time::Duration = (ca.not_after - now) / 2;
                let end =
                    (now + req.overlap.as_time()).min(now + half_left.max(time::Duration::ZERO));
                p.finish_after = Some(bundle::rfc3339(end.replace_nanosecond(0).unwrap_or(end)));
                p.ca_step = Some(CaStep::Publish);
                p.ca = Some(d);
            }
        }
    }
    let moving = p.ca_step == Some(CaStep::Finish);
    for (crt, _, role) in leaves(&m.spec) {
        let c = first_cert(files, &crt)?;
        // Every leaf moves to the new CA when a rollover finishes.
        if let Some(mut d) = due(&c, &crt, &role, now, req.within, req.force || moving) {
            if moving && !req.force {
                d.reason = "re-issued from the new CA".into();
            }
            p.leaves.push(d);
        }
    }
    if req.retire_old_cas {
        if m.retired_cas.is_empty() {
            return Err(PlanError::NothingToRetire(if m.ca_rollover.is_some() {
                "the old CA still issues every certificate until the rollover finishes (`provision renew --rollover-ca --finish`); there is no old CA to retire yet"
            } else {
                "ca.crt holds no old CA: there is nothing to retire"
            }));
        }
        p.drop_cas = m
            .retired_cas
            .iter()
            .map(|r| r.sha256_fingerprint.clone())
            .collect();
    } else {
        for r in &m.retired_cas {
            if parse_time(&r.keep_until).unwrap_or(now) <= now {
                p.drop_cas.push(r.sha256_fingerprint.clone());
            }
        }
    }
    Ok(p)
}

/// How a plan is applied: when, as which generation, and with which CA key.
#[derive(Clone, Copy)]
pub struct Apply<'a> {
    pub now: OffsetDateTime,
    /// The new generation's id (recorded in the manifest).
    pub generation: &'a str,
    /// Keep each renewed leaf's key instead of making a fresh one.
    pub reuse_key: bool,
    /// The current CA's private key (PEM), needed only when `plan.needs_ca_key()`.
    pub ca_key: Option<&'a Secret>,
    /// Stores a new CA's key (plaintext `ca.key`, or `ca.key.age`) as the current one is.
    pub sealer: &'a Sealer,
}

/// Applies `plan`, returning the new bundle (manifest included) and what was re-issued.
pub fn apply(
    files: &Files,
    m: &Manifest,
    plan: &Plan,
    a: &Apply,
) -> Result<(Files, Vec<Renewed>), BuildError> {
    let Apply {
        now,
        generation,
        reuse_key,
        ca_key,
        sealer,
    } = *a;
    let spec = &m.spec;
    let mut out = files.clone();
    let cas = all_certs(files, bundle::CA_CRT)?;
    let ca_blocks = pki::pem_blocks(files.text(bundle::CA_CRT).unwrap_or(""));
    if ca_blocks.len() != cas.len() {
        return Err(BuildError::Render(
            "ca.crt holds something other than certificates".into(),
        ));
    }
    let current_ca = &cas[0];

    let mut retired: Vec<RetiredCa> = m
        .retired_cas
        .iter()
        .filter(|r| !plan.drop_cas.contains(&r.sha256_fingerprint))
        .cloned()
        .collect();
    let mut rollover = m.ca_rollover.clone();
    let nb = now - BACKDATE;
    let mut n_keys = if reuse_key { 0 } else { plan.leaves.len() };
    if plan.ca_step == Some(CaStep::Publish) {
        n_keys += 1;
    }
    let mut new_keys = pki::generate_keys(spec.key_type, n_keys, &|| {})?.into_iter();
    let mut renewed = Vec::new();
    let given_key = || -> Result<pki::Key, BuildError> {
        let pem = ca_key.ok_or_else(|| {
            BuildError::Render("renewal needs the CA key, and none was given".into())
        })?;
        Ok(pki::key_from_pem(pem.expose_str())?)
    };

    // The issuing CA afterwards (certificate and PEM), the key that signs (none when nothing
    // is signed: a plan that only drops old CAs from ca.crt needs no key), and a CA
    // published now, which goes last in ca.crt.
    let mut issuing = (current_ca, ca_blocks[0].clone());
    let mut signing_key = None;
    let mut published = None;
    match plan.ca_step {
        Some(CaStep::Publish) => {
            let d = plan.ca.as_ref().expect("a CA step has its reason");
            let k = new_keys.next().expect("key for the new CA");
            let na = now + spec.ca_validity.as_time();
            let params = pki::ca_params(&bundle::ca_common_name(now), &k, nb, na);
            let pem = pki::self_sign(&params, &k)?;
            let info = inspect_pem(&pem);
            renewed.push(Renewed {
                file: bundle::CA_CRT.into(),
                role: "new-ca".into(),
                old_serial: d.old_serial.clone(),
                new_serial: info.serial.clone(),
                sha256_fingerprint: info.sha256_fingerprint.clone(),
                not_after: bundle::rfc3339(info.not_after),
            });
            // Stored as the current one is: a protected CA key stays protected, to the same keys.
            cakey::put_in(&mut out, &pki::key_pem(&k), sealer, Slot::Next)?;
            rollover = Some(CaRollover {
                sha256_fingerprint: info.sha256_fingerprint,
                subject: info.subject,
                started_at: bundle::rfc3339(now),
                finish_after: plan
                    .finish_after
                    .clone()
                    .unwrap_or_else(|| bundle::rfc3339(now)),
            });
            published = Some(pem);
            if !plan.leaves.is_empty() {
                signing_key = Some(given_key()?);
            }
        }
        Some(CaStep::Finish) => {
            let r = rollover
                .take()
                .ok_or_else(|| BuildError::Render("no CA rollover is in progress".into()))?;
            let i = cas
                .iter()
                .position(|c| c.sha256_fingerprint == r.sha256_fingerprint)
                .ok_or_else(|| {
                    BuildError::Render(format!(
                        "the rollover's new CA `{}` is missing from ca.crt",
                        r.subject
                    ))
                })?;
            let k = given_key()?;
            if inspect::key_spki(pki::key_pem(&k).expose_str())
                .ok()
                .as_deref()
                != Some(cas[i].spki_der.as_slice())
            {
                return Err(BuildError::Render(format!(
                    "the key of the rollover's new CA does not match `{}` in ca.crt",
                    r.subject
                )));
            }
            // The old CA stays trusted until every certificate it issued has expired.
            let mut keep_until = now;
            for (crt, _, _) in leaves(spec) {
                if let Ok(c) = first_cert(files, &crt) {
                    if inspect::verify_signed_by(&c.der, &current_ca.der).is_ok() {
                        keep_until = keep_until.max(c.not_after);
                    }
                }
            }
            retired.push(RetiredCa {
                sha256_fingerprint: current_ca.sha256_fingerprint.clone(),
                subject: current_ca.subject.clone(),
                keep_until: bundle::rfc3339(keep_until.min(current_ca.not_after)),
            });
            renewed.push(Renewed {
                file: bundle::CA_CRT.into(),
                role: "ca".into(),
                old_serial: current_ca.serial.clone(),
                new_serial: cas[i].serial.clone(),
                sha256_fingerprint: cas[i].sha256_fingerprint.clone(),
                not_after: bundle::rfc3339(cas[i].not_after),
            });
            cakey::put(&mut out, &pki::key_pem(&k), sealer)?;
            cakey::remove(&mut out, Slot::Next);
            issuing = (&cas[i], ca_blocks[i].clone());
            signing_key = Some(k);
        }
        None => {
            if !plan.leaves.is_empty() {
                signing_key = Some(given_key()?);
            }
        }
    }
    let ca_changed = plan.ca_step == Some(CaStep::Finish);
    let issuer = signing_key
        .as_ref()
        .map(|k| pki::issuer_from_pem(&issuing.1, k))
        .transpose()?;
    // The signer follows the issuing CA: a new issuing CA issues a new signer; a bundle made
    // before signing existed gets its first one the first time its CA key is at hand.
    if let Some(iss) = &issuer {
        if ca_changed || files.get(integrity::SIGNER_CRT).is_none() {
            bundle::put_signer(&mut out, iss, nb, issuing.0.not_after)?;
        }
    }

    // ca.crt: the issuing CA first, then old CAs still trusted and a rollover's new CA.
    let mut ca_bundle = issuing.1.clone();
    for (c, block) in cas.iter().zip(&ca_blocks) {
        let fp = &c.sha256_fingerprint;
        let keep = retired.iter().any(|r| &r.sha256_fingerprint == fp)
            || rollover
                .as_ref()
                .is_some_and(|r| &r.sha256_fingerprint == fp);
        if keep && *fp != issuing.0.sha256_fingerprint {
            ca_bundle.push_str(block);
        }
    }
    if let Some(pem) = &published {
        ca_bundle.push_str(pem);
    }
    if ca_bundle.as_bytes() != files.get(bundle::CA_CRT).expect("ca.crt").data.expose() {
        out.put(OutFile::public(bundle::CA_CRT, ca_bundle));
    }
    let ca_not_after = issuing.0.not_after;

    let leaf_na = (now + spec.cert_validity.as_time()).min(ca_not_after);
    for d in &plan.leaves {
        let key_file = leaves(spec)
            .into_iter()
            .find(|(c, _, _)| *c == d.file)
            .map(|(_, k, _)| k)
            .expect("leaf key");
        let key = if reuse_key {
            pki::key_from_pem(files.text(&key_file).unwrap_or(""))?
        } else {
            new_keys.next().expect("key per leaf")
        };
        let leaf = if d.role == "server" {
            let inst = spec
                .instances()
                .into_iter()
                .find(|i| i.crt == d.file)
                .expect("server leaf of an instance");
            let cn = first_cert(files, &d.file)
                .map(|c| c.common_name)
                .unwrap_or_else(|_| inst.name.clone());
            Leaf::Server {
                common_name: cn,
                hosts: inst.hosts,
            }
        } else {
            let name = d.file.trim_end_matches(".crt");
            match spec.users.iter().find(|u| u.name == name) {
                Some(u) => bundle::client_leaf(spec, u),
                None => Leaf::Client {
                    common_name: name.to_string(),
                    uri: pki::client_uri(&spec.trust_domain, name),
                },
            }
        };
        let params = pki::leaf_params(&leaf, spec.key_type, &key, nb, leaf_na)?;
        let issuer = issuer
            .as_ref()
            .expect("a plan with leaves has a signing key");
        let pem = pki::sign_leaf(&params, &key, issuer)?;
        let info = inspect_pem(&pem);
        renewed.push(Renewed {
            file: d.file.clone(),
            role: d.role.clone(),
            old_serial: d.old_serial.clone(),
            new_serial: info.serial,
            sha256_fingerprint: info.sha256_fingerprint,
            not_after: bundle::rfc3339(info.not_after),
        });
        out.put(OutFile::public(d.file.clone(), pem));
        if !reuse_key {
            out.put(OutFile::secret(key_file, pki::key_pem(&key)));
        }
    }
    let records = bundle::Records {
        retired_cas: retired,
        rotations: m.rotations.clone(),
        ca_rollover: rollover,
        revoked: m.revoked.clone(),
    };
    let manifest = bundle::build_manifest(spec, &out, generation, now, records)?;
    bundle::put_manifest(&mut out, manifest)?;
    Ok((out, renewed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `plan` to a bundle whose `ca.key` is plaintext in `files`.
    fn apply_plain(
        files: &Files,
        m: &Manifest,
        plan: &Plan,
        now: OffsetDateTime,
        reuse_key: bool,
        generation: &str,
    ) -> Result<(Files, Vec<Renewed>), BuildError> {
        let key = files.get(bundle::CA_KEY).map(|f| f.data.clone());
        let a = Apply {
            now,
            generation,
            reuse_key,
            ca_key: key.as_ref(),
            sealer: &Sealer::Plain,
        };
        apply(files, m, plan, &a)
    }

    /// Applies `plan` (new leaf keys) with the CA key `ca_key`, storing a new CA's key with
    /// `sealer`.
    fn apply_keyed(
        (files, m, plan): (&Files, &Manifest, &Plan),
        now: OffsetDateTime,
        generation: &str,
        ca_key: Option<&Secret>,
        sealer: &Sealer,
    ) -> Result<(Files, Vec<Renewed>), BuildError> {
        let reuse_key = false;
        apply(
            files,
            m,
            plan,
            &Apply {
                now,
                generation,
                reuse_key,
                ca_key,
                sealer,
            },
        )
    }

    fn auto() -> Request {
        Request::default()
    }

    fn forced() -> Request {
        Request {
            force: true,
            ..Request::default()
        }
    }

    fn manifest(f: &Files) -> Manifest {
        serde_json::from_str(f.text("manifest.json").unwrap()).unwrap()
    }

    fn fresh(spec: &Spec, at: OffsetDateTime) -> (Files, Manifest) {
        let f = bundle::generate(spec, &bundle::Gen::new("/b", "g", at)).unwrap();
        let m = serde_json::from_str(f.text("manifest.json").unwrap()).unwrap();
        (f, m)
    }

    #[test]
    fn nothing_due_on_a_fresh_bundle() {
        let now = OffsetDateTime::now_utc();
        let (f, m) = fresh(&Spec::default(), now);
        assert!(plan(&f, &m, now, &auto()).unwrap().is_empty());
    }

    #[test]
    fn short_leaves_are_due_and_renewed_from_the_same_ca() {
        let now = OffsetDateTime::now_utc();
        let (f, m) = fresh(
            &Spec {
                cert_validity: "1h".parse().unwrap(),
                ..Spec::default()
            },
            now,
        );
        let later = now + time::Duration::minutes(45);
        let p = plan(&f, &m, later, &auto()).unwrap();
        assert!(p.ca.is_none());
        assert_eq!(p.leaves.len(), 4);
        let (g, r) = apply_plain(&f, &m, &p, later, false, "g2").unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(
            g.get("ca.crt").unwrap().data,
            f.get("ca.crt").unwrap().data,
            "CA untouched"
        );
        assert_eq!(g.get("ca.key").unwrap().data, f.get("ca.key").unwrap().data);
        assert_ne!(
            g.get("redis.key").unwrap().data,
            f.get("redis.key").unwrap().data,
            "fresh key"
        );
        let ca = first_cert(&g, "ca.crt").unwrap();
        for x in &r {
            let c = first_cert(&g, &x.file).unwrap();
            assert_ne!(x.new_serial, x.old_serial);
            inspect::verify_signed_by(&c.der, &ca.der).unwrap();
        }
        assert_eq!(
            first_cert(&g, "redis.crt").unwrap().sans,
            vec!["redis", "localhost", "127.0.0.1", "::1"]
        );
        let report = super::super::checkup::check(&g, later, Default::default(), &|_| true);
        assert!(
            report.certificates.iter().all(|c| c.seconds_left > 3000),
            "renewed leaves have a full hour"
        );
    }

    #[test]
    fn reuse_key_keeps_the_key() {
        let now = OffsetDateTime::now_utc();
        let (f, m) = fresh(&Spec::default(), now);
        let p = plan(&f, &m, now, &forced()).unwrap();
        let (g, _) = apply_plain(&f, &m, &p, now, true, "g2").unwrap();
        assert_eq!(
            g.get("redis.key").unwrap().data,
            f.get("redis.key").unwrap().data
        );
        assert_ne!(
            g.get("redis.crt").unwrap().data,
            f.get("redis.crt").unwrap().data
        );
    }

    #[test]
    fn ca_rollover_publishes_first_then_moves_leaves_then_drops_the_old() {
        let now = OffsetDateTime::now_utc();
        let spec = Spec {
            ca_validity: "3d".parse().unwrap(),
            cert_validity: "1d".parse().unwrap(),
            ..Spec::default()
        };
        let (f, m) = fresh(&spec, now);
        let old_ca = first_cert(&f, "ca.crt").unwrap();

        // When the CA is due (22h of 72h left), a timer starts the rollover, and the overlap
        // ends while the old CA has half its time left.
        let late = now + time::Duration::hours(50);
        let p = plan(&f, &m, late, &auto()).unwrap();
        assert_eq!(p.ca_step, Some(CaStep::Publish));
        assert_eq!(
            p.finish_after.as_deref(),
            Some(
                bundle::rfc3339(
                    (late + (old_ca.not_after - late) / 2i32)
                        .replace_nanosecond(0)
                        .unwrap()
                )
                .as_str()
            )
        );

        // Step 1, asked for: a new CA is published after the old one; every leaf stays on
        // the old CA.
        let t1 = (now + time::Duration::hours(1))
            .replace_nanosecond(0)
            .unwrap();
        let start = Request {
            ca: CaRequest::Start,
            overlap: "2h".parse().unwrap(),
            ..auto()
        };
        let p = plan(&f, &m, t1, &start).unwrap();
        assert_eq!(p.ca_step, Some(CaStep::Publish));
        assert!(p.leaves.is_empty(), "no leaf moves yet: {:?}", p.leaves);
        assert_eq!(
            p.finish_after.as_deref(),
            Some(bundle::rfc3339(t1 + time::Duration::hours(2)).as_str())
        );
        let (g, r) = apply_plain(&f, &m, &p, t1, false, "g2").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].role, "new-ca");
        let cas = all_certs(&g, "ca.crt").unwrap();
        assert_eq!(cas.len(), 2, "old and new CA published");
        assert_eq!(
            cas[0].sha256_fingerprint, old_ca.sha256_fingerprint,
            "old CA still issues"
        );
        assert_eq!(cas[1].sha256_fingerprint, r[0].sha256_fingerprint);
        for leaf in ["redis.crt", "app.crt", "admin.crt", "monitor.crt"] {
            assert_eq!(
                g.get(leaf).unwrap().data,
                f.get(leaf).unwrap().data,
                "{leaf} untouched"
            );
        }
        assert_eq!(g.get("ca.key").unwrap().data, f.get("ca.key").unwrap().data);
        let next = g.text(bundle::CA_NEXT_KEY).expect("new CA key stored");
        assert_eq!(g.get(bundle::CA_NEXT_KEY).unwrap().mode, 0o600);
        assert_eq!(inspect::key_spki(next).unwrap(), cas[1].spki_der);
        let m2 = manifest(&g);
        let ro = m2.ca_rollover.clone().expect("rollover recorded");
        assert_eq!(ro.sha256_fingerprint, cas[1].sha256_fingerprint);
        assert!(
            m2.files.iter().any(|x| x.name == bundle::CA_NEXT_KEY),
            "signed like every file"
        );
        let check =
            |f: &Files, at| super::super::checkup::check(f, at, Default::default(), &|_| true);
        let report = check(&g, t1);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.ca_rollover.phase, "overlap");
        assert_eq!(report.ca_rollover.overlap_seconds_left, Some(7200));
        let late_check = check(&g, t1 + time::Duration::hours(3));
        assert_eq!(late_check.ca_rollover.phase, "finish-due");
        assert!(late_check
            .findings
            .iter()
            .any(|x| x.status == super::super::checkup::Status::Warning
                && x.message.contains("overlap ended")));
        // A wrong new-CA key, or a CA in ca.crt that nothing records, is critical.
        let mut bad = g.clone();
        bad.put(OutFile::secret(
            bundle::CA_NEXT_KEY,
            f.get("ca.key").unwrap().data.clone(),
        ));
        assert!(check(&bad, t1)
            .findings
            .iter()
            .any(|x| x.file == bundle::CA_NEXT_KEY
                && x.status == super::super::checkup::Status::Critical));
        let (foreign, _) = fresh(&spec, now);
        let mut bad = f.clone();
        let mut pem = f.text("ca.crt").unwrap().to_string();
        pem.push_str(foreign.text("ca.crt").unwrap());
        bad.put(OutFile::public("ca.crt", pem));
        assert!(check(&bad, t1)
            .findings
            .iter()
            .any(|x| x.file == "ca.crt" && x.message.contains("neither the issuing CA")));

        // A second start, and a finish before the overlap has passed, are refused.
        let finish = Request {
            ca: CaRequest::Finish,
            ..auto()
        };
        assert!(matches!(
            plan(&g, &m2, t1, &start),
            Err(PlanError::InProgress { .. })
        ));
        assert!(matches!(
            plan(&g, &m2, t1 + time::Duration::minutes(119), &finish),
            Err(PlanError::TooEarly { .. })
        ));
        // A leaf renewed during the overlap still comes from the old CA, and the new CA stays.
        let mid = t1 + time::Duration::hours(1);
        let pf = plan(&g, &m2, mid, &forced()).unwrap();
        assert_eq!(pf.ca_step, None);
        let (g1, _) = apply_plain(&g, &m2, &pf, mid, false, "g2b").unwrap();
        let srv = first_cert(&g1, "redis.crt").unwrap();
        inspect::verify_signed_by(&srv.der, &old_ca.der).unwrap();
        assert_eq!(all_certs(&g1, "ca.crt").unwrap().len(), 2);
        assert!(g1.get(bundle::CA_NEXT_KEY).is_some());

        // Step 2: after the overlap, every leaf moves to the new CA, which issues first.
        let t2 = t1 + time::Duration::hours(2);
        let p = plan(&g, &m2, t2, &finish).unwrap();
        assert_eq!(p.ca_step, Some(CaStep::Finish));
        assert_eq!(p.signing_slot(), Slot::Next);
        assert_eq!(p.leaves.len(), 4, "every leaf moves to the new CA");
        let auto_p = plan(&g, &m2, t2, &auto()).unwrap();
        assert_eq!(
            auto_p.ca_step,
            Some(CaStep::Finish),
            "a timer finishes it too"
        );
        let next_key = g.get(bundle::CA_NEXT_KEY).unwrap().data.clone();
        let (h, _) = apply_keyed((&g, &m2, &p), t2, "g3", Some(&next_key), &Sealer::Plain).unwrap();
        let cas = all_certs(&h, "ca.crt").unwrap();
        assert_eq!(cas.len(), 2);
        assert_eq!(
            cas[0].sha256_fingerprint, ro.sha256_fingerprint,
            "new CA issues"
        );
        assert_eq!(
            cas[1].sha256_fingerprint, old_ca.sha256_fingerprint,
            "old CA still trusted"
        );
        assert_eq!(h.get("ca.key").unwrap().data, next_key);
        assert!(h.get(bundle::CA_NEXT_KEY).is_none());
        let srv = first_cert(&h, "redis.crt").unwrap();
        inspect::verify_signed_by(&srv.der, &cas[0].der).unwrap();
        assert!(inspect::verify_signed_by(&srv.der, &old_ca.der).is_err());
        let old_app = first_cert(&f, "app.crt").unwrap();
        inspect::verify_signed_by(&old_app.der, &cas[1].der).unwrap();
        let m3 = manifest(&h);
        assert!(m3.ca_rollover.is_none());
        assert_eq!(m3.retired_cas.len(), 1);
        // The old CA stays until the last certificate it issued has expired.
        assert_eq!(
            m3.retired_cas[0].keep_until,
            bundle::rfc3339(first_cert(&g, "app.crt").unwrap().not_after)
        );
        assert!(first_cert(&g, "app.crt").unwrap().not_after > t2);
        let report = check(&h, t2);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.ca_rollover.phase, "old-ca-trusted");
        assert_eq!(
            report.ca_rollover.old_cas[0].sha256_fingerprint,
            old_ca.sha256_fingerprint
        );

        // Once they have expired, the old CA is dropped.
        let t3 = now + time::Duration::hours(25);
        let p3 = plan(&h, &m3, t3, &auto()).unwrap();
        assert_eq!(p3.drop_cas.len(), 1);
        let (k, _) = apply_plain(&h, &m3, &p3, t3, false, "g4").unwrap();
        assert_eq!(all_certs(&k, "ca.crt").unwrap().len(), 1);
        assert!(manifest(&k).retired_cas.is_empty());
        // --retire-old-ca drops it at once; with nothing to retire it is refused.
        let retire = Request {
            retire_old_cas: true,
            ..auto()
        };
        assert_eq!(plan(&h, &m3, t2, &retire).unwrap().drop_cas.len(), 1);
        assert!(matches!(
            plan(&k, &manifest(&k), t3, &retire),
            Err(PlanError::NothingToRetire(_))
        ));
        assert!(matches!(
            plan(&g, &m2, t1, &retire),
            Err(PlanError::NothingToRetire(_))
        ));
        assert!(matches!(
            plan(&k, &manifest(&k), t3, &finish),
            Err(PlanError::NoRollover)
        ));
    }

    #[test]
    fn protected_ca_key_is_resealed_on_rollover_and_dropping_needs_no_key() {
        use super::super::cakey::{self, Protection, Unlock, CA_KEY_AGE};
        let now = OffsetDateTime::now_utc();
        let id = age::x25519::Identity::generate();
        let spec = Spec {
            ca_validity: "3d".parse().unwrap(),
            cert_validity: "1d".parse().unwrap(),
            ca_key: Some(Protection::Recipients {
                recipients: vec![id.to_public().to_string()],
            }),
            ..Spec::default()
        };
        let sealer = Sealer::for_protection(spec.ca_key.as_ref(), None).unwrap();
        let f = bundle::generate(&spec, &bundle::Gen::new("/b", "g", now).sealed(&sealer)).unwrap();
        let m: Manifest = serde_json::from_str(f.text("manifest.json").unwrap()).unwrap();
        let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(id)];
        let unlock = Unlock::Identities(&ids);
        let key = cakey::load(&f, m.spec.ca_key.as_ref(), Some(&unlock)).unwrap();

        // Signing without the key fails; nothing is returned.
        let p = plan(&f, &m, now, &forced()).unwrap();
        assert!(p.needs_ca_key());
        assert!(apply_keyed((&f, &m, &p), now, "g2", None, &sealer).is_err());

        let t1 = now + time::Duration::hours(50);
        let p = plan(&f, &m, t1, &auto()).unwrap();
        assert_eq!(p.ca_step, Some(CaStep::Publish));
        let (g1, _) = apply_keyed((&f, &m, &p), t1, "g2", Some(&key), &sealer).unwrap();
        assert!(
            g1.get(bundle::CA_NEXT_KEY).is_none(),
            "no plaintext new CA key"
        );
        assert!(g1.get(cakey::CA_NEXT_KEY_AGE).is_some());
        let m1 = manifest(&g1);
        let next = cakey::load_in(&g1, m1.spec.ca_key.as_ref(), Some(&unlock), Slot::Next)
            .expect("the new CA key opens with the same identity and matches the new CA");
        // The old key does not pass for the new one.
        let t2 = t1 + time::Duration::hours(12);
        let p = plan(&g1, &m1, t2, &auto()).unwrap();
        assert_eq!(p.ca_step, Some(CaStep::Finish));
        assert!(apply_keyed((&g1, &m1, &p), t2, "g3", Some(&key), &sealer).is_err());
        let (g, _) = apply_keyed((&g1, &m1, &p), t2, "g3", Some(&next), &sealer).unwrap();
        assert!(g.get(bundle::CA_KEY).is_none(), "still no plaintext CA key");
        assert!(g.get(cakey::CA_NEXT_KEY_AGE).is_none());
        let m2 = manifest(&g);
        assert_eq!(m2.spec.ca_key, spec.ca_key);
        let new_key = cakey::load(&g, m2.spec.ca_key.as_ref(), Some(&unlock)).unwrap();
        assert_eq!(new_key, next);
        assert_ne!(
            new_key, key,
            "the new CA has a new key, sealed to the same recipient"
        );
        assert_ne!(
            g.get(CA_KEY_AGE).unwrap().data,
            f.get(CA_KEY_AGE).unwrap().data
        );

        // A plan that only drops an old CA from ca.crt signs nothing and needs no key.
        let drop_only = Plan {
            drop_cas: vec![m2.retired_cas[0].sha256_fingerprint.clone()],
            ..Plan::default()
        };
        assert!(!drop_only.needs_ca_key());
        let (h, r) = apply_keyed((&g, &m2, &drop_only), t2, "g4", None, &Sealer::Plain).unwrap();
        assert!(r.is_empty());
        assert_eq!(all_certs(&h, "ca.crt").unwrap().len(), 1);
        assert_eq!(
            h.get(CA_KEY_AGE).unwrap().data,
            g.get(CA_KEY_AGE).unwrap().data
        );
    }
}
