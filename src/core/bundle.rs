//! The bundle as a set of files in memory: what `init` generates and what every later command
//! reads, changes and hands to the store as one new generation.

use super::cakey::{self, Sealer};
use super::inspect;
use super::integrity;
use super::password::{self, sha256_hex};
use super::pki::{self, Leaf, BACKDATE};
use super::render::{self, AclEntry, ConfPaths, NodeConf, Rename, Templates};
use super::secret::Secret;
use super::spec::{Role, Spec, UserSpec};
use super::topology::{Instance, InstanceKind, Kind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

// The vocabulary (file names, modes, `OutFile`, `Files`) lives in `files.rs`, which every
// core module may use without depending on the generator; re-exported here for callers.
pub use super::files::*;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error("{0}")]
    Render(String),
    #[error(transparent)]
    Template(#[from] render::TemplateError),
    #[error(transparent)]
    CaKey(#[from] super::cakey::CaKeyError),
    #[error("reading back {file}: {source}")]
    Inspect {
        file: String,
        source: inspect::InspectError,
    },
}

/// Where Redis will find the bundle's files: the bundle directory as an absolute path, as
/// seen by redis-server (on the host, or inside a container).
pub fn conf_paths(conf_dir: &str) -> ConfPaths {
    instance_paths(conf_dir, SERVER_CRT, SERVER_KEY)
}

/// `conf_paths` for one instance's certificate and key.
pub fn instance_paths(conf_dir: &str, crt: &str, key: &str) -> ConfPaths {
    let p = |n: &str| format!("{}/{n}", conf_dir.trim_end_matches('/'));
    ConfPaths {
        tls_cert_file: p(crt),
        tls_key_file: p(key),
        tls_ca_cert_file: p(CA_CRT),
        aclfile: p(USERS_ACL),
    }
}

/// The CA's common name: unique per CA, so that an old and a new CA published side by side
/// during a rollover are told apart by name as well as by key identifier.
pub fn ca_common_name(now: OffsetDateTime) -> String {
    format!(
        "provision Redis CA {} {}",
        now.date(),
        password::random_token(8)
    )
}

/// Progress callback: called once per finished step with a short label.
pub type Tick<'a> = &'a (dyn Fn(&str) + Sync);

fn no_progress(_: &str) {}

/// Everything [`generate`] takes besides the spec. `Gen::new` has the defaults: the built-in
/// templates, a plaintext `ca.key`, no progress callback.
pub struct Gen<'a> {
    /// The directory the generated redis.conf names (the bundle's, or `--mount-dir`).
    pub conf_dir: &'a str,
    /// The generation's id, recorded in the manifest.
    pub generation: &'a str,
    pub now: OffsetDateTime,
    /// Templates for users.acl and redis.conf (`--templates`); None: the built-in ones.
    pub templates: Option<&'a Templates>,
    /// How the CA key is stored (plaintext `ca.key`, or only `ca.key.age`); None: plaintext.
    pub sealer: Option<&'a Sealer>,
    /// Called once per finished step with a short label.
    pub tick: Tick<'a>,
}

impl<'a> Gen<'a> {
    pub fn new(conf_dir: &'a str, generation: &'a str, now: OffsetDateTime) -> Self {
        Gen {
            conf_dir,
            generation,
            now,
            templates: None,
            sealer: None,
            tick: &no_progress,
        }
    }

    /// The same, storing the CA key as `sealer` says.
    pub fn sealed(self, sealer: &'a Sealer) -> Self {
        Gen {
            sealer: Some(sealer),
            ..self
        }
    }
}

