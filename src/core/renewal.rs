//! Certificate renewal, pure: which certificates are due, and the bundle that re-issues them.
//!
//! A leaf is due when less than `within` (default: a third of its lifetime, the cert-manager
//! and step rule) is left. The CA is due by the same rule; a CA rollover never replaces the
//! CA silently: the new CA is published in `ca.crt` together with the old one, every leaf is
//! re-issued from the new CA, and the old CA stays in `ca.crt` until every certificate it
//! issued has expired, so peers still holding old-CA certificates keep working meanwhile.

use super::bundle::{self, BuildError, Files, Manifest, OutFile, RetiredCa};
use super::cakey::{self, Sealer};
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

#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// Set when the CA rolls over.
    pub ca: Option<Due>,
    pub leaves: Vec<Due>,
    /// Old CAs whose certificates have all expired: dropped from ca.crt.
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

pub fn plan(
    files: &Files,
    m: &Manifest,
    now: OffsetDateTime,
    within: Option<Dur>,
    force: bool,
    force_ca: bool,
) -> Result<Plan, BuildError> {
    let ca = first_cert(files, bundle::CA_CRT)?;
    let mut p = Plan {
        ca: due(&ca, bundle::CA_CRT, "ca", now, None, force_ca),
        ..Plan::default()
    };
    for (crt, _, role) in leaves(&m.spec) {
        let c = first_cert(files, &crt)?;
        // Everything must move to a new CA; a leaf must never outlive its CA either.
        let forced = force || p.ca.is_some();
        if let Some(mut d) = due(&c, &crt, &role, now, within, forced) {
            if p.ca.is_some() && !force {
                d.reason = "re-issued from the new CA".into();
            }
            p.leaves.push(d);
        }
    }
    for r in &m.retired_cas {
        let until = OffsetDateTime::parse(
            &r.keep_until,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or(now);
        if until <= now {
            p.drop_cas.push(r.sha256_fingerprint.clone());
        }
    }
    Ok(p)
}

/// Applies `plan` to a bundle with a plaintext `ca.key` (see `apply_with`).
pub fn apply(
    files: &Files,
    m: &Manifest,
    plan: &Plan,
    now: OffsetDateTime,
    reuse_key: bool,
    generation: &str,
) -> Result<(Files, Vec<Renewed>), BuildError> {
    let key = files.get(bundle::CA_KEY).map(|f| f.data.clone());
    apply_with(
        files,
        m,
        plan,
        now,
        reuse_key,
        generation,
        key.as_ref(),
        &Sealer::Plain,
    )
}

/// Applies `plan`, returning the new bundle (manifest included) and what was re-issued.
/// `ca_key` is the current CA's private key (PEM), needed only when `plan.needs_ca_key()`;
/// a new CA's key is stored by `sealer` (plaintext `ca.key`, or `ca.key.age`).
#[allow(clippy::too_many_arguments)]
pub fn apply_with(
    files: &Files,
    m: &Manifest,
    plan: &Plan,
    now: OffsetDateTime,
    reuse_key: bool,
    generation: &str,
    ca_key: Option<&Secret>,
    sealer: &Sealer,
) -> Result<(Files, Vec<Renewed>), BuildError> {
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
    let nb = now - BACKDATE;
    let mut n_keys = if reuse_key { 0 } else { plan.leaves.len() };
    if plan.ca.is_some() {
        n_keys += 1;
    }
    let mut new_keys = pki::generate_keys(spec.key_type, n_keys, &|| {})?.into_iter();
    let mut renewed = Vec::new();

    // The signing key: a new CA's, the current CA's, or none when nothing is signed (a plan
    // that only drops old CAs from ca.crt needs no key).
    let (signing_key, new_ca, ca_not_after) = if let Some(d) = &plan.ca {
        let k = new_keys.next().expect("key for the new CA");
        let na = now + spec.ca_validity.as_time();
        let params = pki::ca_params(&bundle::ca_common_name(now), &k, nb, na);
        let pem = pki::self_sign(&params, &k)?;
        // The old CA stays published until every leaf it signed has expired.
        let mut keep_until = current_ca.not_after;
        for (crt, _, _) in leaves(spec) {
            if let Ok(c) = first_cert(files, &crt) {
                if inspect::verify_signed_by(&c.der, &current_ca.der).is_ok() {
                    keep_until = keep_until.min(c.not_after.max(now));
                }
            }
        }
        retired.push(RetiredCa {
            sha256_fingerprint: current_ca.sha256_fingerprint.clone(),
            subject: current_ca.subject.clone(),
            keep_until: bundle::rfc3339(keep_until),
        });
        let info =
            inspect::inspect(&inspect::pem_certificates(pem.as_bytes()).expect("own PEM")[0])
                .expect("own cert");
        renewed.push(Renewed {
            file: bundle::CA_CRT.into(),
            role: "ca".into(),
            old_serial: d.old_serial.clone(),
            new_serial: info.serial.clone(),
            sha256_fingerprint: info.sha256_fingerprint.clone(),
            not_after: bundle::rfc3339(info.not_after),
        });
        // Stored as the old one was: a protected CA key stays protected, to the same keys.
        cakey::put(&mut out, &pki::key_pem(&k), sealer)?;
        (Some(k), Some((params, pem)), na)
    } else if plan.leaves.is_empty() {
        (None, None, current_ca.not_after)
    } else {
        let pem = ca_key.ok_or_else(|| {
            BuildError::Render("renewal needs the CA key, and none was given".into())
        })?;
        (
            Some(pki::key_from_pem(pem.expose_str())?),
            None,
            current_ca.not_after,
        )
    };
    let issuer = match (&signing_key, &new_ca) {
        (Some(k), Some((params, _))) => Some(rcgen::Issuer::from_params(params, k)),
        (Some(k), None) => Some(pki::issuer_from_pem(&ca_blocks[0], k)?),
        _ => None,
    };
    // The signer follows the CA: a new CA issues a new signer; a bundle made before
    // signing existed gets its first one the first time its CA key is at hand.
    if let Some(iss) = &issuer {
        if new_ca.is_some() || files.get(integrity::SIGNER_CRT).is_none() {
            bundle::put_signer(&mut out, iss, nb, ca_not_after)?;
        }
    }

    // ca.crt: the issuing CA first, then old CAs still in their overlap.
    let mut ca_bundle = match &new_ca {
        Some((_, pem)) => pem.clone(),
        None => ca_blocks[0].clone(),
    };
    for (c, block) in cas.iter().zip(&ca_blocks) {
        let keep = retired
            .iter()
            .any(|r| r.sha256_fingerprint == c.sha256_fingerprint);
        if keep && (new_ca.is_some() || c.sha256_fingerprint != current_ca.sha256_fingerprint) {
            ca_bundle.push_str(block);
        }
    }
    if ca_bundle.as_bytes() != files.get(bundle::CA_CRT).expect("ca.crt").data.expose() {
        out.put(OutFile::public(bundle::CA_CRT, ca_bundle));
    }

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
            Leaf::Client {
                user: d.file.trim_end_matches(".crt").to_string(),
                trust_domain: spec.trust_domain.clone(),
            }
        };
        let params = pki::leaf_params(&leaf, spec.key_type, &key, nb, leaf_na)?;
        let issuer = issuer
            .as_ref()
            .expect("a plan with leaves has a signing key");
        let pem = pki::sign_leaf(&params, &key, issuer)?;
        let info =
            inspect::inspect(&inspect::pem_certificates(pem.as_bytes()).expect("own PEM")[0])
                .expect("own cert");
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
    let manifest =
        bundle::build_manifest_full(spec, &out, generation, now, retired, m.rotations.clone())?;
    bundle::put_manifest(&mut out, manifest)?;
    Ok((out, renewed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(spec: &Spec, at: OffsetDateTime) -> (Files, Manifest) {
        let f = bundle::generate(spec, "/b", "g", at, &|_| {}).unwrap();
        let m = serde_json::from_str(f.text("manifest.json").unwrap()).unwrap();
        (f, m)
    }

    #[test]
    fn nothing_due_on_a_fresh_bundle() {
        let now = OffsetDateTime::now_utc();
        let (f, m) = fresh(&Spec::default(), now);
        assert!(plan(&f, &m, now, None, false, false).unwrap().is_empty());
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
        let p = plan(&f, &m, later, None, false, false).unwrap();
        assert!(p.ca.is_none());
        assert_eq!(p.leaves.len(), 4);
        let (g, r) = apply(&f, &m, &p, later, false, "g2").unwrap();
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
        let p = plan(&f, &m, now, None, true, false).unwrap();
        let (g, _) = apply(&f, &m, &p, now, true, "g2").unwrap();
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
    fn ca_rollover_publishes_both_then_drops_the_old() {
        let now = OffsetDateTime::now_utc();
        let spec = Spec {
            ca_validity: "3d".parse().unwrap(),
            cert_validity: "1d".parse().unwrap(),
            ..Spec::default()
        };
        let (f, m) = fresh(&spec, now);
        let t1 = now + time::Duration::hours(50); // CA has 22h of 72h left: due
        let p = plan(&f, &m, t1, None, false, false).unwrap();
        assert!(p.ca.is_some());
        assert_eq!(p.leaves.len(), 4, "every leaf moves to the new CA");
        let (g, _) = apply(&f, &m, &p, t1, false, "g2").unwrap();
        let cas = all_certs(&g, "ca.crt").unwrap();
        assert_eq!(cas.len(), 2, "new and old CA published");
        let old_ca = first_cert(&f, "ca.crt").unwrap();
        assert_eq!(cas[1].sha256_fingerprint, old_ca.sha256_fingerprint);
        assert_ne!(cas[0].subject, old_ca.subject);
        let srv = first_cert(&g, "redis.crt").unwrap();
        inspect::verify_signed_by(&srv.der, &cas[0].der).unwrap();
        assert!(inspect::verify_signed_by(&srv.der, &old_ca.der).is_err());
        // An old-CA client certificate still verifies against the published bundle.
        let old_app = first_cert(&f, "app.crt").unwrap();
        assert!(cas
            .iter()
            .any(|c| inspect::verify_signed_by(&old_app.der, &c.der).is_ok()));
        let m2: Manifest = serde_json::from_str(g.text("manifest.json").unwrap()).unwrap();
        assert_eq!(m2.retired_cas.len(), 1);
        // Once the old leaves have expired, the old CA is dropped.
        let t2 = now + time::Duration::hours(80);
        let p2 = plan(&g, &m2, t2, None, false, false).unwrap();
        assert_eq!(p2.drop_cas.len(), 1);
        let (h, _) = apply(&g, &m2, &p2, t2, false, "g3").unwrap();
        assert_eq!(all_certs(&h, "ca.crt").unwrap().len(), 1);
        let m3: Manifest = serde_json::from_str(h.text("manifest.json").unwrap()).unwrap();
        assert!(m3.retired_cas.is_empty());
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
        let f = bundle::generate_sealed(&spec, "/b", "g", now, &|_| {}, &sealer).unwrap();
        let m: Manifest = serde_json::from_str(f.text("manifest.json").unwrap()).unwrap();
        let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(id)];
        let unlock = Unlock::Identities(&ids);
        let key = cakey::load(&f, m.spec.ca_key.as_ref(), Some(&unlock)).unwrap();

        // Signing without the key fails; nothing is returned.
        let p = plan(&f, &m, now, None, true, false).unwrap();
        assert!(p.needs_ca_key());
        assert!(apply_with(&f, &m, &p, now, false, "g2", None, &sealer).is_err());

        let t1 = now + time::Duration::hours(50);
        let p = plan(&f, &m, t1, None, false, false).unwrap();
        assert!(p.ca.is_some());
        let (g, _) = apply_with(&f, &m, &p, t1, false, "g2", Some(&key), &sealer).unwrap();
        assert!(g.get(bundle::CA_KEY).is_none(), "still no plaintext CA key");
        let m2: Manifest = serde_json::from_str(g.text("manifest.json").unwrap()).unwrap();
        assert_eq!(m2.spec.ca_key, spec.ca_key);
        let new_key = cakey::load(&g, m2.spec.ca_key.as_ref(), Some(&unlock)).unwrap();
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
        let (h, r) =
            apply_with(&g, &m2, &drop_only, t1, false, "g3", None, &Sealer::Plain).unwrap();
        assert!(r.is_empty());
        assert_eq!(all_certs(&h, "ca.crt").unwrap().len(), 1);
        assert_eq!(
            h.get(CA_KEY_AGE).unwrap().data,
            g.get(CA_KEY_AGE).unwrap().data
        );
    }
}
