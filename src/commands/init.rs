//! `provision init`: a complete, locked-down bundle in one all-or-nothing step.
//!
//! Everything that can be wrong with the input is found before the disk is touched; the
//! bundle is generated in memory; then the store writes it as one new generation.

use super::expiry_note;
use crate::cli::InitArgs;
use crate::core::bundle::{self, Files, MODE_PUBLIC};
use crate::core::cakey::{Protection, Sealer, CA_KEY_AGE};
use crate::core::duration::Dur;
use crate::core::render::Templates;
use crate::core::server::Target;
use crate::core::spec::{ConfigFile, Role, Spec, UserAuth, UserSpec};
use crate::core::topology::{Instance, InstanceKind, Kind, NodeSpec, Topology};
use crate::error::{Error, ExitStatus, Result};
use crate::io::age as crypt;
use crate::output::{Output, Report};
use crate::store::{self, Store};
use serde_json::json;
use std::fmt::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default validity of `--ephemeral` certificates (and of their CA): long enough for any CI
/// job, short enough that a leaked CI secret is worthless by tomorrow.
pub const EPHEMERAL_VALIDITY: Dur = Dur::days(1);

/// How the bundle's target server was chosen (said in the summary).
#[derive(Clone, Debug)]
pub enum Chosen {
    /// `--server` or `server =` in the config file.
    Given,
    /// `auto`: this binary on PATH printed this version.
    Found {
        binary: &'static str,
        version: String,
    },
    /// `auto`, and no server on PATH: the baseline.
    Baseline,
}

impl Chosen {
    fn describe(&self) -> String {
        match self {
            Chosen::Given => "as given".into(),
            Chosen::Found { binary, version } => format!("found `{binary}` {version} on PATH"),
            Chosen::Baseline => "no redis-server or valkey-server on PATH: the baseline".into(),
        }
    }
}

/// What `init` makes, merged from built-in defaults, the config file and the flags.
pub struct Resolved {
    pub spec: Spec,
    /// Where the bundle is written.
    pub dir: PathBuf,
    /// The directory redis.conf should name (`--mount-dir`), if any.
    pub mount_dir: Option<String>,
    /// How the target server was chosen.
    pub chosen: Chosen,
}

/// Merges built-in defaults, the config file and the flags (flags win).
pub fn resolve(args: &InitArgs) -> Result<(Spec, PathBuf)> {
    resolve_all(args).map(|r| (r.spec, r.dir))
}

/// The target server: `--server`, the config file's `server`, or (auto) the one on PATH.
fn resolve_server(args: &InitArgs, cfg: &ConfigFile) -> Result<(Target, Chosen)> {
    let choice = args
        .server
        .as_deref()
        .or(cfg.server.as_deref())
        .unwrap_or("auto");
    if choice != "auto" {
        let t = choice.parse::<Target>().map_err(|e| {
            Error::input(
                format!("config file: {e}"),
                "set `server` to auto or one of the targets `provision init --help` lists",
            )
        })?;
        return Ok((t, Chosen::Given));
    }
    Ok(match crate::live::detect_server() {
        Some((t, version, binary)) => (t, Chosen::Found { binary, version }),
        None => (crate::core::server::BASELINE, Chosen::Baseline),
    })
}