/// Generates a complete new bundle for `spec` (already validated), rendering users.acl and
/// redis.conf from the templates first: a broken override costs no key generation. The CA key
/// is stored as the sealer says: plaintext `ca.key`, or only `ca.key.age` (the plaintext
/// never leaves memory).
pub fn generate(spec: &Spec, o: &Gen<'_>) -> Result<Files, BuildError> {
    let builtin;
    let templates = match o.templates {
        Some(t) => t,
        None => {
            builtin = Templates::builtin();
            &builtin
        }
    };
    let plain = Sealer::Plain;
    let sealer = o.sealer.unwrap_or(&plain);
    let (conf_dir, generation, now, tick) = (o.conf_dir, o.generation, o.now, o.tick);
    let nb = now - BACKDATE;
    let ca_na = now + spec.ca_validity.as_time();
    let leaf_na = (now + spec.cert_validity.as_time()).min(ca_na);

    // Passwords and the rendered files first: a broken template fails in microseconds.
    let passwords: Vec<Secret> = spec.users.iter().map(|_| password::generate()).collect();
    let entries: Vec<AclEntry<'_>> = spec
        .users
        .iter()
        .zip(&passwords)
        .map(|(u, pw)| AclEntry {
            user: u,
            hashes: if u.has_password() {
                vec![sha256_hex(pw.expose())]
            } else {
                vec![]
            },
        })
        .collect();
    let acl = render::users_acl_with(templates, &entries, spec.topology.kind, spec.target())?;
    let renames = new_renames(spec);
    let stamp = rfc3339(now);
    let instances = spec.instances();
    let dir = conf_dir.trim_end_matches('/');
    let masterauth = (!spec.topology.is_standalone()).then(|| format!("{dir}/{MASTERAUTH}"));
    let mut confs = Vec::new();
    for inst in instances.iter().filter(|i| i.kind == InstanceKind::Redis) {
        let node = NodeConf {
            port: inst.port,
            replicaof: inst
                .replica_of
                .as_ref()
                .map(|p| format!("{} {}", p.host(), p.port)),
            cluster: spec.topology.kind == Kind::Cluster,
            cluster_config_file: (spec.topology.kind == Kind::Cluster)
                .then(|| format!("nodes-{}.conf", inst.name)),
            masterauth_file: masterauth.clone(),
        };
        let conf = render::redis_conf_with(
            templates,
            spec,
            &instance_paths(conf_dir, &inst.crt, &inst.key),
            &node,
            &renames,
            &stamp,
        )?;
        confs.push(OutFile::secret(
            inst.conf.clone(),
            Secret::from_string(conf),
        ));
    }

    let mut keys = pki::generate_keys(
        spec.key_type,
        1 + instances.len() + spec.users.len(),
        &|| tick("key"),
    )?
    .into_iter();
    let ca_key = keys.next().expect("n keys");
    let ca_params = pki::ca_params(&ca_common_name(now), &ca_key, nb, ca_na);
    let ca_pem = pki::self_sign(&ca_params, &ca_key)?;
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);

    let mut files = Files::default();
    files.put(OutFile::public(CA_CRT, ca_pem));
    cakey::put(&mut files, &pki::key_pem(&ca_key), sealer)?;
    put_signer(&mut files, &issuer, nb, ca_na)?;

    for inst in &instances {
        let key = keys.next().expect("n keys");
        let p = pki::leaf_params(&server_leaf(spec, inst), spec.key_type, &key, nb, leaf_na)?;
        files.put(OutFile::public(
            inst.crt.clone(),
            pki::sign_leaf(&p, &key, &issuer)?,
        ));
        files.put(OutFile::secret(inst.key.clone(), pki::key_pem(&key)));
    }
    tick("server certificates");

    for ((u, key), pw) in spec.users.iter().zip(keys).zip(passwords) {
        let p = pki::leaf_params(&client_leaf(spec, u), spec.key_type, &key, nb, leaf_na)?;
        files.put(OutFile::public(
            user_crt(&u.name),
            pki::sign_leaf(&p, &key, &issuer)?,
        ));
        files.put(OutFile::secret(user_key(&u.name), pki::key_pem(&key)));
        if u.has_password() {
            files.put(OutFile::secret(user_password(&u.name), pw));
        }
    }
    tick("client certificates");

    files.put(OutFile::secret(USERS_ACL, Secret::from_string(acl)));

    for c in confs {
        files.put(c);
    }
    files.put(OutFile::secret(
        RENAMED,
        Secret::from_string(render::rename_map(&renames)),
    ));
    render_topology_files(templates, spec, &mut files, conf_dir, &stamp)?;

    let manifest = build_manifest(spec, &files, generation, now, Records::default())?;
    put_manifest(&mut files, manifest)?;
    Ok(files)
}

