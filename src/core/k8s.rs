//! A bundle as Kubernetes `Secret` objects, pure: files in, one YAML stream out.
//!
//! The stream is JSON documents separated by `---`: YAML 1.2 is a superset of JSON, so
//! `kubectl apply -f` and every YAML parser read it, while serde_json does all the quoting
//! (no YAML emitter, no dependency, no indentation or escaping bug to have).
//!
//! Objects (PREFIX defaults to `redis`):
//! - `PREFIX-tls`, `kubernetes.io/tls`: the server's `tls.crt`, `tls.key`, and `ca.crt`;
//! - `PREFIX-ca`, `Opaque`: `ca.crt` only, for clients (the CA key is never exported);
//! - `PREFIX-config`, `Opaque`: `redis.conf`, `users.acl`, `renamed-commands`;
//! - `PREFIX-user-NAME`, `Opaque`, one per ACL user: `tls.crt`, `tls.key`, `ca.crt` (the
//!   cert-manager key names) and `password`; one Secret per user, so RBAC can give each
//!   workload its own credentials and nothing else.

use super::bundle::{self, Files, Manifest};
use super::invalid::{Invalid, Shown};
use super::secret::Secret;
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;

/// A `v1` Secret, fields in the order people read them.
#[derive(Serialize)]
struct Object {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    #[serde(rename = "type")]
    kind_type: &'static str,
    data: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct Metadata {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub labels: BTreeMap<&'static str, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Keys of the server Secret and the bundle files they hold.
pub const SERVER_KEYS: &[(&str, &str)] = &[
    ("tls.crt", bundle::SERVER_CRT),
    ("tls.key", bundle::SERVER_KEY),
    ("ca.crt", bundle::CA_CRT),
];
/// Keys of the config Secret (file names as redis.conf names them under the mount dir).
pub const CONFIG_KEYS: &[&str] = &[bundle::REDIS_CONF, bundle::USERS_ACL, bundle::RENAMED];

pub struct Options {
    /// Prefix of every Secret's name.
    pub prefix: String,
    pub namespace: Option<String>,
}

/// A DNS-1123 label (Kubernetes namespaces, our name prefix): lowercase letters, digits and
/// `-`, starting and ending with a letter or digit, at most `max` characters.
pub fn dns_label(what: &str, v: &str, max: usize) -> Result<(), Invalid> {
    let ok = !v.is_empty()
        && v.len() <= max
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Invalid::DnsLabel {
            what: what.into(),
            value: Shown::new(v),
            max,
        })
    }
}

/// `PREFIX-PART`, PART lowercased with anything but letters and digits as `-`.
pub fn object_name(prefix: &str, part: &str) -> String {
    let p: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{}", p.trim_matches('-'))
}

/// The Secret name for a user: `PREFIX-user-NAME`, lowercase, `_` and `.` as `-`.
pub fn user_secret_name(prefix: &str, user: &str) -> String {
    object_name(prefix, &format!("user-{user}"))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum K8sError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The bundle lacks a file every export carries.
    #[error("the bundle has no {0}")]
    Missing(String),
    #[error("users `{}` and `{}` would both be the Secret `{secret}`; rename one of them", .users[0], .users[1])]
    SecretNameClash { users: [String; 2], secret: String },
    /// cert-manager objects name Pods and the Issuer in one namespace.
    #[error("the cert-manager export needs a namespace: its Certificates name the Pods' DNS names in it, and the Issuer lives there")]
    NeedsNamespace,
    /// cert-manager refuses certificates shorter than an hour.
    #[error("the bundle's certificates last {0}; cert-manager issues certificates of at least 1h")]
    TooShort(String),
}

