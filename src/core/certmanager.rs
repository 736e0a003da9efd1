//! A bundle split for Kubernetes with cert-manager, pure: files in, one YAML stream out.
//!
//! cert-manager issues and renews the leaf certificates; provision keeps the CA, the ACL
//! users, their passwords and the configs. Objects (PREFIX defaults to `redis`, NS is the
//! export's namespace):
//! - `PREFIX-ca-key`, a `kubernetes.io/tls` Secret with the issuing CA (`tls.crt`, the first
//!   certificate of `ca.crt`) and its key, and the CA `Issuer` (or `ClusterIssuer`, whose
//!   Secret then lives in cert-manager's cluster resource namespace) `PREFIX-ca` over it;
//! - a trust-manager `Bundle` `PREFIX-ca` publishing the bundle's whole `ca.crt` (during a
//!   rollover the old and the new CA) as the ConfigMap `PREFIX-ca` to NS and the clients'
//!   namespaces: servers and clients trust every CA in it, as the bundle's own `ca.crt` does;
//! - one `Certificate` per Redis and Sentinel process (`PREFIX-tls` for a standalone server,
//!   `PREFIX-NODE-tls` in a topology): the node's hosts and the Pod and Service DNS names of
//!   the StatefulSet it runs in, server and client auth, the bundle's key type, validity and
//!   renewal rule (a third of the lifetime before expiry);
//! - one client `Certificate` `PREFIX-user-NAME-tls` per ACL user (client auth, its CN and
//!   SPIFFE URI as the bundle issues them);
//! - `PREFIX-config` (every config file) and `PREFIX-user-NAME` (`password`) Secrets, which
//!   provision keeps owning: `rotate` and `user` change them and a new export re-applies them.

use super::bundle::{self, Files, Manifest};
use super::invalid::{Invalid, Shown};
use super::k8s::{self, b64, K8sError, Metadata, Options};
use super::pki::{self, KeyType};
use super::secret::Secret;
use super::spec::Spec;
use super::topology::InstanceKind;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What the cert-manager export adds to the Secret export's options.
pub struct CmOptions {
    /// Prefix and namespace (required here: Pod DNS names and the Issuer live in it).
    pub k8s: Options,
    /// A `ClusterIssuer` instead of a namespaced `Issuer`.
    pub cluster_issuer: bool,
    /// Where a ClusterIssuer's CA Secret lives (cert-manager's `--cluster-resource-namespace`).
    pub cluster_resource_namespace: String,
    /// The cluster's DNS domain (`cluster.local`).
    pub cluster_domain: String,
    /// Namespaces that get the CA bundle besides the export's own.
    pub client_namespaces: Vec<String>,
}

/// cert-manager's default cluster resource namespace.
pub const CLUSTER_RESOURCE_NAMESPACE: &str = "cert-manager";
pub const CLUSTER_DOMAIN: &str = "cluster.local";
const CERT_MANAGER_API: &str = "cert-manager.io/v1";
const TRUST_MANAGER_API: &str = "trust.cert-manager.io/v1alpha1";

/// One object of the stream: apiVersion, kind, metadata, then its body (`spec`, or a
/// Secret's `type` and `data`).
#[derive(Serialize)]
struct Object {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    #[serde(flatten)]
    body: BTreeMap<&'static str, Value>,
}

/// A Go duration as cert-manager reads it: `8760h`, `2920h`, `1h20m`, `40m30s`.
pub fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// cert-manager's `privateKey` for a bundle key type: the same algorithm and size, PKCS#8 as
/// the bundle's keys, and a fresh key at every renewal (the bundle's default).
fn private_key(kt: KeyType) -> Value {
    let (algorithm, size) = match kt {
        KeyType::EcdsaP256 => ("ECDSA", Some(256)),
        KeyType::EcdsaP384 => ("ECDSA", Some(384)),
        KeyType::Ed25519 => ("Ed25519", None),
        KeyType::Rsa2048 => ("RSA", Some(2048)),
        KeyType::Rsa3072 => ("RSA", Some(3072)),
        KeyType::Rsa4096 => ("RSA", Some(4096)),
    };
    let mut v = json!({"algorithm": algorithm, "encoding": "PKCS8", "rotationPolicy": "Always"});
    if let Some(size) = size {
        v["size"] = json!(size);
    }
    v
}

/// The key usages of a bundle leaf: digital signature (plus key encipherment for RSA, as the
/// bundle's own leaves have), then the extended ones.
fn usages(kt: KeyType, extended: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["digital signature"];
    if kt.is_rsa() {
        v.push("key encipherment");
    }
    v.extend_from_slice(extended);
    v
}