/// A new signer issued by `issuer` (the CA), valid until the CA's end, into `files`.
pub fn put_signer(
    files: &mut Files,
    issuer: &rcgen::Issuer<'_, &pki::Key>,
    not_before: OffsetDateTime,
    ca_not_after: OffsetDateTime,
) -> Result<(), BuildError> {
    let (crt, key) = integrity::issue_signer(issuer, not_before, ca_not_after)?;
    files.put(OutFile::public(integrity::SIGNER_CRT, crt));
    files.put(OutFile::secret(integrity::SIGNER_KEY, key));
    Ok(())
}

/// Stores `manifest` as the generation's `manifest.json` and signs it with the bundle's
/// signer key into `manifest.sig`. A bundle made before signing existed has no signer key
/// until its CA key is next used (`renew`): it stays unsigned, and `check` says so.
pub fn put_manifest(files: &mut Files, manifest: String) -> Result<(), BuildError> {
    let sig = match files.get(integrity::SIGNER_KEY) {
        Some(k) => Some(
            integrity::sign(&k.data, manifest.as_bytes())
                .map_err(|e| BuildError::Render(e.to_string()))?,
        ),
        None => None,
    };
    files.put(OutFile::public(MANIFEST, manifest));
    match sig {
        Some(s) => files.put(OutFile::public(integrity::MANIFEST_SIG, s)),
        None => files.0.retain(|f| f.name != integrity::MANIFEST_SIG),
    }
    Ok(())
}

/// The directory the bundle's configs name files in (the host dir or the mount dir), read
/// back from the first node's config.
pub fn conf_dir_of(files: &Files, spec: &Spec) -> String {
    spec.instances()
        .first()
        .and_then(|i| files.text(&i.conf))
        .and_then(|c| super::conf::value(c, "tls-ca-cert-file"))
        .and_then(|p| p.strip_suffix(&format!("/{CA_CRT}")).map(str::to_string))
        .unwrap_or_else(|| spec.mount_dir.clone().unwrap_or_default())
}

/// The client certificate of ACL user `user`.
pub fn client_leaf(spec: &Spec, user: &UserSpec) -> Leaf {
    Leaf::Client {
        common_name: spec.client_cn(user),
        uri: user
            .uri
            .clone()
            .unwrap_or_else(|| super::pki::client_uri(&spec.trust_domain, &user.name)),
    }
}

/// The certificate of one Redis or Sentinel process: SANs from its hosts; the CN is the
/// first DNS name for a standalone server, the node's name in a topology.
pub fn server_leaf(spec: &Spec, inst: &Instance) -> Leaf {
    Leaf::Server {
        common_name: if spec.topology.is_standalone() {
            server_cn(spec)
        } else {
            inst.name.clone()
        },
        hosts: inst.hosts.clone(),
    }
}

/// The files that hold passwords in clear for Redis or Sentinel to send: `masterauth.conf`
/// (the replication user's) and each Sentinel's config (the sentinel user's, plus the hashes
/// of its clients). Rendered from the current password files and users.acl, so `rotate`
/// calls this again after changing them.
pub fn render_topology_files(
    templates: &Templates,
    spec: &Spec,
    files: &mut Files,
    conf_dir: &str,
    stamp: &str,
) -> Result<(), BuildError> {
    let t = &spec.topology;
    if t.is_standalone() {
        return Ok(());
    }
    let password_of = |files: &Files, role: Role| -> Result<(String, String), BuildError> {
        let u = spec
            .user_with_role(role)
            .ok_or_else(|| BuildError::Render(format!("no user with role {role:?}")))?;
        let pw = files
            .text(&user_password(&u.name))
            .ok_or_else(|| BuildError::Render(format!("{}.password is missing", u.name)))?;
        Ok((u.name.clone(), pw.trim_end().to_string()))
    };
    let (ruser, rpass) = password_of(files, Role::Replication)?;
    let text = render::masterauth_conf(&ruser, &rpass)?;
    files.put(OutFile::secret(MASTERAUTH, Secret::from_string(text)));
    if t.sentinels.is_empty() {
        return Ok(());
    }
    let (suser, spass) = password_of(files, Role::Sentinel)?;
    let acl_text = files.text(USERS_ACL).unwrap_or("").to_string();
    let entries: Vec<AclEntry<'_>> = spec
        .users
        .iter()
        .map(|u| AclEntry {
            user: u,
            hashes: super::conf::acl_hashes(&acl_text, u.acl_name()),
        })
        .collect();
    let acl = render::sentinel_acl(&entries).map_err(BuildError::Render)?;
    let renames =
        render::parse_rename_map(files.text(RENAMED).unwrap_or("")).map_err(BuildError::Render)?;
    let primary = &t.nodes[0];
    for inst in spec
        .instances()
        .iter()
        .filter(|i| i.kind == InstanceKind::Sentinel)
    {
        let conf = render::sentinel_conf(
            templates,
            spec,
            &instance_paths(conf_dir, &inst.crt, &inst.key),
            &render::SentinelConf {
                name: &inst.name,
                port: inst.port,
                master_name: &t.master_name,
                primary_host: primary.host(),
                primary_port: primary.port,
                quorum: t.quorum(),
                down_after_ms: t.down_after_ms,
                auth_user: &suser,
                auth_pass: &spass,
            },
            &renames,
            &acl,
            stamp,
        )?;
        files.put(OutFile::secret(
            inst.conf.clone(),
            Secret::from_string(conf),
        ));
    }
    Ok(())
}