/// The metadata every exported object carries: its name, the namespace (None for
/// cluster-scoped objects and exports without --namespace), the labels that select the whole
/// export and the generation annotation (plus `provision/KEY` annotations from `extra`).
pub fn metadata(
    opts: &Options,
    m: &Manifest,
    name: String,
    component: &str,
    extra: &[(&str, &str)],
) -> Metadata {
    let mut annotations =
        BTreeMap::from([("provision/generation".to_string(), m.generation.clone())]);
    for (k, v) in extra {
        annotations.insert(format!("provision/{k}"), v.to_string());
    }
    Metadata {
        name,
        namespace: opts.namespace.clone(),
        labels: labels(&opts.prefix, component),
        annotations,
    }
}

/// The labels of every object of an export (`kubectl get secret,certificate -l
/// app.kubernetes.io/instance=PREFIX` lists them all).
pub fn labels(prefix: &str, component: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name", "redis".to_string()),
        ("app.kubernetes.io/instance", prefix.to_string()),
        ("app.kubernetes.io/component", component.to_string()),
        ("app.kubernetes.io/managed-by", "provision".to_string()),
    ])
}

/// `header` then each object as a JSON document after `---`.
pub fn stream<T: Serialize>(header: String, objects: &[T]) -> Secret {
    let mut out = header;
    for o in objects {
        out.push_str("---\n");
        out.push_str(&serde_json::to_string_pretty(o).expect("json"));
        out.push('\n');
    }
    Secret::from_string(out)
}

