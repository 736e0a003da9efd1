//! `provision reload --watch DIR --redis HOST:PORT --credentials DIR`: a sidecar that
//! hot-reloads a node when the kubelet swaps its mounted certificate files (cert-manager
//! renewed them), with the verified reload of `renew --reload`.

use crate::cli::ReloadArgs;
use crate::core::bundle;
use crate::core::password::sha256_hex;
use crate::core::secret::Secret;
use crate::error::{Error, ExitStatus, Result};
use crate::io::mounted::Mounted;
use crate::live;
use crate::output::{Output, Report};
use std::path::Path;

const PASSWORD: &str = "password";
const TLS_CRT: &str = "tls.crt";
const TLS_KEY: &str = "tls.key";

pub fn run(args: &ReloadArgs, out: Output) -> Result<ExitStatus> {
    live::parse_node(&args.redis).map_err(|e| {
        Error::input(
            e.to_string(),
            "give the node as HOST:PORT, for example --redis localhost:6379",
        )
    })?;
    if args.interval.secs() == 0 {
        return Err(Error::input_only("--interval must be at least 1s"));
    }
    let watch = Mounted::open(&args.watch)?;
    let credentials = Mounted::open(&args.credentials)?;
    let node = args.redis.as_str();

    // What the node serves from, asked once: the paths do not change while it runs.
    let trust = watch.snapshot(&[], &[bundle::CA_CRT])?;
    let creds = login(args, &credentials, trust.get(bundle::CA_CRT))?;
    let config = config_command(&watch)?;
    let paths = live::tls_files(node, &creds, &config).map_err(|e| {
        if live::is_sentinel(node, &creds) {
            return Error::failed(
                format!("{node} is a Sentinel, which cannot reload TLS certificates at run time (redis#12028)"),
                Some("do not run this sidecar beside Sentinels: restart a Sentinel's pod when its certificate Secret changes (a rolling restart before renewBefore runs out, or a controller that restarts on Secret changes)".into()),
            );
        }
        Error::failed(
            e.to_string(),
            Some(format!(
                "the user `{}` must be able to run CONFIG GET; check --user and --credentials",
                args.user
            )),
        )
    })?;
    let names = names_in(&watch.path, &paths)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();

    let mut done: Option<String> = None;
    // The last problem printed: one that persists is printed once, not every interval.
    let mut said = String::new();
    loop {
        let result = step(args, &watch, &credentials, &config, &paths, &names, &done);
        let ok = match result {
            Ok(Some(ev)) => {
                let ok = ev.ok;
                if ok {
                    done = Some(ev.version_stamp.clone());
                }
                let key = format!("{}{:?}", ev.version_stamp, ev.error);
                if ok || key != said {
                    out.report(&ev);
                }
                said = if ok { String::new() } else { key };
                ok
            }
            // Nothing changed since the last reload.
            Ok(None) => true,
            Err(e) if args.once => return Err(e),
            Err(e) => {
                if e.to_string() != said {
                    eprintln!("provision reload: {e}");
                }
                said = e.to_string();
                false
            }
        };
        if args.once {
            return Ok(if ok {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            });
        }
        std::thread::sleep(args.interval.as_time().unsigned_abs());
    }
}

/// One look at the files: None when they are the version already reloaded.
fn step(
    args: &ReloadArgs,
    watch: &Mounted,
    credentials: &Mounted,
    config: &str,
    paths: &[String; 3],
    names: &[&str],
    done: &Option<String>,
) -> Result<Option<Event>> {
    let snap = watch.snapshot(names, &[])?;
    let stamp = {
        let mut all = Vec::new();
        for n in names {
            all.extend_from_slice(sha256_hex(snap.get(n).expect("read").expose()).as_bytes());
        }
        sha256_hex(&all)
    };
    if done.as_deref() == Some(stamp.as_str()) {
        return Ok(None);
    }
    let (cert, key, ca) = (
        snap.get(names[0]).expect("read"),
        snap.get(names[1]).expect("read"),
        snap.get(names[2]).expect("read"),
    );
    let mut ev = Event {
        node: args.redis.clone(),
        version: snap.version.clone(),
        version_stamp: stamp,
        ok: false,
        serial: None,
        presented_sha256: None,
        error: None,
    };
    let want = match crate::core::inspect::servable(
        cert.expose(),
        key.expose_str(),
        ca.expose(),
        time::OffsetDateTime::now_utc(),
    ) {
        Ok(c) => c,
        Err(e) => {
            ev.error = Some(format!("not reloading yet: {e}"));
            return Ok(Some(ev));
        }
    };
    ev.serial = Some(want.serial.clone());
    let creds = login(args, credentials, Some(ca))?;
    let r = live::reload_tls(
        &args.redis,
        config,
        [&paths[0], &paths[1], &paths[2]],
        &creds,
        &creds,
        &want.sha256_fingerprint,
    );
    ev.ok = r.ok;
    ev.presented_sha256 = r.presented_sha256;
    ev.error = r.error;
    Ok(Some(ev))
}