/// Like `resolve`, plus the directory redis.conf should name and how the server was chosen.
pub fn resolve_all(args: &InitArgs) -> Result<Resolved> {
    let cfg = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Error::input(
                    format!("reading config file `{}`: {e}", p.display()),
                    "check the --config path (provision.example.toml in the repository shows the format)",
                )
            })?;
            ConfigFile::parse(&text).map_err(|e| {
                Error::input(
                    format!(
                        "config file `{}` is invalid: {}",
                        p.display(),
                        e.to_string().trim_end()
                    ),
                    "see provision.example.toml for every key and its type",
                )
            })?
        }
        None => ConfigFile::default(),
    };
    let d = Spec::default();
    let cert_validity = args.cert_validity.or(cfg.cert_validity);
    let (default_ca, default_cert) = if args.ephemeral {
        // The CA is never shorter than a leaf given explicitly.
        let cert = cert_validity.unwrap_or(EPHEMERAL_VALIDITY);
        (EPHEMERAL_VALIDITY.max(cert), EPHEMERAL_VALIDITY)
    } else {
        (d.ca_validity, d.cert_validity)
    };
    let mount_dir = args.mount_dir.clone().or(cfg.mount_dir.clone());
    let cfg_topology = cfg.topology.clone();
    let cfg_has_users = cfg.users.is_some();
    let templates = match args
        .templates
        .templates
        .as_deref()
        .or(cfg.templates.as_deref())
    {
        Some(d) => Some(super::templates_dir_string(d)?),
        None => None,
    };
    let ca_key = protection(args)?;
    let (server, chosen) = resolve_server(args, &cfg)?;
    let mut spec = Spec {
        server: Some(server),
        ca_key,
        mount_dir: None,
        templates,
        key_type: args.key_type.or(cfg.key_type).unwrap_or(d.key_type),
        ca_validity: args.ca_validity.or(cfg.ca_validity).unwrap_or(default_ca),
        cert_validity: cert_validity.unwrap_or(default_cert),
        hosts: pick(&args.hosts, cfg.hosts, d.hosts),
        port: args.port.or(cfg.port).unwrap_or(d.port),
        bind: pick(&args.bind, cfg.bind, d.bind),
        disable_commands: args.disable_commands || cfg.disable_commands.unwrap_or(false),
        no_persistence: args.no_persistence
            || args.ephemeral
            || cfg.no_persistence.unwrap_or(false),
        data_dir: args.data_dir.clone().or(cfg.data_dir.clone()),
        maxclients: cfg.maxclients.unwrap_or(d.maxclients),
        timeout: cfg.timeout.unwrap_or(d.timeout),
        users: cfg.users.unwrap_or(d.users),
        topology: Default::default(),
        trust_domain: args
            .trust_domain
            .clone()
            .or(cfg.trust_domain.clone())
            .unwrap_or(d.trust_domain),
    };
    spec.topology = resolve_topology(args, cfg_topology, &spec)?;
    if !cfg_has_users {
        // Listed users are the operator's; the defaults grow the users a topology needs.
        if !spec.topology.is_standalone() {
            spec.users
                .push(UserSpec::new("replication", Role::Replication));
        }
        if !spec.topology.sentinels.is_empty() {
            spec.users.push(UserSpec::new("sentinel", Role::Sentinel));
        }
    }
    // `--user-auth` (or `user_auth`) for every user that does not say; replication and
    // Sentinel users send passwords Redis keeps in its config, so they stay password users.
    if let Some(auth) = args.user_auth.or(cfg.user_auth) {
        for u in spec
            .users
            .iter_mut()
            .filter(|u| u.auth.is_none() && !matches!(u.role, Role::Replication | Role::Sentinel))
        {
            u.auth = (auth != UserAuth::Password).then_some(auth);
        }
    }
    // `--cert-identity uri` (or a user's own `uri`, which implies it): each certificate-login
    // user without its own `uri` is named by the SPIFFE ID its client certificate carries anyway.
    let with_uri = spec
        .users
        .iter()
        .find(|u| u.uri.is_some())
        .map(|u| u.name.clone());
    let mode = args.cert_identity.clone().or(cfg.cert_identity.clone());
    match mode.as_deref().or(with_uri.as_ref().map(|_| "uri")) {
        None => {}
        Some("cn") => {
            if let Some(name) = with_uri {
                return Err(Error::input(
                    format!("user `{name}` has a `uri`, but the certificate identity is `cn`"),
                    "drop `uri` from the config file to log in by CN, or give --cert-identity uri",
                ));
            }
        }
        Some("uri") => {
            if !spec.users.iter().any(UserSpec::cert_login) {
                let why = match (&mode, &with_uri) {
                    (None, Some(name)) => format!("user `{name}` has a `uri`"),
                    _ => "--cert-identity uri was given".to_string(),
                };
                return Err(Error::input(
                    format!("{why}, but no user logs in by certificate"),
                    "add --user-auth cert (or both), or auth = \"cert\" on a user in the config file",
                ));
            }
            let td = spec.trust_domain.clone();
            for u in spec
                .users
                .iter_mut()
                .filter(|u| u.cert_login() && u.uri.is_none())
            {
                u.uri = Some(crate::core::pki::client_uri(&td, &u.name));
            }
        }
        Some(other) => {
            return Err(Error::input(
                format!("cert_identity = \"{other}\" is not `cn` or `uri`"),
                "set cert_identity to \"cn\" or \"uri\" in the config file",
            ))
        }
    }
    for u in spec.users.iter_mut().filter(|u| u.role == Role::App) {
        if !args.app_keys.is_empty() {
            u.keys = Some(args.app_keys.clone());
        }
        if !args.app_channels.is_empty() {
            u.channels = Some(args.app_channels.clone());
        }
    }
    if !args.app_keys.is_empty() && !spec.users.iter().any(|u| u.role == Role::App) {
        return Err(Error::input(
            "--app-keys was given but no user has role `app`",
            "add an app user in the config file, or drop --app-keys",
        ));
    }
    let mut errs = spec.validate().err().unwrap_or_default();
    if let Some(m) = &mount_dir {
        if let Err(e) = crate::core::validate::conf_path(m) {
            errs.push(format!("mount dir: {e}"));
        } else if !m.starts_with('/') || m.trim_end_matches('/').is_empty() {
            errs.push(format!(
                "mount dir `{m}` must be an absolute path other than `/` (where the bundle is mounted in the container)"
            ));
        }
    }
    let checked = if errs.is_empty() { Ok(()) } else { Err(errs) };
    checked.map_err(|errs| {
        let msg = if errs.len() == 1 {
            errs[0].clone()
        } else {
            format!(
                "{} problems with the options:\n  - {}",
                errs.len(),
                errs.join("\n  - ")
            )
        };
        Error::input_only(msg)
    })?;
    let dir = args
        .bundle
        .dir
        .clone()
        .or(cfg.dir)
        .unwrap_or_else(|| PathBuf::from("secrets"));
    spec.mount_dir = mount_dir.clone();
    Ok(Resolved {
        spec,
        dir,
        mount_dir,
        chosen,
    })
}