/// The Pod and Service DNS names of ordinal `i` of StatefulSet `sts` behind the headless
/// Service of the same name, in `ns`.
fn pod_dns_names(sts: &str, i: usize, ns: &str, domain: &str) -> Vec<String> {
    vec![
        format!("{sts}-{i}.{sts}.{ns}.svc.{domain}"),
        format!("{sts}-{i}.{sts}.{ns}.svc"),
        format!("{sts}-{i}.{sts}"),
        format!("{sts}.{ns}.svc.{domain}"),
        format!("{sts}.{ns}.svc"),
        sts.to_string(),
    ]
}

/// Names of the StatefulSets the README's manifests run: the data nodes in `PREFIX`, the
/// Sentinels in `PREFIX-sentinel`.
pub fn statefulset(prefix: &str, kind: InstanceKind) -> String {
    match kind {
        InstanceKind::Redis => prefix.to_string(),
        InstanceKind::Sentinel => format!("{prefix}-sentinel"),
    }
}

/// The Secret cert-manager writes a process's certificate to.
pub fn server_secret(spec: &Spec, prefix: &str, node: &str) -> String {
    if spec.topology.is_standalone() {
        format!("{prefix}-tls")
    } else {
        format!("{}-tls", k8s::object_name(prefix, node))
    }
}

/// The config files of a bundle: every process's config, users.acl, renamed-commands and
/// (with replicas) masterauth.conf.
pub fn config_files(spec: &Spec, files: &Files) -> Vec<String> {
    let mut v: Vec<String> = spec.instances().into_iter().map(|i| i.conf).collect();
    v.extend([bundle::USERS_ACL.to_string(), bundle::RENAMED.to_string()]);
    if files.get(bundle::MASTERAUTH).is_some() {
        v.push(bundle::MASTERAUTH.to_string());
    }
    v
}

/// Checks every name the options give; returns the namespace (required).
pub fn check_options(o: &CmOptions) -> Result<&str, K8sError> {
    k8s::check_names(&o.k8s)?;
    let Some(ns) = o.k8s.namespace.as_deref() else {
        return Err(K8sError::NeedsNamespace);
    };
    k8s::dns_label(
        "the cluster resource namespace",
        &o.cluster_resource_namespace,
        63,
    )?;
    for n in &o.client_namespaces {
        k8s::dns_label("a client namespace", n, 63)?;
    }
    if !valid_domain(&o.cluster_domain) {
        return Err(K8sError::Invalid(Invalid::DnsLabel {
            what: "the cluster domain (each of its labels)".into(),
            value: Shown::new(&o.cluster_domain),
            max: 63,
        }));
    }
    Ok(ns)
}

