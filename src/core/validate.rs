//! Validation of every value that reaches `users.acl`, `redis.conf` or a certificate.
//!
//! Redis parses `users.acl` and `redis.conf` by splitting on whitespace; one stray space, `>`
//! or newline in a user name or key pattern would grant rights nobody declared
//! (`app on nopass ~* +@all` as a user name). So every value is checked against a closed
//! alphabet here, before it can reach a template, and the error says what is wrong.

use super::invalid::{Invalid, Shown};
use std::net::IpAddr;

/// ACL keywords that cannot be user names without making a rule line ambiguous.
const ACL_KEYWORDS: &[&str] = &[
    "on",
    "off",
    "nopass",
    "reset",
    "resetpass",
    "resetkeys",
    "resetchannels",
    "allkeys",
    "allchannels",
    "allcommands",
    "nocommands",
    "skip-sanitize-payload",
    "sanitize-payload",
    "user",
];

/// Names that would collide with the bundle's own files (`ca.crt`, `redis.key`, ...).
const RESERVED_NAMES: &[&str] = &["default", "ca", "redis", "users", "manifest", "audit"];

fn show(v: &str) -> Shown {
    Shown::new(v)
}

/// A user name: a letter, then letters, digits, `_`, `-` or `.`; at most 64 characters.
pub fn user_name(v: &str) -> Result<(), Invalid> {
    let ok_chars = v.len() <= 64
        && v.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok_chars {
        return Err(Invalid::UserName(show(v)));
    }
    let lower = v.to_ascii_lowercase();
    if RESERVED_NAMES.contains(&lower.as_str()) {
        return Err(Invalid::ReservedUserName(v.into()));
    }
    if ACL_KEYWORDS.contains(&lower.as_str()) {
        return Err(Invalid::AclKeyword(v.into()));
    }
    Ok(())
}

/// A URI identity for `tls-auth-clients-user URI` (`spiffe://example.org/ns/prod/sa/app`): a
/// scheme (a letter, then letters, digits, `+`, `-`, `.`), `://`, a non-empty authority and a
/// path of letters, digits and `-._~:/@+=%`: no query or fragment (a SPIFFE ID has neither),
/// nothing a shell or a users.acl line would split or expand (the URI is also the ACL user
/// name); at most 255 characters.
pub fn identity_uri(v: &str) -> Result<(), Invalid> {
    let bad = || Invalid::IdentityUri(show(v));
    let (scheme, rest) = v.split_once("://").ok_or_else(bad)?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority = rest.split('/').next().unwrap_or("");
    let chars_ok = rest.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '.' | '_' | '~' | ':' | '/' | '@' | '+' | '=' | '%')
    });
    if v.len() > 255 || !scheme_ok || authority.is_empty() || !chars_ok {
        return Err(bad());
    }
    Ok(())
}

/// A key or channel glob pattern: printable ASCII without whitespace, quotes, backslashes or
/// parentheses (selectors), at most 256 characters.
pub fn pattern(kind: &'static str, v: &str) -> Result<(), Invalid> {
    if v.is_empty() || v.len() > 256 {
        return Err(Invalid::PatternLength {
            kind,
            value: show(v),
        });
    }
    if let Some(c) = v
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '\\' | '(' | ')' | '`'))
    {
        return Err(Invalid::PatternChar {
            kind,
            value: show(v),
            ch: c,
        });
    }
    if v.starts_with(['~', '&', '%', '+', '-', '>', '<', '#', '!']) {
        return Err(Invalid::PatternPrefix {
            kind,
            value: show(v),
        });
    }
    Ok(())
}

/// Every command and `command|subcommand` of Redis 7.0 (generated from redis-server 7.0.15).
const REDIS_COMMANDS: &str = include_str!("redis-7.0-commands.txt");
const CATEGORIES: &[&str] = &[
    "all",
    "admin",
    "bitmap",
    "blocking",
    "connection",
    "dangerous",
    "fast",
    "geo",
    "hash",
    "hyperloglog",
    "keyspace",
    "list",
    "pubsub",
    "read",
    "scripting",
    "set",
    "slow",
    "sortedset",
    "stream",
    "string",
    "transaction",
    "write",
];

fn known_command(name: &str) -> bool {
    REDIS_COMMANDS.lines().any(|l| l == name)
}

/// One ACL command rule for a custom user: `+get`, `-flushall`, `+@read`, `+client|list`.
/// The command, subcommand or category must exist in Redis 7.0: an unknown name in users.acl
/// makes redis-server refuse to start.
pub fn command_rule(v: &str) -> Result<(), Invalid> {
    let Some(body) = v.strip_prefix(['+', '-']) else {
        return Err(Invalid::CommandRule(show(v)));
    };
    if let Some(cat) = body.strip_prefix('@') {
        if CATEGORIES.contains(&cat) {
            return Ok(());
        }
        return Err(Invalid::UnknownCategory {
            rule: show(v),
            category: show(cat),
        });
    }
    let shape_ok = !body.is_empty()
        && body.len() <= 64
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '|'));
    if !shape_ok {
        return Err(Invalid::CommandRule(show(v)));
    }
    if !known_command(body) {
        return Err(Invalid::UnknownCommand {
            rule: show(v),
            command: show(body),
            subcommand: body.contains('|'),
        });
    }
    Ok(())
}