/// The topology from flags (generated nodes) or the config file's `[topology]`.
fn resolve_topology(args: &InitArgs, cfg: Option<Topology>, spec: &Spec) -> Result<Topology> {
    let from_cfg = cfg.unwrap_or_default();
    let kind = args.topology.unwrap_or(from_cfg.kind);
    let flags_given = args.nodes.is_some() || args.sentinels.is_some();
    if kind == Kind::Standalone {
        if flags_given {
            return Err(Error::input(
                "--nodes and --sentinels describe a replication or cluster topology",
                "add --topology replication or --topology cluster",
            ));
        }
        return Ok(from_cfg);
    }
    if !flags_given
        && !from_cfg.nodes.is_empty()
        && args.topology.is_none_or(|k| k == from_cfg.kind)
    {
        return Ok(from_cfg);
    }
    if kind == Kind::Cluster && args.sentinels.is_some_and(|n| n > 0) {
        return Err(Error::input(
            "--sentinels is for --topology replication; Redis Cluster fails over by itself",
            "drop --sentinels",
        ));
    }
    let mut t = Topology::generated(
        kind,
        args.nodes.unwrap_or(3),
        args.sentinels.unwrap_or(0),
        &spec.hosts,
        spec.port,
    );
    t.master_name = from_cfg.master_name;
    t.quorum = from_cfg.quorum;
    t.down_after_ms = from_cfg.down_after_ms;
    Ok(t)
}

/// How the CA key is to be protected, from `--protect-ca-key*` (recipients checked here).
fn protection(args: &InitArgs) -> Result<Option<Protection>> {
    if args.protect_ca_key_passphrase {
        return Ok(Some(Protection::Passphrase));
    }
    let mut rs = Vec::new();
    for r in &args.protect_ca_key {
        rs.push(crypt::parse_recipient(r, "--protect-ca-key")?);
    }
    if let Some(p) = &args.protect_ca_key_file {
        let text = std::fs::read_to_string(p)
            .map_err(|e| Error::io("reading the recipients file", p, e))?;
        let from_file = crypt::parse_recipients(&text, &p.display().to_string())?;
        if from_file.is_empty() {
            return Err(Error::input(
                format!("`{}` holds no recipient", p.display()),
                "list age public keys (age1...), one per line",
            ));
        }
        rs.extend(from_file);
    }
    if rs.is_empty() {
        return Ok(None);
    }
    let mut recipients: Vec<String> = Vec::new();
    for r in rs.iter().map(|r| r.to_string()) {
        if !recipients.contains(&r) {
            recipients.push(r);
        }
    }
    Ok(Some(Protection::Recipients { recipients }))
}

fn pick(flag: &[String], cfg: Option<Vec<String>>, default: Vec<String>) -> Vec<String> {
    if !flag.is_empty() {
        flag.to_vec()
    } else {
        cfg.unwrap_or(default)
    }
}

