//! Why a value given to provision (a flag, a config file, a recipient) cannot go into a
//! bundle: one typed error for every check in core that judges input. Each variant names
//! the value (shortened and escaped, so a hostile value cannot forge a line of output) and
//! says how to fix it; the CLI turns every one into exit status 2 (`crate::error::Error::Input`).

use std::fmt;

/// A value as shown in a message: at most 64 characters, escaped (`\n`, `\u{1b}`), with `…`
/// when it was longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    pub fn new(v: &str) -> Self {
        let mut s: String = v
            .chars()
            .take(64)
            .collect::<String>()
            .escape_debug()
            .to_string();
        if v.chars().count() > 64 {
            s.push('…');
        }
        Shown(s)
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const DURATION_HINT: &str =
    "use a whole number followed by a unit: s, m, h, d or w (for example 3650d, 90d, 12h, 30m)";
const URI_HINT: &str = "give a URI such as `spiffe://example.org/ns/prod/sa/app` (scheme://authority/path of letters, digits and `-._~:/@+=%`, at most 255 characters)";
const RULE_HINT: &str = "use `+name`, `-name`, `+@category` or `+name|subcommand` in lower case (for example `+get`, `+@read` or `+client|list`)";
const TRUST_DOMAIN_HINT: &str = "give a lower-case DNS name such as `redis.internal` or `prod.example.com` (letters, digits, `-` and `.`)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("invalid user name `{0}`: use 1-64 characters, a letter first, then letters, digits, `_`, `-` or `.`")]
    UserName(Shown),
    #[error("user name `{0}` is reserved (`default` is the Redis default user, which provision always disables; the others are bundle file names); choose another name")]
    ReservedUserName(String),
    #[error("user name `{0}` is an ACL keyword; choose another name")]
    AclKeyword(String),
    #[error("invalid URI identity `{0}`: {URI_HINT}")]
    IdentityUri(Shown),
    #[error("invalid {kind} pattern `{value}`: it must be 1-256 characters long")]
    PatternLength { kind: &'static str, value: Shown },
    #[error("invalid {kind} pattern `{value}`: character {ch:?} is not allowed; use printable ASCII without spaces, quotes, backslashes or parentheses (for example `app:*`)")]
    PatternChar {
        kind: &'static str,
        value: Shown,
        ch: char,
    },
    #[error("invalid {kind} pattern `{value}`: give the pattern alone, without an ACL prefix such as `~` or `&` (for example `app:*`)")]
    PatternPrefix { kind: &'static str, value: Shown },
    #[error("invalid command rule `{0}`: {RULE_HINT}")]
    CommandRule(Shown),
    #[error(
        "invalid command rule `{rule}`: `@{category}` is not a Redis ACL category (see ACL CAT)"
    )]
    UnknownCategory { rule: Shown, category: Shown },
    #[error("invalid command rule `{rule}`: `{command}` is not a Redis 7.0 command{}", if *.subcommand { " or subcommand" } else { "" })]
    UnknownCommand {
        rule: Shown,
        command: Shown,
        subcommand: bool,
    },
    #[error("invalid host `{0}`: give a DNS name (letters, digits, `-` and `.`, for example `redis.internal`) or an IP address (for example `10.0.0.5` or `::1`)")]
    Host(Shown),
    #[error("invalid host `{0}`: it looks like an IP address but does not parse as one")]
    HostLooksLikeIp(Shown),
    #[error("invalid --trust-domain `{value}`{}: {TRUST_DOMAIN_HINT}", if *.upper_case { " (SPIFFE trust domains are lower case)" } else { "" })]
    TrustDomain { value: Shown, upper_case: bool },
    #[error(
        "invalid --trust-domain `{0}`: an IP address is not a trust domain; {TRUST_DOMAIN_HINT}"
    )]
    TrustDomainIp(Shown),
    #[error(
        "invalid bind address `{0}`: give an IP address such as `127.0.0.1`, `-::1` or `0.0.0.0`"
    )]
    BindAddr(Shown),
    #[error("path `{value}` contains {ch:?}, which cannot be written safely into redis.conf; choose a path without quotes, backslashes or control characters")]
    ConfPath { value: Shown, ch: char },
    #[error(
        "invalid node name `{0}`: use a DNS label (1-63 letters, digits and `-`, a letter first)"
    )]
    NodeName(Shown),
    #[error("{what} `{value}` is not a DNS label: use 1-{max} lowercase letters, digits and `-`, starting and ending with a letter or digit")]
    DnsLabel {
        what: String,
        value: Shown,
        max: usize,
    },
    #[error("`{value}` is not an age recipient: {reason}")]
    Recipient { value: String, reason: String },
    #[error("empty duration; {DURATION_HINT}")]
    EmptyDuration,
    /// `problem` completes "duration `90x` ...": "is negative", "has no unit", ...
    #[error("duration `{value}` {problem}; {DURATION_HINT}")]
    Duration { value: String, problem: String },
    #[error("duration `{0}` is too large; the maximum is 36600d")]
    DurationTooLarge(String),
    #[error("duration `{0}` is zero; it must be positive")]
    DurationZero(String),
    #[error("unknown server `{value}`: use auto or one of {known}")]
    Server { value: String, known: String },
    /// A config file (`--config`) that is not valid TOML for provision.
    #[error("{0}")]
    Config(String),
}

impl From<Invalid> for String {
    fn from(e: Invalid) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_value_is_escaped_and_bounded() {
        let e = Invalid::UserName(Shown::new("a\nuser x on ~* +@all"));
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().contains(r"a\nuser x on"), "{e}");
        let long = "x".repeat(500);
        let shown = Shown::new(&long).to_string();
        assert_eq!(shown.chars().count(), 65, "{shown}");
        assert!(shown.ends_with('…'));
        assert_eq!(Shown::new("app").to_string(), "app");
    }

    #[test]
    fn callers_can_tell_the_problems_apart() {
        use crate::core::validate;
        assert!(matches!(
            validate::pattern("channel", "~x"),
            Err(Invalid::PatternPrefix {
                kind: "channel",
                ..
            })
        ));
        assert!(matches!(
            validate::command_rule("+@nosuch"),
            Err(Invalid::UnknownCategory { .. })
        ));
        assert!(matches!(
            validate::command_rule("+config|nosuch"),
            Err(Invalid::UnknownCommand {
                subcommand: true,
                ..
            })
        ));
        assert!(matches!(
            validate::user_name("default"),
            Err(Invalid::ReservedUserName(_))
        ));
        assert!(matches!(
            "0d".parse::<crate::core::duration::Dur>(),
            Err(Invalid::DurationZero(_))
        ));
    }
}