/// One RFC 1123 DNS label: 1-63 letters, digits and `-`, not starting or ending with `-`.
fn dns_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A host for the server certificate's SANs: an IP address, or a DNS name (RFC 1123 labels,
/// optionally a leading `*.` wildcard).
pub fn host(v: &str) -> Result<(), Invalid> {
    if v.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = v.strip_prefix("*.").unwrap_or(v);
    if v.len() > 253 || name.is_empty() || !name.split('.').all(dns_label) {
        return Err(Invalid::Host(show(v)));
    }
    if name.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(Invalid::HostLooksLikeIp(show(v)));
    }
    Ok(())
}

/// A SPIFFE trust domain (`--trust-domain`): a lower-case DNS name (letters, digits, `-`,
/// labels joined by `.`), at most 253 characters; not an IP address, no wildcard. The SPIFFE
/// ID specification allows only lower case; DNS rules keep the URI a valid `host` for every
/// URI parser.
pub fn trust_domain(v: &str) -> Result<(), Invalid> {
    let upper = v.chars().any(|c| c.is_ascii_uppercase());
    if v.len() > 253 || upper || !v.split('.').all(dns_label) {
        return Err(Invalid::TrustDomain {
            value: show(v),
            upper_case: upper,
        });
    }
    if v.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(Invalid::TrustDomainIp(show(v)));
    }
    Ok(())
}

/// A `bind` address for redis.conf: an IP address, optionally prefixed with `-` (Redis's
/// "skip if unavailable"), or `*`.
pub fn bind_addr(v: &str) -> Result<(), Invalid> {
    let a = v.strip_prefix('-').unwrap_or(v);
    if a == "*" || a == "::*" || a.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    Err(Invalid::BindAddr(show(v)))
}

/// A filesystem path written into redis.conf (quoted there): no control characters, quotes or
/// backslashes.
pub fn conf_path(v: &str) -> Result<(), Invalid> {
    if let Some(c) = v
        .chars()
        .find(|c| c.is_control() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(Invalid::ConfPath {
            value: show(v),
            ch: c,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["admin", "app", "ja4proxy", "svc.read-only_2"] {
            user_name(ok).unwrap();
        }
        for bad in [
            "",
            "app on nopass ~* +@all",
            "a b",
            "a\nuser x on",
            ">pw",
            "#hash",
            "~key",
            "&ch",
            "nopass",
            "on",
            "default",
            "Default",
            "ca",
            "redis",
            "1abc",
            "a\0b",
            &"a".repeat(65),
            "é",
        ] {
            assert!(user_name(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn identity_uris() {
        for ok in [
            "spiffe://example.org/ns/prod/sa/app",
            "spiffe://example.org",
            "urn+x://host:6379/a%20b/c=d@e~f",
        ] {
            identity_uri(ok).unwrap();
        }
        let long = format!("spiffe://example.org/{}", "a".repeat(240));
        for bad in [
            "",
            "app",
            "spiffe:/example.org/app",
            "spiffe:///app",
            "1x://example.org/app",
            "spiffe://example.org/a b",
            "spiffe://example.org/a\nuser x on",
            "spiffe://example.org/é",
            "spiffe://example.org/a\"b",
            long.as_str(),
        ] {
            let e = identity_uri(bad).expect_err(bad);
            assert!(matches!(e, Invalid::IdentityUri(_)), "{e}");
            assert!(e.to_string().contains("invalid URI identity"), "{e}");
        }
    }

    #[test]
    fn patterns() {
        for ok in ["*", "app:*", "ja4:*", "rate:[a-z]*", "user:{id}:x"] {
            pattern("key", ok).unwrap();
        }
        for bad in [
            "",
            "a *",
            "a\tb",
            "app:* +@all",
            "~*",
            "&*",
            "%R~x",
            "a\nb",
            "x(y",
            "x\"",
            "\u{0}",
            &"k".repeat(257),
            "ключ",
        ] {
            assert!(pattern("key", bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn command_rules() {
        for ok in ["+get", "-flushall", "+@read", "+client|list", "-@dangerous"] {
            command_rule(ok).unwrap();
        }
        for bad in [
            "get",
            "+",
            "+@",
            "+GET",
            "+get nopass",
            "+a|b|c",
            "+get|",
            ">x",
            "+@all on",
        ] {
            assert!(command_rule(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn trust_domains() {
        for ok in ["redis.internal", "prod", "a-1.example.com"] {
            trust_domain(ok).unwrap();
        }
        for bad in [
            "",
            "Redis.internal",
            "redis..internal",
            "redis.internal.",
            "-a.b",
            "a b",
            "a/b",
            "10.0.0.1",
            "*.example.com",
            "spiffe://x",
        ] {
            let e = trust_domain(bad).unwrap_err();
            assert!(
                matches!(e, Invalid::TrustDomain { .. } | Invalid::TrustDomainIp(_)),
                "{e}"
            );
            assert!(e.to_string().contains("--trust-domain"), "{e}");
        }
    }

    #[test]
    fn hosts() {
        for ok in [
            "redis",
            "localhost",
            "127.0.0.1",
            "::1",
            "redis.internal",
            "*.redis.svc",
        ] {
            host(ok).unwrap();
        }
        for bad in [
            "",
            "a b",
            "-x",
            "x-",
            "a..b",
            "256.1.1.1",
            "red_is",
            "a\nb",
            &"a".repeat(64),
            "*",
        ] {
            assert!(host(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn bind_and_paths() {
        for ok in ["127.0.0.1", "-::1", "0.0.0.0", "*"] {
            bind_addr(ok).unwrap();
        }
        assert!(bind_addr("localhost").is_err());
        conf_path("/srv/redis secrets/x").unwrap();
        assert!(conf_path("/a\"b").is_err());
        assert!(conf_path("/a\nb").is_err());
    }
}