/// Bytes as a Secret's `data` value (base64).
pub fn encode(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The bytes of bundle file `name`, base64.
pub fn b64(files: &Files, name: &str) -> Result<String, K8sError> {
    files
        .get(name)
        .map(|f| encode(f.data.expose()))
        .ok_or_else(|| K8sError::Missing(name.into()))
}

/// Checks the export's names: the prefix and the namespace are DNS labels.
pub fn check_names(opts: &Options) -> Result<(), Invalid> {
    dns_label("the name prefix", &opts.prefix, 40)?;
    if let Some(ns) = &opts.namespace {
        dns_label("the namespace", ns, 63)?;
    }
    Ok(())
}

/// The Secrets for `files` (one generation) as a YAML stream, with a header comment.
pub fn secrets(files: &Files, m: &Manifest, opts: &Options) -> Result<Secret, K8sError> {
    check_names(opts)?;
    let p = &opts.prefix;
    let object = |name: String,
                  kind: &'static str,
                  component: &'static str,
                  extra: &[(&str, &str)],
                  data: Vec<(&str, String)>|
     -> Object {
        Object {
            api_version: "v1",
            kind: "Secret",
            metadata: metadata(opts, m, name, component, extra),
            kind_type: kind,
            data: data.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    };

    let mut objects = Vec::new();
    let mut data = Vec::new();
    for (key, file) in SERVER_KEYS {
        data.push((*key, b64(files, file)?));
    }
    objects.push(object(
        format!("{p}-tls"),
        "kubernetes.io/tls",
        "server",
        &[],
        data,
    ));
    objects.push(object(
        format!("{p}-ca"),
        "Opaque",
        "ca",
        &[],
        vec![("ca.crt", b64(files, bundle::CA_CRT)?)],
    ));
    let mut data = Vec::new();
    for file in CONFIG_KEYS {
        data.push((*file, b64(files, file)?));
    }
    let mount = m.spec.mount_dir.as_deref().map(|d| d.trim_end_matches('/'));
    let extra: Vec<(&str, &str)> = mount.iter().map(|d| ("mount-dir", *d)).collect();
    objects.push(object(
        format!("{p}-config"),
        "Opaque",
        "server",
        &extra,
        data,
    ));

    let mut seen = BTreeMap::new();
    for u in &m.spec.users {
        let name = user_secret_name(p, &u.name);
        if let Some(other) = seen.insert(name.clone(), u.name.clone()) {
            return Err(K8sError::SecretNameClash {
                users: [other, u.name.clone()],
                secret: name,
            });
        }
        let mut data = vec![
            ("tls.crt", b64(files, &bundle::user_crt(&u.name))?),
            ("tls.key", b64(files, &bundle::user_key(&u.name))?),
            ("ca.crt", b64(files, bundle::CA_CRT)?),
        ];
        // A certificate-identity user has no password: its certificate logs it in.
        if u.has_password() {
            data.push(("password", b64(files, &bundle::user_password(&u.name))?));
        }
        objects.push(object(name, "Opaque", "client", &[("user", &u.name)], data));
    }

    let header = format!(
        "# Kubernetes Secrets for a Redis TLS + ACL bundle (generation {}), by provision {}.\n\
         # Holds private keys and passwords: keep this file 0600; `kubectl apply -f` it, then delete it.\n",
        m.generation,
        env!("CARGO_PKG_VERSION")
    );
    Ok(stream(header, &objects))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::spec::{Role, Spec, UserSpec};
    use serde_json::Value;

    /// A generation made from `spec` (generation id `g1`) and its manifest.
    pub(crate) fn bundle_for(spec: &Spec) -> (Files, Manifest) {
        let f = bundle::generate(
            spec,
            &bundle::Gen::new("/etc/redis/tls", "g1", time::OffsetDateTime::now_utc()),
        )
        .unwrap();
        let m = serde_json::from_str(f.text(bundle::MANIFEST).unwrap()).unwrap();
        (f, m)
    }

    /// The JSON documents of an exported stream.
    pub(crate) fn docs(s: &Secret) -> Vec<Value> {
        s.expose_str()
            .split("---\n")
            .skip(1)
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn every_secret_decodes_to_the_bundle_files_and_never_the_ca_key() {
        let (f, m) = bundle_for(&Spec {
            mount_dir: Some("/etc/redis/tls/".into()),
            ..Spec::default()
        });
        let out = secrets(
            &f,
            &m,
            &Options {
                prefix: "cache".into(),
                namespace: Some("prod".into()),
            },
        )
        .unwrap();
        let d = docs(&out);
        let names: Vec<&str> = d
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "cache-tls",
                "cache-ca",
                "cache-config",
                "cache-user-admin",
                "cache-user-app",
                "cache-user-monitor"
            ]
        );
        assert_eq!(d[0]["type"], "kubernetes.io/tls");
        let dec = |o: &Value, k: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(o["data"][k].as_str().unwrap())
                .unwrap()
        };
        assert_eq!(
            dec(&d[0], "tls.key"),
            f.get("redis.key").unwrap().data.expose()
        );
        assert_eq!(
            dec(&d[2], "users.acl"),
            f.get("users.acl").unwrap().data.expose()
        );
        assert_eq!(
            dec(&d[4], "password"),
            f.get("app.password").unwrap().data.expose()
        );
        let ca_key = base64::engine::general_purpose::STANDARD
            .encode(f.get("ca.key").unwrap().data.expose());
        assert!(!out.expose_str().contains(&ca_key));
        for o in &d {
            assert_eq!(o["metadata"]["namespace"], "prod");
            assert_eq!(
                o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "provision"
            );
        }
        assert_eq!(
            d[2]["metadata"]["annotations"]["provision/mount-dir"],
            "/etc/redis/tls"
        );
    }

    #[test]
    fn names_are_checked_and_user_names_mapped() {
        assert_eq!(
            user_secret_name("redis", "Ja4_proxy.v2"),
            "redis-user-ja4-proxy-v2"
        );
        assert_eq!(user_secret_name("redis", "a-"), "redis-user-a");
        for bad in ["", "Redis", "-x", "x-", "a_b", &"x".repeat(41)] {
            assert!(dns_label("p", bad, 40).is_err(), "{bad:?}");
        }
        let mut spec = Spec::default();
        spec.users.push(UserSpec::new("app_1", Role::App));
        spec.users.push(UserSpec::new("app-1", Role::App));
        let (f, m) = bundle_for(&spec);
        let e = secrets(
            &f,
            &m,
            &Options {
                prefix: "redis".into(),
                namespace: None,
            },
        )
        .unwrap_err();
        assert!(
            matches!(&e, K8sError::SecretNameClash { users, .. } if users == &["app_1", "app-1"]),
            "{e}"
        );
        assert!(e.to_string().contains("`app_1` and `app-1`"), "{e}");
    }
}