/// The visible file names a bundle for `spec` has.
pub fn bundle_names(spec: &Spec) -> Vec<String> {
    let ca_key = if spec.ca_key.is_some() {
        CA_KEY_AGE
    } else {
        bundle::CA_KEY
    };
    let mut v: Vec<String> = [
        bundle::CA_CRT,
        bundle::CA_KEY,
        ca_key,
        bundle::SERVER_CRT,
        bundle::SERVER_KEY,
        bundle::USERS_ACL,
        bundle::RENAMED,
        bundle::MANIFEST,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !spec.topology.is_standalone() {
        v.push(bundle::MASTERAUTH.into());
    }
    for i in spec.instances() {
        v.extend([i.crt, i.key, i.conf]);
    }
    for u in &spec.users {
        v.extend([bundle::user_crt(&u.name), bundle::user_key(&u.name)]);
        if u.has_password() {
            v.push(bundle::user_password(&u.name));
        }
    }
    v
}

pub fn run(args: &InitArgs, out: Output) -> Result<ExitStatus> {
    let started = Instant::now();
    let resolved = resolve_all(args)?;
    if args.compose && resolved.mount_dir.is_none() {
        return Err(Error::input(
            "--compose needs --mount-dir: inside the container redis.conf must name the files where the bundle is mounted",
            "add --mount-dir /etc/redis/tls --bind 0.0.0.0 (or set mount_dir in the config file)",
        ));
    }
    // Override templates are read and compiled before anything else happens.
    let templates = match &resolved.spec.templates {
        Some(d) => super::load_templates(Path::new(d))?,
        None => Templates::builtin(),
    };
    // `--ephemeral` without a directory: a fresh one under $TMPDIR, kept for the CI job.
    let temp_dir = if args.ephemeral && args.bundle.dir.is_none() {
        let t = tempfile::Builder::new()
            .prefix("provision-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory in", std::env::temp_dir(), e))?;
        Some(t.keep())
    } else {
        None
    };
    let dir = temp_dir.clone().unwrap_or_else(|| resolved.dir.clone());
    let result = create(args, out, started, resolved, &templates, &dir);
    match (&temp_dir, &result) {
        // Nothing was written into it: do not leave an empty directory behind.
        (Some(t), Err(_)) => {
            let _ = std::fs::remove_dir(t);
        }
        // Scripts need the path: with --quiet it is the only line on stdout.
        (Some(t), Ok(_)) if out.quiet => crate::outln!("{}", t.display()),
        _ => {}
    }
    result
}

fn create(
    args: &InitArgs,
    out: Output,
    started: Instant,
    resolved: Resolved,
    templates: &Templates,
    dir: &Path,
) -> Result<ExitStatus> {
    let Resolved {
        spec,
        mount_dir,
        chosen,
        ..
    } = resolved;
    let mut store = Store::prepare(dir)?;
    store.durable = !args.ephemeral;
    let conf_dir = mount_dir.unwrap_or_else(|| store.dir.to_string_lossy().into_owned());
    crate::core::validate::conf_path(&conf_dir).map_err(Error::input_only)?;
    let names = bundle_names(&spec);
    let name_refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    if !args.force && store.has_bundle(&name_refs) {
        return Err(Error::Exists(store.dir.clone()));
    }
    store.check_targets(&name_refs)?;
    store.check_own_files()?;
    // A passphrase for the CA key is asked only now that the bundle can be made.
    let pass = match spec.ca_key {
        Some(Protection::Passphrase) => {
            Some(crypt::passphrase(args.passphrase_file.as_deref(), true)?)
        }
        _ => None,
    };
    let sealer = Sealer::for_protection(spec.ca_key.as_ref(), pass.as_ref())
        .map_err(|e| Error::failed(e.to_string(), None))?;

    // Generate everything in memory first: a failure here leaves the disk untouched.
    // A protected CA key is encrypted there too: its plaintext never reaches the disk.
    let now = time::OffsetDateTime::now_utc();
    let gen_id = store::new_generation_id(now);
    let pb = out.progress(
        names.len() as u64 / 3 + 4,
        if spec.key_type.is_rsa() {
            "generating RSA keys"
        } else {
            "generating"
        },
    );
    let tick = |_: &str| pb.inc(1);
    let files = bundle::generate(
        &spec,
        &bundle::Gen {
            templates: Some(templates),
            sealer: Some(&sealer),
            tick: &tick,
            ..bundle::Gen::new(&conf_dir, &gen_id, now)
        },
    )
    .map_err(|e| match e {
        bundle::BuildError::Template(t) => super::template_error(t),
        e => Error::failed(e.to_string(), None),
    })?;
    pb.finish_and_clear();
    // `--compose`: rendered now, so a broken template or an existing file stops everything
    // before the bundle is written. The file goes outside the bundle, like `provision compose`.
    let compose = if args.compose {
        Some(compose_for(args, &store, &files, templates)?)
    } else {
        None
    };

    store.ensure_dir()?;
    let _lock = store.lock(args.lock.timeout())?;
    if !args.force && store.current_generation().is_some() {
        return Err(Error::Exists(store.dir.clone()));
    }
    store.cleanup();
    let generation = store.commit(
        &files,
        &gen_id,
        &super::audit_entry("init", &gen_id, &files),
    )?;
    if let Some((path, text)) = &compose {
        crate::io::write::write_file(path, MODE_PUBLIC, text.as_bytes(), args.force).map_err(
            |e| {
                Error::failed(
                    format!(
                        "the bundle was created in `{}`, but the Compose file was not written: {e}",
                        store.dir.display()
                    ),
                    Some(format!(
                        "write it with `provision compose --dir {} --out {}`",
                        store.dir.display(),
                        path.display()
                    )),
                )
            },
        )?;
    }
    let elapsed = started.elapsed();

    out.report(&Created {
        summary: summary_json(&store.dir, &spec, &gen_id, &files, elapsed),
        server: json!({
            "target": spec.target(),
            "chosen": match chosen {
                Chosen::Given => "given",
                Chosen::Found { .. } => "found",
                Chosen::Baseline => "baseline",
            },
            "found": match &chosen {
                Chosen::Found { binary, version } => json!({"binary": binary, "version": version}),
                _ => serde_json::Value::Null,
            },
            "renames_config": spec.renamed_commands().contains(&"CONFIG"),
        }),
        compose: compose.as_ref().map(|(path, _)| path.as_path()),
        store: &store,
        spec: &spec,
        generation_dir: &generation,
        files: &files,
        elapsed,
        replaced: args.force,
        chosen: &chosen,
    });
    Ok(ExitStatus::Success)
}