/// The objects for `files` (one generation) as a YAML stream with a header comment.
/// `ca_key` is the issuing CA's key (PEM), which the CA Secret carries.
pub fn objects(
    files: &Files,
    m: &Manifest,
    ca_key: &Secret,
    o: &CmOptions,
) -> Result<Secret, K8sError> {
    let ns = check_options(o)?;
    let spec = &m.spec;
    let p = o.k8s.prefix.as_str();
    let validity = spec.cert_validity.secs();
    if validity < 3600 {
        return Err(K8sError::TooShort(super::duration::human(validity as i64)));
    }
    let duration = go_duration(validity);
    let renew_before =
        go_duration(super::duration::renewal_threshold(validity as i64, None) as u64);
    let meta = |name: String, component: &str, extra: &[(&str, &str)]| {
        k8s::metadata(&o.k8s, m, name, component, extra)
    };
    let cluster_scoped = |mut md: Metadata| {
        md.namespace = None;
        md
    };
    let secret_template = |component: &str, extra: &[(&str, &str)]| {
        let md = meta(String::new(), component, extra);
        json!({"labels": md.labels, "annotations": md.annotations})
    };
    let obj = |api_version, kind, metadata, body: Vec<(&'static str, Value)>| Object {
        api_version,
        kind,
        metadata,
        body: body.into_iter().collect(),
    };
    let ca_pem = files
        .text(bundle::CA_CRT)
        .ok_or_else(|| K8sError::Missing(bundle::CA_CRT.into()))?;
    let issuing = pki::pem_blocks(ca_pem)
        .into_iter()
        .next()
        .ok_or_else(|| K8sError::Missing(bundle::CA_CRT.into()))?;
    let mut out = Vec::new();
    // The CA: a Secret cert-manager's CA issuer signs with, and the issuer.
    let issuer_name = format!("{p}-ca");
    let mut ca_meta = meta(format!("{p}-ca-key"), "ca", &[]);
    if o.cluster_issuer {
        ca_meta.namespace = Some(o.cluster_resource_namespace.clone());
    }
    out.push(obj(
        "v1",
        "Secret",
        ca_meta,
        vec![
            ("type", json!("kubernetes.io/tls")),
            (
                "data",
                json!({"tls.crt": k8s::encode(issuing.as_bytes()), "tls.key": k8s::encode(ca_key.expose())}),
            ),
        ],
    ));
    let issuer_kind = if o.cluster_issuer {
        "ClusterIssuer"
    } else {
        "Issuer"
    };
    let issuer_meta = meta(issuer_name.clone(), "ca", &[]);
    out.push(obj(
        CERT_MANAGER_API,
        issuer_kind,
        if o.cluster_issuer {
            cluster_scoped(issuer_meta)
        } else {
            issuer_meta
        },
        vec![("spec", json!({"ca": {"secretName": format!("{p}-ca-key")}}))],
    ));
    // The trust bundle: every CA of ca.crt, to the servers' and the clients' namespaces.
    let mut namespaces = vec![ns.to_string()];
    for n in &o.client_namespaces {
        if !namespaces.contains(n) {
            namespaces.push(n.clone());
        }
    }
    out.push(obj(
        TRUST_MANAGER_API,
        "Bundle",
        cluster_scoped(meta(issuer_name.clone(), "ca", &[])),
        vec![(
            "spec",
            json!({
                "sources": [{"inLine": ca_pem}],
                "target": {
                    "configMap": {"key": bundle::CA_CRT},
                    "namespaceSelector": {"matchExpressions": [{
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": namespaces,
                    }]},
                },
            }),
        )],
    ));
    let issuer_ref = json!({"name": issuer_name, "kind": issuer_kind, "group": "cert-manager.io"});
    let certificate = |name: String, component: &str, extra: &[(&str, &str)], names: Value| {
        let mut s = json!({
            "secretName": name,
            "secretTemplate": secret_template(component, extra),
            "duration": duration,
            "renewBefore": renew_before,
            "subject": {"organizations": ["provision"]},
            "privateKey": private_key(spec.key_type),
            "issuerRef": issuer_ref,
        });
        for (k, v) in names.as_object().expect("object") {
            s[k] = v.clone();
        }
        obj(
            CERT_MANAGER_API,
            "Certificate",
            meta(name, component, extra),
            vec![("spec", s)],
        )
    };

    // One server Certificate per process.
    let mut ordinal = BTreeMap::new();
    for inst in spec.instances() {
        let sts = statefulset(p, inst.kind);
        let i = ordinal.entry(sts.clone()).or_insert(0usize);
        let (ips, mut dns): (Vec<String>, Vec<String>) = inst
            .hosts
            .iter()
            .cloned()
            .partition(|h| h.parse::<std::net::IpAddr>().is_ok());
        for n in pod_dns_names(&sts, *i, ns, &o.cluster_domain) {
            if !dns.contains(&n) {
                dns.push(n);
            }
        }
        *i += 1;
        let common_name = match bundle::server_leaf(spec, &inst) {
            pki::Leaf::Server { common_name, .. } => common_name,
            _ => unreachable!("server_leaf is a server leaf"),
        };
        let mut names = json!({
            "commonName": common_name,
            "dnsNames": dns,
            "usages": usages(spec.key_type, &["server auth", "client auth"]),
        });
        if !ips.is_empty() {
            names["ipAddresses"] = json!(ips);
        }
        let component = match inst.kind {
            InstanceKind::Redis => "server",
            InstanceKind::Sentinel => "sentinel",
        };
        out.push(certificate(
            server_secret(spec, p, &inst.name),
            component,
            &[("node", &inst.name)],
            names,
        ));
    }

    // provision's own Secrets: the configs, and each user's password.
    let mut data = BTreeMap::new();
    for f in config_files(spec, files) {
        data.insert(f.clone(), b64(files, &f)?);
    }
    let mount = spec.mount_dir.as_deref().map(|d| d.trim_end_matches('/'));
    let extra: Vec<(&str, &str)> = mount.iter().map(|d| ("mount-dir", *d)).collect();
    out.push(obj(
        "v1",
        "Secret",
        meta(format!("{p}-config"), "server", &extra),
        vec![("type", json!("Opaque")), ("data", json!(data))],
    ));

    // Per user: a client Certificate and, for a password user, the password Secret.
    let mut seen = BTreeMap::new();
    for u in &spec.users {
        let name = k8s::user_secret_name(p, &u.name);
        if let Some(other) = seen.insert(name.clone(), u.name.clone()) {
            return Err(K8sError::SecretNameClash {
                users: [other, u.name.clone()],
                secret: name,
            });
        }
        let uri = match bundle::client_leaf(spec, u) {
            pki::Leaf::Client { uri, .. } => uri,
            _ => unreachable!("client_leaf is a client leaf"),
        };
        out.push(certificate(
            format!("{name}-tls"),
            "client",
            &[("user", &u.name)],
            json!({
                "commonName": spec.client_cn(u),
                "uris": [uri],
                "usages": usages(spec.key_type, &["client auth"]),
            }),
        ));
        if u.has_password() {
            out.push(obj(
                "v1",
                "Secret",
                meta(name, "client", &[("user", &u.name)]),
                vec![
                    ("type", json!("Opaque")),
                    (
                        "data",
                        json!({"password": b64(files, &bundle::user_password(&u.name))?}),
                    ),
                ],
            ));
        }
    }

    let header = format!(
        "# cert-manager and trust-manager objects for a Redis TLS + ACL bundle (generation {}), by provision {}.\n\
         # Holds the CA's private key and the users' passwords: keep this file 0600; `kubectl apply -f` it, then delete it.\n",
        m.generation,
        env!("CARGO_PKG_VERSION")
    );
    Ok(k8s::stream(header, &out))
}

