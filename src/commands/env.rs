//! `provision env`: the environment a client or a CI job needs to reach the bundle's Redis —
//! absolute paths, user name, topology and addresses (every data node; Sentinels and master
//! name when there are Sentinels); the password itself only with `--show-secrets`.

use super::{open_bundle, shell_quote};
use crate::cli::{EnvArgs, EnvFormat};
use crate::core::bundle;
use crate::core::spec::{Role, Spec};
use crate::error::{Error, ExitStatus, Result};
use crate::output::{Output, Report};

pub fn run(args: &EnvArgs, out: Output) -> Result<ExitStatus> {
    let (dir, files, m) = open_bundle(args.bundle.path())?;
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
        ("REDIS_USERNAME", user.acl_name().to_string()),
    ];
    // A certificate-identity user has no password: its certificate logs it in.
    if user.has_password() {
        vars.push((
            "REDIS_PASSWORD_FILE",
            path(&bundle::user_password(&user.name)),
        ));
    } else {
        vars.push(("REDIS_AUTH", "cert".into()));
    }
    vars.extend(topology_vars(&m.spec));
    if args.show_secrets && user.has_password() {
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
    // A value the text format cannot carry is refused before anything is printed; JSON
    // carries any value.
    let text = if out.json {
        String::new()
    } else {
        render(args.format, &vars)?
    };
    out.report_data(&Env {
        action: "env",
        user: &user.name,
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
            .collect(),
        text,
    });
    Ok(ExitStatus::Success)
}

/// The variables, as a JSON object or as the chosen text format.
#[derive(serde::Serialize)]
struct Env<'a> {
    action: &'static str,
    user: &'a str,
    vars: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    text: String,
}

impl Report for Env<'_> {
    fn human(&self, w: &mut String) -> std::fmt::Result {
        w.push_str(&self.text);
        Ok(())
    }
}

/// Where the bundle's Redis is: REDIS_TOPOLOGY, REDIS_HOST and REDIS_PORT (the first data
/// node: the standalone server, the initial primary, or the first cluster node), REDIS_NODES
/// (every data node, `host:port`, IPv6 in brackets) and, with Sentinels, REDIS_SENTINELS and
/// REDIS_MASTER_NAME.
pub fn topology_vars(spec: &Spec) -> Vec<(&'static str, String)> {
    let t = &spec.topology;
    let nodes = spec.data_nodes();
    let join = |ns: &[crate::core::topology::NodeSpec]| {
        ns.iter().map(|n| n.address()).collect::<Vec<_>>().join(",")
    };
    let mut v = vec![
        ("REDIS_TOPOLOGY", t.client_mode().to_string()),
        ("REDIS_HOST", nodes[0].host().to_string()),
        ("REDIS_PORT", nodes[0].port.to_string()),
        ("REDIS_NODES", join(&nodes)),
    ];
    if !t.sentinels.is_empty() {
        v.push(("REDIS_SENTINELS", join(&t.sentinels)));
        v.push(("REDIS_MASTER_NAME", t.master_name.clone()));
    }
    v
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
    fn topology_vars_name_every_node_and_sentinel() {
        use crate::core::topology::{Kind, Topology};
        let get =
            |v: &[(&str, String)], k: &str| v.iter().find(|(n, _)| *n == k).map(|(_, x)| x.clone());
        let standalone = topology_vars(&Spec::default());
        assert_eq!(get(&standalone, "REDIS_TOPOLOGY").unwrap(), "standalone");
        assert_eq!(get(&standalone, "REDIS_HOST").unwrap(), "127.0.0.1");
        assert_eq!(get(&standalone, "REDIS_NODES").unwrap(), "127.0.0.1:6379");
        assert!(get(&standalone, "REDIS_SENTINELS").is_none());
        let hosts = vec!["::1".to_string()];
        let spec = Spec {
            topology: Topology::generated(Kind::Replication, 2, 2, &hosts, 7000),
            ..Spec::default()
        };
        let v = topology_vars(&spec);
        assert_eq!(get(&v, "REDIS_TOPOLOGY").unwrap(), "sentinel");
        assert_eq!(get(&v, "REDIS_HOST").unwrap(), "::1");
        assert_eq!(get(&v, "REDIS_PORT").unwrap(), "7000");
        assert_eq!(get(&v, "REDIS_NODES").unwrap(), "[::1]:7000,[::1]:7001");
        assert_eq!(
            get(&v, "REDIS_SENTINELS").unwrap(),
            "[::1]:26379,[::1]:26380"
        );
        assert_eq!(get(&v, "REDIS_MASTER_NAME").unwrap(), "mymaster");
    }

    #[test]
    fn newlines_are_refused_in_every_format() {
        let v = vec![("X", "a\nb".to_string())];
        for f in [EnvFormat::Shell, EnvFormat::Github, EnvFormat::Dotenv] {
            assert!(render(f, &v).is_err());
        }
    }
}