/// The server certificate's CN: the first DNS name among the hosts, else the first host.
fn server_cn(spec: &Spec) -> String {
    spec.hosts
        .iter()
        .find(|h| h.parse::<std::net::IpAddr>().is_err())
        .unwrap_or(&spec.hosts[0])
        .clone()
}

/// `ORIGINAL_<26 random chars>` for each dangerous command the bundle renames (about 134
/// bits), or "" to disable.
pub fn new_renames(spec: &Spec) -> Vec<Rename> {
    let disable = spec.disable_commands;
    spec.renamed_commands()
        .iter()
        .map(|c| Rename {
            from: c.to_string(),
            to: if disable {
                String::new()
            } else {
                format!("{c}_{}", password::random_token(26))
            },
        })
        .collect()
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileRecord {
    pub name: String,
    pub mode: String,
    /// SHA-256 of a public file's bytes (what `sha256sum` prints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A secret file's digest, domain-separated (`secret_digest`): a plain SHA-256 of a
    /// password file would be its users.acl hash, which must not sit in a world-readable
    /// file. Absent only in manifests written before provision recorded every file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_digest: Option<String>,
    pub bytes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertRecord {
    pub file: String,
    pub role: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub sha256_fingerprint: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
}

/// `manifest.json`: what was generated, from what options, with fingerprints and the SHA-256
/// of every file; signed into `manifest.sig` (see `integrity`). Never a secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    pub format: u32,
    pub generation: String,
    pub created_at: String,
    pub spec: Spec,
    pub files: Vec<FileRecord>,
    pub certificates: Vec<CertRecord>,
    /// Old CAs still published in `ca.crt` after a rollover, and until when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_cas: Vec<RetiredCa>,
    /// Password rotations started and not yet finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotations: Vec<Rotation>,
    /// A CA rollover whose new CA is published in `ca.crt` while leaves stay on the old CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_rollover: Option<CaRollover>,
    /// Client certificates of removed users (`provision user remove`): never to be accepted
    /// back into the bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<Revoked>,
}

/// A client certificate revoked with its user: Redis has no CRL, so the user is deleted on
/// every node and its certificate recorded here, for `check`, `restore` and `rollback`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub user: String,
    pub serial: String,
    pub sha256_fingerprint: String,
    pub revoked_at: String,
}

impl Manifest {
    /// What a new generation carries over from this one.
    pub fn records(&self) -> Records {
        Records {
            retired_cas: self.retired_cas.clone(),
            rotations: self.rotations.clone(),
            ca_rollover: self.ca_rollover.clone(),
            revoked: self.revoked.clone(),
        }
    }
}

/// The manifest's records of work in progress: old CAs still trusted, password rotations
/// and a CA rollover not yet finished.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records {
    pub retired_cas: Vec<RetiredCa>,
    pub rotations: Vec<Rotation>,
    pub ca_rollover: Option<CaRollover>,
    pub revoked: Vec<Revoked>,
}

