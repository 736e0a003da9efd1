//! The server a bundle is made for (`init --server`), and what each can do: one table of
//! capabilities, so that rendering and checks ask "can this target do X" instead of comparing
//! versions in many places. Pure: detecting the local server (running `redis-server
//! --version`) is the command's job; `parse_version_output` reads what it printed.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Redis,
    Valkey,
}

/// A server family and its major.minor version: `redis-7.0`, `valkey-9.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub family: Family,
    pub major: u16,
    pub minor: u16,
}

/// The targets `--server` accepts (the versions operators run in 2026).
pub const KNOWN: &[&str] = &[
    "redis-7.0",
    "redis-7.2",
    "redis-7.4",
    "redis-8.0",
    "redis-8.2",
    "redis-8.4",
    "redis-8.6",
    "valkey-8.0",
    "valkey-8.1",
    "valkey-9.0",
    "valkey-9.1",
];

/// What a bundle is made for when nothing says otherwise (and what bundles made before
/// targets existed were made for): the oldest server supported.
pub const BASELINE: Target = Target {
    family: Family::Redis,
    major: 7,
    minor: 0,
};

/// How often a server with `tls_auto_reload` checks its certificate files (seconds): a renewed
/// certificate is served within a minute even by a `renew` without `--reload`.
pub const AUTO_RELOAD_INTERVAL_SECS: u32 = 60;

/// What a target can do that changes the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Caps {
    /// The Lua engine asks `CONFIG GET lua-enable-insecure-api` by name at start-up (Valkey ≥
    /// 9.0, where Lua is an engine module): with CONFIG renamed it logs an error on every
    /// start and script flush (and assumes `no`).
    pub lua_asks_config: bool,
    /// `tls-auth-clients-user CN`: a client certificate logs in as the user it names
    /// (Valkey ≥ 9.0, Redis ≥ 8.6).
    pub cert_user_cn: bool,
    /// `tls-auth-clients-user URI` (Valkey ≥ 9.1).
    pub cert_user_uri: bool,
    /// `tls-auto-reload-interval`: the server re-reads its certificate files (Valkey ≥ 9.1).
    pub tls_auto_reload: bool,
    /// COMMANDLOG, the successor of SLOWLOG (Valkey ≥ 8.1).
    pub commandlog: bool,
}

impl Target {
    fn at_least(self, family: Family, major: u16, minor: u16) -> bool {
        self.family == family && (self.major, self.minor) >= (major, minor)
    }

    pub fn caps(self) -> Caps {
        use Family::*;
        Caps {
            lua_asks_config: self.at_least(Valkey, 9, 0),
            cert_user_cn: self.at_least(Valkey, 9, 0) || self.at_least(Redis, 8, 6),
            cert_user_uri: self.at_least(Valkey, 9, 1),
            tls_auto_reload: self.at_least(Valkey, 9, 1),
            commandlog: self.at_least(Valkey, 8, 1),
        }
    }

    /// Whether the bundle gives CONFIG a secret name. Not on a server whose Lua engine asks
    /// CONFIG by name: there the ACLs alone keep CONFIG from every user but the admin, and
    /// `enable-protected-configs no` keeps even the admin from the configs that write files.
    pub fn renames_config(self) -> bool {
        !self.caps().lua_asks_config
    }