/// The login from --credentials, trusting the watched CA bundle `trust` and the credentials'
/// own ca.crt.
fn login(args: &ReloadArgs, credentials: &Mounted, trust: Option<&Secret>) -> Result<live::Creds> {
    let c = credentials.snapshot(&[TLS_CRT, TLS_KEY], &[PASSWORD, bundle::CA_CRT])?;
    let mut ca = Vec::new();
    for s in [trust, c.get(bundle::CA_CRT)].into_iter().flatten() {
        ca.extend_from_slice(s.expose());
        ca.push(b'\n');
    }
    if ca.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::input(
            format!(
                "no CA to verify the node with: neither `{}` nor `{}` holds a ca.crt",
                args.watch.join(bundle::CA_CRT).display(),
                credentials.path.join(bundle::CA_CRT).display()
            ),
            "mount the trust bundle (the ConfigMap trust-manager writes) or the user's cert-manager Secret there",
        ));
    }
    let password = c
        .get(PASSWORD)
        .map(|p| Secret::from_string(p.expose_str().trim_end().to_string()));
    Ok(live::Creds {
        user: args.user.clone(),
        password,
        cert_pem: c.get(TLS_CRT).expect("required").expose().to_vec(),
        key_pem: c.get(TLS_KEY).expect("required").clone(),
        ca_pem: ca,
    })
}

/// CONFIG's name from the watched directory's `renamed-commands` (the config Secret mounted
/// beside the certificates), else `CONFIG`.
fn config_command(watch: &Mounted) -> Result<String> {
    let snap = watch.snapshot(&[], &[bundle::RENAMED])?;
    let Some(text) = snap.get(bundle::RENAMED) else {
        return Ok("CONFIG".into());
    };
    let renames = crate::core::render::parse_rename_map(text.expose_str()).map_err(|e| {
        Error::failed(
            format!("`{}`: {e}", watch.path.join(bundle::RENAMED).display()),
            None,
        )
    })?;
    match renames.iter().find(|r| r.from == "CONFIG") {
        Some(r) if r.to.is_empty() => Err(Error::input(
            "CONFIG is disabled in this bundle (--disable-commands), so the node cannot be told to reload",
            "restart the pod when the Secret changes, or run Valkey 9.1 or newer with a bundle made with --server valkey-9.1 (tls-auto-reload-interval)",
        )),
        Some(r) => Ok(r.to.clone()),
        None => Ok("CONFIG".into()),
    }
}

/// The names, in `dir`, of the files the node serves from; refused when one is elsewhere.
fn names_in(dir: &Path, paths: &[String; 3]) -> Result<Vec<String>> {
    paths
        .iter()
        .map(|p| {
            let p = Path::new(p);
            match (p.parent(), p.file_name()) {
                (Some(parent), Some(name)) if parent == dir => {
                    Ok(name.to_string_lossy().into_owned())
                }
                _ => Err(Error::input(
                    format!(
                        "the node serves TLS from `{}`, which is not in --watch {}",
                        p.display(),
                        dir.display()
                    ),
                    "mount the certificate volume at the same path in the sidecar as in the server container, and pass that path",
                )),
            }
        })
        .collect()
}

/// One reload (or the reason there was none), one line of output.
#[derive(serde::Serialize)]
struct Event {
    node: String,
    /// The kubelet's version directory the files were read from.
    version: Option<String>,
    #[serde(skip)]
    version_stamp: String,
    ok: bool,
    serial: Option<String>,
    presented_sha256: Option<String>,
    error: Option<String>,
}

impl Report for Event {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        let at = self
            .version
            .as_deref()
            .map(|v| format!(" (files of {v})"))
            .unwrap_or_default();
        match (&self.error, &self.serial) {
            (None, Some(serial)) => writeln!(
                w,
                "{}: reloaded, presents certificate {serial}{at}",
                self.node
            ),
            (Some(e), _) => writeln!(w, "{}: {e}{at}", self.node),
            (None, None) => writeln!(w, "{}: nothing to reload{at}", self.node),
        }
    }
}