/// What `init` made: the summary (files, certificates, nodes), the server it was made for
/// and the Compose file, as JSON; for people, every file with its mode and the next steps.
#[derive(serde::Serialize)]
struct Created<'a> {
    /// action, dir, generation, elapsed_ms, files, certificates, ca_key, redis_conf,
    /// topology, nodes, sentinels.
    #[serde(flatten)]
    summary: serde_json::Value,
    server: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    compose: Option<&'a Path>,
    #[serde(skip)]
    store: &'a Store,
    #[serde(skip)]
    spec: &'a Spec,
    #[serde(skip)]
    generation_dir: &'a str,
    #[serde(skip)]
    files: &'a Files,
    #[serde(skip)]
    elapsed: Duration,
    #[serde(skip)]
    replaced: bool,
    #[serde(skip)]
    chosen: &'a Chosen,
}

impl Report for Created<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        let spec = self.spec;
        write_human(
            w,
            self.store,
            spec,
            self.generation_dir,
            self.files,
            self.elapsed,
            self.replaced,
        )?;
        writeln!(
            w,
            "  Made for {} ({}; `--server` chooses another).",
            spec.target(),
            self.chosen.describe()
        )?;
        if !spec.renamed_commands().contains(&"CONFIG") && !spec.disable_commands {
            writeln!(w, "  CONFIG keeps its name: {}'s Lua engine asks for it by name; the ACLs keep it from every user but admin.", spec.target())?;
        }
        if let Some(path) = self.compose {
            writeln!(w, "  Or with Docker Compose (wrote {}):", path.display())?;
            writeln!(
                w,
                "    docker-compose -f {} config -q && docker compose -f {} up -d",
                path.display(),
                path.display()
            )?;
        }
        Ok(())
    }
}

/// The Compose file `init --compose` will write, and where; refuses an existing file unless
/// --force. Redis runs as the directory's owner: the current user for a new directory.
fn compose_for(
    args: &InitArgs,
    store: &Store,
    files: &Files,
    templates: &Templates,
) -> Result<(PathBuf, String)> {
    let path = args
        .compose_out
        .clone()
        .unwrap_or_else(|| PathBuf::from(super::COMPOSE));
    if !args.force && std::fs::symlink_metadata(&path).is_ok() {
        return Err(Error::input(
            format!("`{}` already exists", path.display()),
            "pass --force to replace it (and the bundle), or choose another --compose-out",
        ));
    }
    let m = super::manifest_of(files, &store.dir)?;
    let owner = match std::fs::metadata(&store.dir) {
        Ok(meta) => (meta.uid(), meta.gid()),
        Err(_) => (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        ),
    };
    let text = super::compose_file(&store.dir, &m, owner, templates)?;
    Ok((path, text))
}