    /// The name of the server binary (`redis-server`, `valkey-server`).
    pub fn server_binary(self) -> &'static str {
        match self.family {
            Family::Redis => "redis-server",
            Family::Valkey => "valkey-server",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.family {
            Family::Redis => "redis",
            Family::Valkey => "valkey",
        };
        write!(f, "{name}-{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for Target {
    type Err = super::invalid::Invalid;
    /// One of `KNOWN`.
    fn from_str(s: &str) -> Result<Target, Self::Err> {
        let bad = || super::invalid::Invalid::Server {
            value: s.escape_debug().to_string(),
            known: KNOWN.join(", "),
        };
        if !KNOWN.contains(&s) {
            return Err(bad());
        }
        let (name, v) = s.split_once('-').ok_or_else(bad)?;
        let (major, minor) = v.split_once('.').ok_or_else(bad)?;
        Ok(Target {
            family: if name == "valkey" {
                Family::Valkey
            } else {
                Family::Redis
            },
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The target and full version in what `redis-server --version` or `valkey-server --version`
/// printed (`Redis server v=8.0.6 sha=...`, `Valkey server v=9.1.2 ...`). A version newer
/// than every known target maps to the newest known one of its family; older than 7.0, or
/// unreadable, is `None`.
/// A redis.conf directive that only some servers have, if `target` is not one of them: the
/// servers that have it (a server refuses to start on a directive it does not know).
pub fn missing_directive(target: Target, key: &str, args: &[String]) -> Option<&'static str> {
    let caps = target.caps();
    match key.to_ascii_lowercase().as_str() {
        "tls-auto-reload-interval" if !caps.tls_auto_reload => Some("Valkey 9.1 and newer"),
        "tls-auth-clients-user"
            if args.first().is_some_and(|a| a.eq_ignore_ascii_case("uri"))
                && !caps.cert_user_uri =>
        {
            Some("Valkey 9.1 and newer")
        }
        "tls-auth-clients-user" if !caps.cert_user_cn => {
            Some("Valkey 9.0 and newer, Redis 8.6 and newer")
        }
        _ => None,
    }
}

/// One message per directive of a parsed redis.conf that `target` lacks (see
/// `missing_directive`), naming it, its line and the servers that have it.
pub fn unsupported_directives(target: Target, ds: &[super::conf::Directive]) -> Vec<String> {
    ds.iter()
        .filter_map(|d| {
            missing_directive(target, &d.key, &d.args).map(|who| {
                format!(
                    "sets {} (line {}), which {target} does not have ({who} do): the server \
                     would refuse to start; make the bundle for such a server (`init --server`) \
                     or drop the line from the template",
                    d.key, d.line
                )
            })
        })
        .collect()
}

pub fn parse_version_output(out: &str) -> Option<(Target, String)> {
    let family = if out.starts_with("Valkey server") {
        Family::Valkey
    } else if out.starts_with("Redis server") {
        Family::Redis
    } else {
        return None;
    };
    let v = out.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    let mut it = v.split('.').map(|p| p.parse::<u16>().ok());
    let (major, minor) = (it.next()??, it.next()??);
    // The newest known target of the family that is not newer than what was found.
    let best = KNOWN
        .iter()
        .filter_map(|k| k.parse::<Target>().ok())
        .filter(|k| k.family == family && (k.major, k.minor) <= (major, minor))
        .max_by_key(|k| (k.major, k.minor))?;
    Some((best, v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_target_parses_and_prints_back() {
        for k in KNOWN {
            let t: Target = k.parse().unwrap();
            assert_eq!(t.to_string(), *k);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<Target>(&json).unwrap(), t);
        }
        assert!("redis-6.2"
            .parse::<Target>()
            .unwrap_err()
            .to_string()
            .contains("valkey-9.1"));
        assert!("keydb-6.3".parse::<Target>().is_err());
    }

    #[test]
    fn version_output_maps_to_the_nearest_known_target() {
        let cases = [
            (
                "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64",
                "redis-7.0",
                "7.0.15",
            ),
            (
                "Redis server v=8.0.6 sha=00000000:1 malloc=libc bits=64",
                "redis-8.0",
                "8.0.6",
            ),
            ("Redis server v=7.2.5 sha=0", "redis-7.2", "7.2.5"),
            ("Redis server v=9.0.1 sha=0", "redis-8.6", "9.0.1"),
            (
                "Valkey server v=8.0.1 sha=00000000:0 malloc=jemalloc-5.3.0",
                "valkey-8.0",
                "8.0.1",
            ),
            (
                "Valkey server v=9.1.2 sha=00000000:1 malloc=libc",
                "valkey-9.1",
                "9.1.2",
            ),
        ];
        for (out, target, v) in cases {
            let (t, version) = parse_version_output(out).unwrap();
            assert_eq!(
                (t.to_string().as_str(), version.as_str()),
                (target, v),
                "{out}"
            );
        }
        assert!(parse_version_output("Redis server v=6.2.14 sha=0").is_none());
        assert!(parse_version_output("KeyDB server v=6.3.4").is_none());
        assert!(parse_version_output("").is_none());
    }

    #[test]
    fn capabilities_follow_the_servers() {
        let caps = |s: &str| s.parse::<Target>().unwrap().caps();
        assert!(!caps("redis-7.0").lua_asks_config && BASELINE.renames_config());
        assert!(caps("valkey-9.0").lua_asks_config && !caps("valkey-8.1").lua_asks_config);
        assert!(caps("redis-8.6").cert_user_cn && !caps("redis-8.4").cert_user_cn);
        assert!(caps("valkey-9.1").tls_auto_reload && !caps("valkey-9.0").tls_auto_reload);
        assert!(caps("valkey-8.1").commandlog && !caps("redis-8.6").commandlog);
        assert!(!"valkey-9.1".parse::<Target>().unwrap().renames_config());
    }
}
