//! `provision env`: the environment a client or a CI job needs to reach the bundle's Redis —
//! absolute paths, user name and port; the password itself only with `--show-secrets`.

use super::{open_bundle, shell_quote};
use crate::cli::{EnvArgs, EnvFormat};
use crate::core::bundle;
use crate::core::spec::Role;
use crate::error::{Error, ExitStatus, Result};
use crate::output::Output;

pub fn run(args: &EnvArgs, _out: Output) -> Result<ExitStatus> {
    let (dir, files, m) = open_bundle(args.dir.as_deref())?;
    let user = match &args.user {
        Some(u) => m.spec.users.iter().find(|s| &s.name == u).ok_or_else(|| {
            Error::input(
                format!("the bundle has no user `{u}`"),
                format!(
                    "users in this bundle: {}",
                    m.spec
                        .users
                        .iter()
                        .map(|u| u.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?,
        None => m
            .spec
            .users
            .iter()
            .find(|u| u.role == Role::App)
            .ok_or_else(|| {
                Error::input(
                    "the bundle has no user with role `app`",
                    "name the user with --user",
                )
            })?,
    };
    let path = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_TLS_CA", path(bundle::CA_CRT)),
        ("REDIS_TLS_CERT", path(&bundle::user_crt(&user.name))),
        ("REDIS_TLS_KEY", path(&bundle::user_key(&user.name))),
        ("REDIS_USERNAME", user.name.clone()),
        (
            "REDIS_PASSWORD_FILE",
            path(&bundle::user_password(&user.name)),
        ),
        ("REDIS_PORT", m.spec.port.to_string()),
    ];
    if args.show_secrets {
        let pw = files
            .text(&bundle::user_password(&user.name))
            .ok_or_else(|| {
                Error::failed(
                    format!("the bundle has no {}", bundle::user_password(&user.name)),
                    Some("run `provision check` to see what is wrong".into()),
                )
            })?;
        vars.push(("REDIS_PASSWORD", pw.to_string()));
    }
    crate::out!("{}", render(args.format, &vars)?);
    Ok(ExitStatus::Success)
}

/// Formats `NAME=value` lines. Values that a format cannot carry safely (a newline anywhere,
/// a single quote in a quoted format) are refused rather than mangled.
pub fn render(format: EnvFormat, vars: &[(&str, String)]) -> Result<String> {
    let mut out = String::new();
    for (k, v) in vars {
        if v.contains('\n') || v.contains('\r') || v.contains('\0') {
            return Err(Error::input(
                format!("{k} would contain a line break or NUL, which no env format can carry"),
                "use a bundle directory whose path has no control characters",
            ));
        }
        match format {
            EnvFormat::Shell => out.push_str(&format!("export {k}={}\n", shell_quote(v))),
            EnvFormat::Github => out.push_str(&format!("{k}={v}\n")),
            EnvFormat::Dotenv => {
                if v.contains('\'') {
                    return Err(Error::input(
                        format!("{k} contains a single quote, which dotenv cannot quote safely"),
                        "use a bundle directory whose path has no quote characters",
                    ));
                }
                out.push_str(&format!("{k}='{v}'\n"))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(&'static str, String)> {
        vec![
            ("REDIS_TLS_CA", "/tmp/it's here/ca.crt".into()),
            ("REDIS_PORT", "6380".into()),
        ]
    }

    #[test]
    fn shell_quotes_everything() {
        let s = render(EnvFormat::Shell, &vars()).unwrap();
        assert_eq!(
            s,
            "export REDIS_TLS_CA='/tmp/it'\\''s here/ca.crt'\nexport REDIS_PORT='6380'\n"
        );
    }

    #[test]
    fn github_is_plain_and_dotenv_refuses_quotes() {
        let s = render(EnvFormat::Github, &vars()).unwrap();
        assert!(s.starts_with("REDIS_TLS_CA=/tmp/it's here/ca.crt\n"));
        assert!(render(EnvFormat::Dotenv, &vars()).is_err());
        let ok = render(EnvFormat::Dotenv, &vars()[1..]).unwrap();
        assert_eq!(ok, "REDIS_PORT='6380'\n");
    }

    #[test]
    fn newlines_are_refused_in_every_format() {
        let v = vec![("X", "a\nb".to_string())];
        for f in [EnvFormat::Shell, EnvFormat::Github, EnvFormat::Dotenv] {
            assert!(render(f, &v).is_err());
        }
    }
}