fn summary_json(
    dir: &Path,
    spec: &Spec,
    gen_id: &str,
    files: &Files,
    elapsed: Duration,
) -> serde_json::Value {
    let m: serde_json::Value = files
        .text(bundle::MANIFEST)
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    json!({
        "action": "init",
        "dir": dir,
        "generation": gen_id,
        "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
        "files": files.0.iter().map(|f| json!({
            "name": f.name,
            "path": dir.join(&f.name),
            "mode": format!("{:04o}", f.mode),
            "sha256": (f.mode & 0o077 != 0).then(|| crate::core::password::sha256_hex(f.data.expose())),
        })).collect::<Vec<_>>(),
        "certificates": m.get("certificates").cloned().unwrap_or_default(),
        "ca_key": m.get("spec").and_then(|s| s.get("ca_key")).map_or_else(
            || json!({"protected": false, "file": bundle::CA_KEY}),
            |p| json!({"protected": true, "file": CA_KEY_AGE, "protection": p}),
        ),
        // The one config of a standalone bundle; null for topology bundles, whose configs are
        // per node (`nodes[].conf`): a path to a file that does not exist helps no one.
        "redis_conf": spec.topology.is_standalone().then(|| dir.join(bundle::REDIS_CONF)),
        "topology": spec.topology.client_mode(),
        "nodes": spec.data_nodes().iter().map(|n| json!({
            "name": n.name,
            "address": n.address(),
            "conf": dir.join(if spec.topology.is_standalone() {
                bundle::REDIS_CONF.to_string()
            } else {
                format!("{}.conf", n.name)
            }),
        })).collect::<Vec<_>>(),
        "sentinels": spec.topology.sentinels.iter().map(|n| json!({
            "name": n.name,
            "address": n.address(),
            "conf": dir.join(format!("{}.conf", n.name)),
        })).collect::<Vec<_>>(),
    })
}

/// What a node's or Sentinel's certificate is called in the summary.
fn instance_word(i: &Instance) -> &'static str {
    match i.kind {
        InstanceKind::Redis => "node",
        InstanceKind::Sentinel => "Sentinel",
    }
}

