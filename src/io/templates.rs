//! Templates for a command: loading overrides, naming their errors, rendering, and the Compose
//! file.

use super::bundle::shell_quote;
use crate::core::bundle::{self, Manifest};
use crate::core::render::{self, Templates};
use crate::core::spec::{Role, Spec};
use crate::error::{Error, Result};
use std::path::Path;

/// The Compose file `compose` and `init --compose` write by default.
pub const COMPOSE: &str = "docker-compose.yml";

/// A template error as the user sees it: an operator's override at fault is bad input (exit
/// 2, naming the file and line); a built-in template failing is a bug.
pub fn template_error(e: crate::core::render::TemplateError) -> Error {
    if e.is_override() {
        Error::input(
            e.to_string(),
            "fix the override (it gets the same variables as the built-in template of that name, in the provision repository's templates/), or move it out of the --templates directory; nothing was written",
        )
    } else {
        Error::failed(e.to_string(), None)
    }
}

/// The largest override template read (the built-ins are a few KiB).
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// Reads the overrides in `dir`: every file named like a built-in template replaces it. Each is
/// compiled now, so a syntax error is reported (file and line) before anything is generated.
/// Other files in `dir` are reported on stderr, since a misnamed override would be ignored.
pub fn load_templates(dir: &Path) -> Result<Templates> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::input(
                format!("the templates directory `{}` does not exist", dir.display()),
                format!(
                    "create it with overrides named {}, or drop --templates",
                    render::names()
                ),
            )
        } else {
            Error::io("reading", dir, e)
        }
    })?;
    if !meta.is_dir() {
        return Err(Error::input(
            format!("--templates `{}` is not a directory", dir.display()),
            "pass the directory that holds the override templates",
        ));
    }
    let mut list = Vec::new();
    for (name, _) in render::BUILTIN {
        let p = dir.join(name);
        let m = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("reading", &p, e)),
        };
        if !m.is_file() || m.len() > MAX_TEMPLATE_BYTES {
            return Err(Error::input(
                format!(
                    "template `{}` is not a regular file of at most 1 MiB",
                    p.display()
                ),
                "an override must be a text file named like the built-in template",
            ));
        }
        let bytes = std::fs::read(&p).map_err(|e| Error::io("reading", &p, e))?;
        let source = String::from_utf8(bytes).map_err(|_| {
            Error::input_only(format!("template `{}` is not UTF-8 text", p.display()))
        })?;
        list.push((name.to_string(), p.display().to_string(), source));
    }
    let mut others: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("reading", dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !render::BUILTIN.iter().any(|(b, _)| b == n))
        .collect();
    if !others.is_empty() {
        others.sort();
        eprintln!(
            "warning: ignoring {} in `{}`: not the name of a built-in template ({})",
            others.join(", "),
            dir.display(),
            render::names()
        );
    }
    Templates::with_overrides(list).map_err(template_error)
}

/// `--templates DIR` as recorded in a manifest: absolute, UTF-8.
pub fn templates_dir_string(dir: &Path) -> Result<String> {
    let abs = std::path::absolute(dir).map_err(|e| Error::io("resolving", dir, e))?;
    abs.to_str().map(str::to_string).ok_or_else(|| {
        Error::input_only(format!(
            "the templates directory `{}` is not valid UTF-8",
            abs.display()
        ))
    })
}

/// The templates for re-rendering a bundle's files: `--templates` when given, else the
/// directory recorded in the bundle's manifest, else the built-ins. Also returns the directory
/// to record in a new generation.
pub fn templates_for(flag: Option<&Path>, spec: &Spec) -> Result<(Templates, Option<String>)> {
    match (flag, &spec.templates) {
        (Some(d), _) => Ok((load_templates(d)?, Some(templates_dir_string(d)?))),
        (None, Some(d)) => {
            if !Path::new(d).is_dir() {
                return Err(Error::input(
                    format!("the bundle was made with --templates `{d}`, which no longer exists"),
                    "restore that directory, or pass --templates DIR to use another one (an empty directory means the built-in templates)",
                ));
            }
            Ok((load_templates(Path::new(d))?, Some(d.clone())))
        }
        (None, None) => Ok((Templates::builtin(), None)),
    }
}

/// Renders `name` from `templates`, mapping a failure to the user-facing error.
pub fn render_template(
    templates: &crate::core::render::Templates,
    name: &str,
    ctx: minijinja::Value,
) -> Result<String> {
    templates.render(name, ctx).map_err(template_error)
}

/// A YAML double-quoted scalar (JSON strings are valid YAML) with `$` doubled, so Compose
/// does not interpolate it.
fn yq(s: &str) -> String {
    serde_json::Value::from(s).to_string().replace('$', "$$")
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
    let has_password = |name: &str| {
        m.spec
            .users
            .iter()
            .any(|u| u.name == name && u.has_password())
    };
    let host = |n: &str| yq(&dir.join(n).to_string_lossy());
    let in_mount = |n: &str| shell_quote(&format!("{mount}/{n}"));

    // A certificate-identity user is logged in by its certificate: no password, no --user.
    let (auth, user_arg) = if has_password(&monitor) {
        (
            format!("REDISCLI_AUTH=\"$(cat /run/secrets/{monitor}_password)\" "),
            format!(" --user {}", shell_quote(m.spec.acl_name_of(&monitor))),
        )
    } else {
        (String::new(), String::new())
    };
    let healthcheck = format!(
        "{auth}redis-cli --tls -h 127.0.0.1 -p {port} --cacert {ca} --cert {crt} --key {key}{user_arg} PING | grep -qx PONG",
        port = m.spec.port,
        ca = in_mount(bundle::CA_CRT),
        crt = in_mount(&bundle::user_crt(&monitor)),
        key = in_mount(&bundle::user_key(&monitor)),
    );
    let example = if has_password(&app) {
        "REDISCLI_AUTH=\"$(cat \"$REDIS_PASSWORD_FILE\")\" redis-cli --tls -h \"$REDIS_HOST\" -p \"$REDIS_PORT\" --cacert \"$REDIS_TLS_CA\" --cert \"$REDIS_TLS_CERT\" --key \"$REDIS_TLS_KEY\" --user \"$REDIS_USERNAME\" PING"
    } else {
        "redis-cli --tls -h \"$REDIS_HOST\" -p \"$REDIS_PORT\" --cacert \"$REDIS_TLS_CA\" --cert \"$REDIS_TLS_CERT\" --key \"$REDIS_TLS_KEY\" PING"
    };

    let mut secrets: Vec<minijinja::Value> = m
        .spec
        .users
        .iter()
        .filter(|u| u.has_password())
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
        monitor_password => has_password(&monitor),
        app_password => has_password(&app),
        healthcheck => yq(&healthcheck),
        example => yq(example),
        secrets => secrets,
    };
    render_template(templates, COMPOSE, ctx)
}
