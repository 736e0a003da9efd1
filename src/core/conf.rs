//! The one reader of Redis configuration and ACL text: `redis.conf`, `sentinel.conf` and
//! `users.acl` as Redis itself reads them (a line split into arguments the way `sdssplitargs`
//! splits it: blanks separate, "double quotes" take `\` escapes, 'single quotes' do not;
//! `#` starts a comment only at the start of a line; keys are case-insensitive; for a
//! directive given twice the last one wins). `check`'s policy audit, rotation and the
//! renderer's round trip all read through here.

/// One line of a config file: the directive (lower-cased) and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    /// 1-based line number.
    pub line: usize,
    pub key: String,
    pub args: Vec<String>,
}

/// Splits one line into arguments as Redis does; `None` for unbalanced quotes (Redis refuses
/// to start on such a line).
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Some(out);
        };
        let mut cur = String::new();
        match first {
            '"' => {
                chars.next();
                loop {
                    match chars.next()? {
                        '\\' => match chars.next()? {
                            'n' => cur.push('\n'),
                            'r' => cur.push('\r'),
                            't' => cur.push('\t'),
                            'a' => cur.push('\u{7}'),
                            'b' => cur.push('\u{8}'),
                            c => cur.push(c),
                        },
                        '"' => break,
                        c => cur.push(c),
                    }
                }
                // A closing quote must be followed by a blank or the end of the line.
                if chars.peek().is_some_and(|c| !c.is_ascii_whitespace()) {
                    return None;
                }
            }
            '\'' => {
                chars.next();
                loop {
                    match chars.next()? {
                        '\\' if chars.peek() == Some(&'\'') => {
                            chars.next();
                            cur.push('\'');
                        }
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
                if chars.peek().is_some_and(|c| !c.is_ascii_whitespace()) {
                    return None;
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_whitespace() {
                        break;
                    }
                    cur.push(c);
                    chars.next();
                }
            }
        }
        out.push(cur);
    }
}

/// Every directive of a config file, in order. Lines Redis would refuse (unbalanced quotes)
/// are returned as errors with their line number.
pub fn directives(text: &str) -> (Vec<Directive>, Vec<usize>) {
    let mut ds = Vec::new();
    let mut bad = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match split_args(t) {
            Some(mut a) if !a.is_empty() => {
                let key = a.remove(0).to_ascii_lowercase();
                ds.push(Directive {
                    line: i + 1,
                    key,
                    args: a,
                });
            }
            Some(_) => {}
            None => bad.push(i + 1),
        }
    }
    (ds, bad)
}

/// The directive that takes effect for `key` (the last one).
pub fn last<'a>(ds: &'a [Directive], key: &str) -> Option<&'a Directive> {
    ds.iter().rev().find(|d| d.key == key)
}

/// Every directive for `key`, in order (for those Redis accumulates: include, rename-command,
/// user, loadmodule).
pub fn all<'a>(ds: &'a [Directive], key: &'a str) -> impl Iterator<Item = &'a Directive> + 'a {
    ds.iter().filter(move |d| d.key == key)
}

/// The value of `key` as Redis would use it: the last directive's arguments joined by a
/// blank (quotes removed); `None` when absent.
pub fn value(text: &str, key: &str) -> Option<String> {
    let (ds, _) = directives(text);
    last(&ds, &key.to_ascii_lowercase()).map(|d| d.args.join(" "))
}

/// One `user` line of an ACL file (or of a config file): the name and its rules in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclUser {
    pub line: usize,
    pub name: String,
    pub rules: Vec<String>,
}

impl AclUser {
    /// The SHA-256 password hashes the line adds (`#<hex>`), in order.
    pub fn hashes(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(|r| r.strip_prefix('#'))
            .map(str::to_string)
            .collect()
    }

    /// Whether the user ends up enabled: the last `on`/`off` wins; a new user is off.
    pub fn enabled(&self) -> bool {
        self.rules
            .iter()
            .rev()
            .find(|r| r.eq_ignore_ascii_case("on") || r.eq_ignore_ascii_case("off"))
            .is_some_and(|r| r.eq_ignore_ascii_case("on"))
    }
}