fn write_human(
    w: &mut String,
    store: &Store,
    spec: &Spec,
    generation: &str,
    files: &Files,
    elapsed: Duration,
    replaced: bool,
) -> std::fmt::Result {
    let dir = &store.dir;
    let now = time::OffsetDateTime::now_utc();
    let instances = if spec.topology.is_standalone() {
        vec![]
    } else {
        spec.instances()
    };
    let instance_of = |file: &str, ext: &str| {
        file.strip_suffix(ext)
            .and_then(|n| instances.iter().find(|i| i.name == n))
    };
    writeln!(
        w,
        "{} a Redis TLS + ACL bundle in {} ({} files, {:.1} ms)",
        if replaced { "Replaced with" } else { "Created" },
        dir.display(),
        files.0.len(),
        elapsed.as_secs_f64() * 1000.0
    )?;
    if let Some(m) = store.tightened_from {
        writeln!(
            w,
            "  note: tightened the directory's mode from {m:04o} to 0700"
        )?;
    }
    writeln!(w)?;
    writeln!(w, "  0700  {}/", dir.display())?;
    for f in &files.0 {
        let note = match f.name.as_str() {
            bundle::CA_CRT => format!(
                "CA, {}, {}",
                spec.key_type,
                expiry_note(f.data.expose(), now)
            ),
            bundle::SERVER_CRT => format!(
                "server [{}], {}",
                spec.hosts.join(", "),
                expiry_note(f.data.expose(), now)
            ),
            crate::core::integrity::SIGNER_CRT => {
                format!("signs manifest.json, {}", expiry_note(f.data.expose(), now))
            }
            n if n.ends_with(".crt") => match instance_of(n, ".crt") {
                // Nodes and Sentinels present their certificate to clients and use it as
                // clients themselves on replication, cluster-bus and Sentinel links.
                Some(i) => format!(
                    "{} {} (server+client), {}",
                    instance_word(i),
                    i.name,
                    expiry_note(f.data.expose(), now)
                ),
                None => format!(
                    "client {}, {}",
                    n.trim_end_matches(".crt"),
                    expiry_note(f.data.expose(), now)
                ),
            },
            n if n.ends_with(".conf") && instance_of(n, ".conf").is_some() => {
                let i = instance_of(n, ".conf").expect("matched");
                match (i.kind, &i.replica_of) {
                    (InstanceKind::Sentinel, _) => format!(
                        "Sentinel on {}; Sentinel rewrites its config: start it from a copy",
                        i.address
                    ),
                    (_, Some(p)) => format!("replica of {} on {}", p.name, i.address),
                    _ if spec.topology.kind == Kind::Replication => {
                        format!("primary on {}", i.address)
                    }
                    _ => format!("cluster node on {}", i.address),
                }
            }
            CA_KEY_AGE => format!(
                "CA private key, encrypted ({}); renew needs {}",
                spec.ca_key
                    .as_ref()
                    .map(|p| p.describe())
                    .unwrap_or_default(),
                match spec.ca_key {
                    Some(Protection::Passphrase) => "the passphrase",
                    _ => "--identity",
                }
            ),
            n if n.ends_with(".password") => {
                format!("password of {}", n.trim_end_matches(".password"))
            }
            bundle::USERS_ACL => format!(
                "default user off; {}",
                spec.users
                    .iter()
                    .map(|u| format!("{} ({:?})", u.name, u.role).to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            bundle::REDIS_CONF => format!("TLS-only on port {}", spec.port),
            bundle::MASTERAUTH => {
                "how replicas log in to their primary (every node includes it)".into()
            }
            bundle::RENAMED => {
                if spec.disable_commands {
                    "dangerous commands disabled".into()
                } else {
                    "secret names of CONFIG, FLUSHALL, KEYS, ...".into()
                }
            }
            _ => String::new(),
        };
        writeln!(w, "  {:04o}  {:<22} {}", f.mode, f.name, note)?;
    }
    let app = spec
        .users
        .iter()
        .find(|u| u.role == Role::App)
        .unwrap_or(spec.admin());
    let p = |n: &str| dir.join(n).display().to_string();
    writeln!(w)?;
    writeln!(
        w,
        "  generation {generation}; audit trail in {}",
        p(store::AUDIT)
    )?;
    writeln!(w)?;
    writeln!(w, "Next steps:")?;
    let t = &spec.topology;
    // How redis-cli logs in as `user`: the password from its file into REDISCLI_AUTH and
    // --user, or nothing for a certificate-identity user (the certificate logs it in).
    let login = |user: &str| -> (String, String) {
        if spec
            .users
            .iter()
            .any(|u| u.name == user && !u.has_password())
        {
            (String::new(), String::new())
        } else {
            (
                format!(
                    "REDISCLI_AUTH=\"$(cat {})\" ",
                    p(&bundle::user_password(user))
                ),
                format!(" --user {}", spec.acl_name_of(user)),
            )
        }
    };
    let connect = |user: &str, node: &NodeSpec, extra: &str, cmd: &str| {
        let (auth, user_arg) = login(user);
        format!(
            "{auth}redis-cli{extra} --tls -h {} -p {} --cacert {} --cert {} --key {}{user_arg} {cmd}",
            node.host(),
            node.port,
            p(bundle::CA_CRT),
            p(&bundle::user_crt(user)),
            p(&bundle::user_key(user)),
        )
    };
    let secret_note = "the password is read from its file, never put on the command line";
    if t.is_standalone() {
        writeln!(w, "  Start Redis:")?;
        writeln!(w, "    redis-server {}", p(bundle::REDIS_CONF))?;
        writeln!(w, "  Connect as `{}` ({secret_note}):", app.name)?;
        let local = NodeSpec {
            name: "redis".into(),
            hosts: vec!["127.0.0.1".into()],
            port: spec.port,
        };
        writeln!(w, "    {}", connect(&app.name, &local, "", "PING"))?;
        return Ok(());
    }
    let nodes: Vec<_> = instances
        .iter()
        .filter(|i| i.kind == InstanceKind::Redis)
        .collect();
    let width = instances.iter().map(|i| i.name.len()).max().unwrap_or(0);
    match t.kind {
        Kind::Cluster => {
            let r = t.cluster_replicas();
            writeln!(
                w,
                "  Redis Cluster of {} nodes (once created: {} primaries{}):",
                nodes.len(),
                nodes.len() / (r + 1),
                if r > 0 {
                    format!(", {r} replica each")
                } else {
                    String::new()
                }
            )?;
            for i in &nodes {
                writeln!(
                    w,
                    "    {:<width$}  {}  (cluster bus port {})",
                    i.name,
                    i.address,
                    u32::from(i.port) + 10000
                )?;
            }
        }
        _ => {
            writeln!(w, "  Replication, {} nodes:", nodes.len())?;
            for i in &nodes {
                let role = match &i.replica_of {
                    Some(p) => format!("replica of {} ({})", p.name, p.address()),
                    None => "primary".into(),
                };
                writeln!(w, "    {:<width$}  {}  {role}", i.name, i.address)?;
            }
        }
    }
    let writes = match (spec.no_persistence, t.kind == Kind::Cluster) {
        (false, false) => "its dump.rdb goes there",
        (false, true) => "its dump.rdb and nodes-<name>.conf go there",
        (true, true) => "its nodes-<name>.conf goes there",
        (true, false) => "nothing is persisted, but keep the nodes apart",
    };
    writeln!(
        w,
        "  Start each node (in its own terminal or service) from its own working directory ({writes}; umask 077 keeps what Redis writes private):"
    )?;
    // Each instance runs from its own private working directory, work/NAME.
    let in_work_dir = |w: &mut String, name: &str, run: String| {
        writeln!(w, "    (umask 077 && mkdir -p work/{name} && {run})")
    };
    for i in &nodes {
        let run = format!("cd work/{} && exec redis-server {}", i.name, p(&i.conf));
        in_work_dir(w, &i.name, run)?;
    }
    if let Some(d) = &spec.data_dir {
        writeln!(
        w,
            "    (the configs set `dir {d}`: every node writes there, so give each node its own host or data_dir)"
        )?;
    }
    let first = &t.nodes[0];
    if t.kind == Kind::Cluster {
        let admin = &spec.admin().name;
        writeln!(
            w,
            "  Create the cluster once, as `{admin}`, when every node runs ({secret_note}):"
        )?;
        let (auth, user_arg) = login(admin);
        writeln!(
        w,
            "    {auth}redis-cli --tls --cacert {} --cert {} --key {}{user_arg} --cluster create {} --cluster-replicas {}",
            p(bundle::CA_CRT),
            p(&bundle::user_crt(admin)),
            p(&bundle::user_key(admin)),
            t.nodes.iter().map(|n| n.address()).collect::<Vec<_>>().join(" "),
            t.cluster_replicas()
        )?;
        writeln!(
        w,
            "  Connect as `{}` with a cluster client (redis-cli -c follows redirects to the node owning a key):",
            app.name
        )?;
        writeln!(w, "    {}", connect(&app.name, first, " -c", "PING"))?;
        return Ok(());
    }
    if t.sentinels.is_empty() {
        writeln!(
            w,
            "  Connect as `{}` to the primary for writes, to any node for reads ({secret_note}):",
            app.name
        )?;
        writeln!(w, "    {}", connect(&app.name, first, "", "PING"))?;
        return Ok(());
    }
    writeln!(
        w,
        "  Sentinels watching `{}` (quorum {}):",
        t.master_name,
        t.quorum()
    )?;
    let sentinels: Vec<_> = instances
        .iter()
        .filter(|i| i.kind == InstanceKind::Sentinel)
        .collect();
    for i in &sentinels {
        writeln!(w, "    {:<width$}  {}", i.name, i.address)?;
    }
    writeln!(
        w,
        "  Start each Sentinel from a private, writable copy of its config: Sentinel rewrites its config file (with passwords in it: umask 077 keeps the rewrite 0600), and the bundle's copy must stay as provision signed it. Copy once; restarts reuse the copy:"
    )?;
    for i in &sentinels {
        let copy = format!("work/{}/sentinel.conf", i.name);
        let run = format!(
            "install -m 600 {} {copy} && cd work/{} && exec redis-server sentinel.conf --sentinel",
            p(&i.conf),
            i.name
        );
        in_work_dir(w, &i.name, run)?;
    }
    writeln!(
        w,
        "  Clients connect through Sentinel: master name `{}`, Sentinels {}. Ask one where the primary is, as `{}` ({secret_note}):",
        t.master_name,
        t.sentinels.iter().map(|n| n.address()).collect::<Vec<_>>().join(", "),
        app.name
    )?;
    writeln!(
        w,
        "    {}",
        connect(
            &app.name,
            &t.sentinels[0],
            "",
            &format!("SENTINEL GET-MASTER-ADDR-BY-NAME {}", t.master_name)
        )
    )?;
    writeln!(
        w,
        "  then connect to the address it names (now {}):",
        first.address()
    )?;
    writeln!(w, "    {}", connect(&app.name, first, "", "PING"))?;
    Ok(())
}