/// The first phase of a CA rollover: the new CA (key in `ca-next.key` or `ca-next.key.age`)
/// is published in `ca.crt` after the issuing CA, so every peer can learn to trust it before
/// any certificate it signs is served. `renew --rollover-ca --finish`, allowed from
/// `finish_after` on, moves every leaf to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaRollover {
    pub sha256_fingerprint: String,
    pub subject: String,
    pub started_at: String,
    pub finish_after: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub user: String,
    pub started_at: String,
    /// First 12 hex digits of the old and new SHA-256 (for the audit trail; not secrets).
    pub old_hash_prefix: String,
    pub new_hash_prefix: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredCa {
    pub sha256_fingerprint: String,
    pub subject: String,
    /// The old CA leaves `ca.crt` once every certificate it issued has expired.
    pub keep_until: String,
}

/// The manifest's digest of a secret file: SHA-256 over a fixed label, the file's name and
/// its bytes, so it matches no digest anyone else computes (a users.acl hash, for one).
pub fn secret_digest(name: &str, data: &[u8]) -> String {
    let mut buf = Vec::with_capacity(32 + name.len() + data.len());
    buf.extend_from_slice(b"provision secret file v1\0");
    buf.extend_from_slice(name.as_bytes());
    buf.push(0);
    buf.extend_from_slice(data);
    let d = sha256_hex(&buf);
    zeroize::Zeroize::zeroize(&mut buf);
    d
}

/// Every leaf certificate of a bundle: (certificate file, key file, role), servers first.
pub fn leaf_files(spec: &Spec) -> Vec<(String, String, &'static str)> {
    let mut v: Vec<(String, String, &'static str)> = spec
        .instances()
        .into_iter()
        .map(|i| (i.crt, i.key, "server"))
        .collect();
    for u in &spec.users {
        v.push((user_crt(&u.name), user_key(&u.name), "client"));
    }
    v
}

/// Builds the manifest of `files` (which must not yet hold a manifest, or it is ignored), with
/// the optional records (`Records::default()` for a fresh bundle).
pub fn build_manifest(
    spec: &Spec,
    files: &Files,
    generation: &str,
    now: OffsetDateTime,
    records: Records,
) -> Result<String, BuildError> {
    let mut recs = Vec::new();
    let mut certs = Vec::new();
    let servers: std::collections::HashSet<String> =
        spec.instances().into_iter().map(|i| i.crt).collect();
    for f in files
        .0
        .iter()
        .filter(|f| f.name != MANIFEST && f.name != integrity::MANIFEST_SIG)
    {
        recs.push(FileRecord {
            name: f.name.clone(),
            mode: format!("{:04o}", f.mode),
            sha256: (f.mode & 0o077 != 0).then(|| sha256_hex(f.data.expose())),
            secret_digest: (f.mode & 0o077 == 0).then(|| secret_digest(&f.name, f.data.expose())),
            bytes: f.data.expose().len(),
        });
        if f.name.ends_with(".crt") {
            let ders = inspect::pem_certificates(f.data.expose()).map_err(|source| {
                BuildError::Inspect {
                    file: f.name.clone(),
                    source,
                }
            })?;
            for der in ders {
                let i = inspect::inspect(&der).map_err(|source| BuildError::Inspect {
                    file: f.name.clone(),
                    source,
                })?;
                certs.push(CertRecord {
                    file: f.name.clone(),
                    role: if f.name == CA_CRT {
                        "ca"
                    } else if f.name == integrity::SIGNER_CRT {
                        "signer"
                    } else if servers.contains(&f.name) {
                        "server"
                    } else {
                        "client"
                    }
                    .into(),
                    subject: i.subject,
                    issuer: i.issuer,
                    serial: i.serial,
                    not_before: rfc3339(i.not_before),
                    not_after: rfc3339(i.not_after),
                    sha256_fingerprint: i.sha256_fingerprint,
                    sans: i.sans,
                });
            }
        }
    }
    let m = Manifest {
        tool: "provision".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        format: 1,
        generation: generation.into(),
        created_at: rfc3339(now),
        spec: spec.clone(),
        files: recs,
        certificates: certs,
        retired_cas: records.retired_cas,
        rotations: records.rotations,
        ca_rollover: records.ca_rollover,
        revoked: records.revoked,
    };
    let mut s = serde_json::to_string_pretty(&m).expect("manifest serializes");
    s.push('\n');
    Ok(s)
}
