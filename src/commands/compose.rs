//! `provision compose`: a docker-compose.yml for the official redis:7 image that runs the
//! bundle as it is: mounted read-only at the bundle's `--mount-dir`, passwords as Compose
//! secrets, only on an internal network, with a TLS + ACL health check.

use super::env::{open_bundle, shell_quote};
use super::schedule::{render, write_output};
use crate::cli::ComposeArgs;
use crate::core::bundle::{self, Manifest, MODE_PUBLIC};
use crate::core::render::Templates;
use crate::core::spec::Role;
use crate::error::{Error, ExitStatus, Result};
use crate::output::Output;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const COMPOSE: &str = "docker-compose.yml";

/// A YAML double-quoted scalar (JSON strings are valid YAML) with `$` doubled, so Compose
/// does not interpolate it.
fn yq(s: &str) -> String {
    serde_json::Value::from(s).to_string().replace('$', "$$")
}

pub fn run(args: &ComposeArgs, out: Output) -> Result<ExitStatus> {
    let (dir, _files, m) = open_bundle(args.dir.as_deref())?;
    super::standalone_only(&m, &dir)?;
    let (templates, _) = super::templates_for(args.templates.templates.as_deref(), &m.spec)?;
    let meta = std::fs::metadata(&dir).map_err(|e| Error::io("reading", &dir, e))?;
    let text = compose_file(&dir, &m, (meta.uid(), meta.gid()), &templates)?;
    let path = args.out.clone().unwrap_or_else(|| PathBuf::from(COMPOSE));
    write_output(&path, MODE_PUBLIC, text.as_bytes(), args.force)?;
    if out.json {
        out.print_json(&serde_json::json!({"action": "compose", "dir": dir, "file": path}));
    } else if !out.quiet {
        crate::outln!("Wrote {}", path.display());
        crate::outln!(
            "Check it with: docker-compose -f {} config -q",
            path.display()
        );
    }
    Ok(ExitStatus::Success)
}

/// The Compose file for the bundle in `dir` (absolute) described by `m`, with Redis running as
/// `owner` (uid, gid). Refuses a bundle made without `--mount-dir`; warns when redis.conf
/// binds only loopback.
pub fn compose_file(
    dir: &Path,
    m: &Manifest,
    owner: (u32, u32),
    templates: &Templates,
) -> Result<String> {
    let mount = m.spec.mount_dir.clone().ok_or_else(|| {
        Error::input(
            format!(
                "the bundle in `{}` was made without --mount-dir: its redis.conf names host paths that do not exist in a container",
                dir.display()
            ),
            format!(
                "re-create it for a container: `provision init --dir {} --mount-dir /etc/redis/tls --bind 0.0.0.0 --force`",
                shell_quote(&dir.to_string_lossy())
            ),
        )
    })?;
    let mount = mount.trim_end_matches('/').to_string();
    if m.spec.bind.iter().all(|b| {
        b.trim_start_matches('-').starts_with("127.") || b.trim_start_matches('-') == "::1"
    }) {
        eprintln!(
            "warning: redis.conf binds only loopback ({}); other containers cannot connect. Re-create the bundle with --bind 0.0.0.0",
            m.spec.bind.join(" ")
        );
    }
    let first = |role: Role| {
        m.spec
            .users
            .iter()
            .find(|u| u.role == role)
            .map(|u| u.name.clone())
            .ok_or_else(|| {
                Error::input(
                    format!("the bundle has no user with role `{role:?}`"),
                    "compose needs a monitor user (health check) and an app user (example client)",
                )
            })
    };
    let monitor = first(Role::Monitor)?;
    let app = first(Role::App)?;
    let host = |n: &str| yq(&dir.join(n).to_string_lossy());
    let in_mount = |n: &str| shell_quote(&format!("{mount}/{n}"));

    let healthcheck = format!(
        "REDISCLI_AUTH=\"$(cat /run/secrets/{monitor}_password)\" redis-cli --tls -h 127.0.0.1 -p {port} --cacert {ca} --cert {crt} --key {key} --user {monitor} PING | grep -qx PONG",
        port = m.spec.port,
        ca = in_mount(bundle::CA_CRT),
        crt = in_mount(&bundle::user_crt(&monitor)),
        key = in_mount(&bundle::user_key(&monitor)),
    );
    let example = "REDISCLI_AUTH=\"$(cat \"$REDIS_PASSWORD_FILE\")\" redis-cli --tls -h \"$REDIS_HOST\" -p \"$REDIS_PORT\" --cacert \"$REDIS_TLS_CA\" --cert \"$REDIS_TLS_CERT\" --key \"$REDIS_TLS_KEY\" --user \"$REDIS_USERNAME\" PING";

    let mut secrets: Vec<minijinja::Value> = m
        .spec
        .users
        .iter()
        .map(|u| {
            minijinja::context! {
                name => format!("{}_password", u.name),
                file => host(&bundle::user_password(&u.name)),
            }
        })
        .collect();
    for (name, file) in [
        ("redis_ca_crt".to_string(), bundle::CA_CRT.to_string()),
        (format!("{app}_crt"), bundle::user_crt(&app)),
        (format!("{app}_key"), bundle::user_key(&app)),
    ] {
        secrets.push(minijinja::context! { name => name, file => host(&file) });
    }
    let ctx = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        dir => dir.to_string_lossy(),
        mount => mount,
        conf => yq(&format!("{mount}/{}", bundle::REDIS_CONF)),
        user => yq(&format!("{}:{}", owner.0, owner.1)),
        source => yq(&dir.to_string_lossy()),
        target => yq(&mount),
        port => m.spec.port,
        monitor => monitor,
        app => app,
        app_q => yq(&app),
        healthcheck => yq(&healthcheck),
        example => yq(example),
        secrets => secrets,
    };
    render(templates, COMPOSE, ctx)
}