/// A DNS name of labels (`cluster.local`).
fn valid_domain(d: &str) -> bool {
    d.len() <= 253 && d.split('.').all(|l| k8s::dns_label("", l, 63).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::k8s::tests::{bundle_for, docs};
    use crate::core::spec::{Role, UserSpec};
    use crate::core::topology::{Kind, Topology};

    fn opts(ns: Option<&str>) -> CmOptions {
        CmOptions {
            k8s: Options {
                prefix: "cache".into(),
                namespace: ns.map(str::to_string),
            },
            cluster_issuer: false,
            cluster_resource_namespace: CLUSTER_RESOURCE_NAMESPACE.into(),
            cluster_domain: CLUSTER_DOMAIN.into(),
            client_namespaces: vec!["apps".into()],
        }
    }

    fn ca_key(f: &Files) -> Secret {
        f.get(bundle::CA_KEY).unwrap().data.clone()
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(365 * 86400), "8760h");
        assert_eq!(go_duration(365 * 86400 / 3), "2920h");
        assert_eq!(go_duration(4800), "1h20m");
        assert_eq!(go_duration(2430), "40m30s");
        assert_eq!(go_duration(0), "0s");
    }

    #[test]
    fn standalone_objects_name_what_the_statefulset_mounts() {
        let (f, m) = bundle_for(&Spec::default());
        let d = docs(&objects(&f, &m, &ca_key(&f), &opts(Some("prod"))).unwrap());
        let kinds: Vec<(String, String)> = d
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap().to_string(),
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want = [
            ("Secret", "cache-ca-key"),
            ("Issuer", "cache-ca"),
            ("Bundle", "cache-ca"),
            ("Certificate", "cache-tls"),
            ("Secret", "cache-config"),
            ("Certificate", "cache-user-admin-tls"),
            ("Secret", "cache-user-admin"),
            ("Certificate", "cache-user-app-tls"),
            ("Secret", "cache-user-app"),
            ("Certificate", "cache-user-monitor-tls"),
            ("Secret", "cache-user-monitor"),
        ];
        assert_eq!(
            kinds,
            want.map(|(k, n)| (k.to_string(), n.to_string())).to_vec()
        );
        let server = &d[3]["spec"];
        assert_eq!(server["secretName"], "cache-tls");
        assert_eq!(server["duration"], "8760h");
        assert_eq!(server["renewBefore"], "2920h");
        assert_eq!(server["privateKey"]["algorithm"], "ECDSA");
        assert_eq!(server["privateKey"]["size"], 256);
        assert_eq!(
            server["usages"],
            json!(["digital signature", "server auth", "client auth"])
        );
        assert_eq!(server["ipAddresses"], json!(["127.0.0.1", "::1"]));
        let dns: Vec<&str> = server["dnsNames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for n in [
            "redis",
            "localhost",
            "cache-0.cache.prod.svc.cluster.local",
            "cache.prod.svc",
        ] {
            assert!(dns.contains(&n), "{n} in {dns:?}");
        }
        assert_eq!(server["issuerRef"]["kind"], "Issuer");
        assert_eq!(
            server["secretTemplate"]["labels"]["app.kubernetes.io/managed-by"],
            "provision"
        );
        let app = &d[7]["spec"];
        assert_eq!(app["commonName"], "app");
        assert_eq!(app["usages"], json!(["digital signature", "client auth"]));
        assert!(app["uris"][0].as_str().unwrap().starts_with("spiffe://"));
        // The trust bundle is the whole ca.crt; the issuer's Secret the first CA and its key.
        assert_eq!(
            d[2]["spec"]["sources"][0]["inLine"],
            f.text("ca.crt").unwrap()
        );
        assert_eq!(
            d[2]["spec"]["target"]["namespaceSelector"]["matchExpressions"][0]["values"],
            json!(["prod", "apps"])
        );
        assert!(d[2]["metadata"].get("namespace").is_none());
        for o in &d {
            assert_eq!(o["metadata"]["annotations"]["provision/generation"], "g1");
            if o["kind"] != "Bundle" {
                assert_eq!(o["metadata"]["namespace"], "prod");
            }
        }
        // Only the password leaves provision's user Secrets; the keys are cert-manager's.
        assert_eq!(
            d[8]["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
            ["password"]
        );
    }

    #[test]
    fn topologies_have_a_certificate_per_process_and_every_config() {
        let mut spec = Spec {
            key_type: KeyType::Rsa3072,
            ..Spec::default()
        };
        spec.topology =
            Topology::generated(Kind::Replication, 3, 3, &["127.0.0.1".to_string()], 7000);
        spec.users.push(UserSpec::new("replica", Role::Replication));
        spec.users.push(UserSpec::new("sentinel", Role::Sentinel));
        let (f, m) = bundle_for(&spec);
        let mut o = opts(Some("prod"));
        o.cluster_issuer = true;
        let d = docs(&objects(&f, &m, &ca_key(&f), &o).unwrap());
        let certs: Vec<&Value> = d.iter().filter(|o| o["kind"] == "Certificate").collect();
        let names: Vec<&str> = certs
            .iter()
            .map(|c| c["spec"]["secretName"].as_str().unwrap())
            .collect();
        assert_eq!(
            &names[..6],
            [
                "cache-redis-1-tls",
                "cache-redis-2-tls",
                "cache-redis-3-tls",
                "cache-sentinel-1-tls",
                "cache-sentinel-2-tls",
                "cache-sentinel-3-tls"
            ]
        );
        let s2 = &certs[4]["spec"];
        assert!(s2["dnsNames"].as_array().unwrap().contains(&json!(
            "cache-sentinel-1.cache-sentinel.prod.svc.cluster.local"
        )));
        assert_eq!(
            s2["privateKey"],
            json!({"algorithm": "RSA", "size": 3072, "encoding": "PKCS8", "rotationPolicy": "Always"})
        );
        assert!(s2["usages"]
            .as_array()
            .unwrap()
            .contains(&json!("key encipherment")));
        assert_eq!(s2["issuerRef"]["kind"], "ClusterIssuer");
        assert_eq!(d[0]["metadata"]["namespace"], "cert-manager");
        assert!(d[1]["metadata"].get("namespace").is_none());
        let config = d
            .iter()
            .find(|o| o["metadata"]["name"] == "cache-config")
            .unwrap();
        let keys: Vec<&String> = config["data"].as_object().unwrap().keys().collect();
        for k in [
            "redis-1.conf",
            "sentinel-3.conf",
            "masterauth.conf",
            "users.acl",
            "renamed-commands",
        ] {
            assert!(keys.iter().any(|x| *x == k), "{k} in {keys:?}");
        }
    }

    #[test]
    fn bad_options_are_refused() {
        let (f, m) = bundle_for(&Spec::default());
        let e = objects(&f, &m, &ca_key(&f), &opts(None)).unwrap_err();
        assert!(e.to_string().contains("namespace"), "{e}");
        let mut o = opts(Some("prod"));
        o.cluster_domain = "Cluster..local".into();
        assert!(objects(&f, &m, &ca_key(&f), &o).is_err());
        let mut o = opts(Some("prod"));
        o.client_namespaces = vec!["Apps".into()];
        assert!(objects(&f, &m, &ca_key(&f), &o).is_err());
        let short = Spec {
            cert_validity: super::super::duration::Dur::from_secs(1800),
            ..Spec::default()
        };
        let (f, m) = bundle_for(&short);
        let e = objects(&f, &m, &ca_key(&f), &opts(Some("prod"))).unwrap_err();
        assert!(e.to_string().contains("at least 1h"), "{e}");
        assert!(matches!(e, K8sError::TooShort(_)));
    }
}