/// The `user` lines of an ACL file (`users.acl`) or of `user` directives in a config.
/// Anything else in an ACL file is returned by line number (Redis refuses to load it).
pub fn acl_users(text: &str) -> (Vec<AclUser>, Vec<(usize, String)>) {
    let mut users = Vec::new();
    let mut other = Vec::new();
    let (ds, bad) = directives(text);
    for l in bad {
        other.push((l, "unbalanced quotes".to_string()));
    }
    for d in ds {
        if d.key != "user" || d.args.is_empty() {
            other.push((d.line, format!("{} {}", d.key, d.args.join(" "))));
            continue;
        }
        let mut args = d.args;
        let name = args.remove(0);
        users.push(AclUser {
            line: d.line,
            name,
            rules: args,
        });
    }
    (users, other)
}

/// The password hashes of `user` in an ACL text (its first line; empty when absent).
pub fn acl_hashes(acl: &str, user: &str) -> Vec<String> {
    acl_users(acl)
        .0
        .into_iter()
        .find(|u| u.name == user)
        .map(|u| u.hashes())
        .unwrap_or_default()
}

/// The directives that name a file by absolute path.
pub const PATH_KEYS: &[&str] = &[
    "tls-cert-file",
    "tls-key-file",
    "tls-ca-cert-file",
    "aclfile",
    "include",
];

/// `text` with every path directive that names a file directly in `from` rewritten to the
/// same file in `to` (other lines byte for byte as they were); `None` when nothing named
/// `from`.
pub fn relocate_paths(text: &str, from: &str, to: &str) -> Option<String> {
    let (from, to) = (from.trim_end_matches('/'), to.trim_end_matches('/'));
    let mut changed = false;
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let moved = split_args(body.trim()).and_then(|a| {
            let key = a.first()?.to_ascii_lowercase();
            let name = a
                .get(1)?
                .strip_prefix(from)?
                .strip_prefix('/')
                .filter(|n| !n.contains('/'))?
                .to_string();
            (a.len() == 2 && PATH_KEYS.contains(&key.as_str()))
                .then(|| format!("{} \"{to}/{name}\"", a[0]))
        });
        match moved {
            Some(l) => {
                changed = true;
                out.push_str(&l);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_move_to_the_new_directory_and_nothing_else_changes() {
        let text = "port 0\ntls-cert-file \"/old/redis.crt\"\naclfile /old/users.acl\ninclude \"/old/masterauth.conf\"\ndir \"/old/data\"\ntls-key-file \"/elsewhere/k\"\n";
        let moved = relocate_paths(text, "/old/", "/new").unwrap();
        assert_eq!(
            moved,
            "port 0\ntls-cert-file \"/new/redis.crt\"\naclfile \"/new/users.acl\"\ninclude \"/new/masterauth.conf\"\ndir \"/old/data\"\ntls-key-file \"/elsewhere/k\"\n"
        );
        assert_eq!(relocate_paths("port 0\n", "/old", "/new"), None);
    }

    #[test]
    fn splits_as_redis_does() {
        assert_eq!(
            split_args(r#"tls-protocols "TLSv1.2 TLSv1.3""#).unwrap(),
            vec!["tls-protocols", "TLSv1.2 TLSv1.3"]
        );
        assert_eq!(
            split_args(r#"rename-command CONFIG """#).unwrap(),
            vec!["rename-command", "CONFIG", ""]
        );
        assert_eq!(
            split_args("a 'b c' \"d\\\"e\"").unwrap(),
            vec!["a", "b c", "d\"e"]
        );
        assert_eq!(split_args("a \"b"), None);
        assert_eq!(split_args("a \"b\"c"), None);
    }

    #[test]
    fn the_last_directive_wins_and_keys_ignore_case() {
        let text = "port 0\n# port 6379\nPORT 6380\n";
        assert_eq!(value(text, "port").as_deref(), Some("6380"));
        assert_eq!(
            value("bind 127.0.0.1 ::1\n", "bind").as_deref(),
            Some("127.0.0.1 ::1")
        );
        assert_eq!(value("x 1\n", "port"), None);
    }

    #[test]
    fn acl_lines_hashes_and_state() {
        let h = "a".repeat(64);
        let text = format!("user default off resetpass\nuser app on #{h} ~k:* +get off on\nfoo\n");
        let (users, other) = acl_users(&text);
        assert_eq!(users.len(), 2);
        assert!(!users[0].enabled());
        assert!(users[1].enabled());
        assert_eq!(users[1].hashes(), vec![h.clone()]);
        assert_eq!(other, vec![(3, "foo ".to_string())]);
        assert_eq!(acl_hashes(&text, "app"), vec![h]);
        assert!(acl_hashes(&text, "nobody").is_empty());
    }
}
