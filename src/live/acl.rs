//! Changing one ACL user on a live node without touching anyone else: `ACL SETUSER` with the
//! user's whole line from users.acl (after clearing passwords, patterns, selectors and
//! commands, so nothing the file no longer says stays),
//! `ACL DELUSER`, `CLIENT KILL USER`. Never `ACL LOAD` (Redis 7.0-7.2 drop every client on it)
//! and never `ACL SAVE` (users.acl belongs to the bundle). Each change is verified with
//! `ACL GETUSER`: the live user must equal what the file's rules make of it on that server.

use super::conn::{Creds, Session};
use super::Error;
use redis::Value;

/// What one node answered to a user change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pushed {
    /// The node already had the user exactly as the file says (or, for a removal, not at all).
    InSync,
    /// The node was changed and now matches the file.
    Updated,
}

/// What `ACL SETUSER` clears before a user's rules are applied: `reset` without its
/// `sanitize-payload`, which a user loaded from users.acl does not have (seen on Redis 7.0:
/// after `reset` the live user and the same user after a restart differ by that flag).
const CLEAR: [&str; 6] = [
    "off",
    "resetpass",
    "resetkeys",
    "resetchannels",
    "clearselectors",
    "-@all",
];

/// The name of the short-lived probe user a verification makes.
const PROBE_PREFIX: &str = "provision-verify-";

impl Session<'_> {
    /// `ACL GETUSER name` as (field, value) pairs, or None when there is no such user.
    fn getuser(&mut self, name: &str) -> Result<Option<Vec<(String, Value)>>, Error> {
        Ok(match self.run(&["ACL", "GETUSER", name])? {
            Value::Nil => None,
            v => Some(pairs(v)),
        })
    }
}

/// A map reply (RESP3) or a flat key/value array (RESP2) as pairs.
fn pairs(v: Value) -> Vec<(String, Value)> {
    let text = |k: &Value| match k {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => format!("{other:?}"),
    };
    match v {
        Value::Map(m) => m.into_iter().map(|(k, v)| (text(&k), v)).collect(),
        Value::Array(a) => a
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (text(&c[0]), c[1].clone()))
            .collect(),
        _ => vec![],
    }
}

/// Whether a GETUSER reply's user is `on`, and the reply without the flags a users.acl line
/// does not decide: `on`/`off` (returned apart), and `sanitize-payload` /
/// `skip-sanitize-payload`, which follow from how the user came to be (a Sentinel's `default`
/// user has `sanitize-payload` from birth, a user made by ACL SETUSER does not; no token clears
/// it) and concern only RESTORE payloads.
fn split_flags(user: Vec<(String, Value)>) -> (bool, Vec<(String, Value)>) {
    let mut on = false;
    let rest = user
        .into_iter()
        .map(|(k, v)| {
            if k != "flags" {
                return (k, v);
            }
            let Value::Array(flags) = v else {
                return (k, v);
            };
            let mut kept = Vec::new();
            for f in flags {
                let s = match &f {
                    Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    Value::SimpleString(s) => s.clone(),
                    _ => String::new(),
                };
                match s.as_str() {
                    "on" => on = true,
                    "off" | "sanitize-payload" | "skip-sanitize-payload" => {}
                    _ => kept.push(f),
                }
            }
            (k, Value::Array(kept))
        })
        .collect();
    (on, rest)
}

/// Sets `acl_name` on `node` to exactly `rules` (its users.acl line without `user NAME`) and
/// verifies it; `kill`: then closes the user's connections (a disabled user's open
/// connections stay logged in otherwise). Other users and their connections are untouched.
pub fn set_user(
    node: &str,
    creds: &Creds,
    acl_name: &str,
    rules: &[String],
    kill: bool,
) -> Result<Pushed, Error> {
    let mut s = Session::open(node, creds)?;
    let pushed = set_in(&mut s, acl_name, rules)?;
    if kill {
        kill_in(&mut s, acl_name)?;
    }
    Ok(pushed)
}

/// Closes every connection of `acl_name` (`CLIENT KILL USER`).
fn kill_in(s: &mut Session, acl_name: &str) -> Result<(), Error> {
    s.run(&["CLIENT", "KILL", "USER", acl_name])
        .map(|_| ())
        .or_else(|e| match &e {
            // No such user on the node: no connection to close.
            Error::Refused { detail, .. } if detail.contains("No such") => Ok(()),
            _ => Err(e),
        })
}

/// `set_user` within a session, without closing connections.
fn set_in(s: &mut Session, acl_name: &str, rules: &[String]) -> Result<Pushed, Error> {
    let want_on = rules.iter().rev().find(|r| *r == "on" || *r == "off") == Some(&"on".into());
    // What the file's rules make of a user on this server, learnt from a probe user that
    // cannot log in (`off`), removed at once.
    let probe = format!("{PROBE_PREFIX}{}", crate::core::password::random_token(12));
    let mut args: Vec<&str> = vec!["ACL", "SETUSER", &probe];
    args.extend(CLEAR);
    args.extend(
        rules
            .iter()
            .map(|r| if r == "on" { "off" } else { r.as_str() }),
    );
    s.run(&args)?;
    let expected = s.getuser(&probe);
    s.run(&["ACL", "DELUSER", &probe])?;
    let (_, expected) = split_flags(expected?.unwrap_or_default());

    let matches = |u: Option<Vec<(String, Value)>>| {
        u.map(split_flags)
            .is_some_and(|(on, rest)| on == want_on && rest == expected)
    };
    if matches(s.getuser(acl_name)?) {
        return Ok(Pushed::InSync);
    }
    let mut args: Vec<&str> = vec!["ACL", "SETUSER", acl_name];
    args.extend(CLEAR);
    args.extend(rules.iter().map(String::as_str));
    s.run(&args)?;
    if !matches(s.getuser(acl_name)?) {
        return Err(Error::Unexpected {
            node: s.node.to_string(),
            command: "ACL GETUSER".into(),
            reply: format!("user `{acl_name}` does not match users.acl after ACL SETUSER"),
        });
    }
    Ok(Pushed::Updated)
}

/// Makes `node`'s users equal `acl` (a whole users.acl): each line set as `set_user` does, and
/// every user the file does not name deleted; then the connections of the users in `kill`
/// (disabled now) closed. Returns the users it changed or deleted.
pub fn converge(
    node: &str,
    creds: &Creds,
    acl: &str,
    kill: &[String],
) -> Result<Vec<String>, Error> {
    let mut s = Session::open(node, creds)?;
    let mut changed = Vec::new();
    let mut named = Vec::new();
    for line in acl.lines() {
        let t: Vec<&str> = line.split_ascii_whitespace().collect();
        if t.len() < 2 || t[0] != "user" {
            continue;
        }
        named.push(t[1].to_string());
        let rules: Vec<String> = t[2..].iter().map(|r| r.to_string()).collect();
        if set_in(&mut s, t[1], &rules)? == Pushed::Updated {
            changed.push(t[1].to_string());
        }
    }
    let live = match s.run(&["ACL", "USERS"])? {
        Value::Array(a) => a,
        _ => vec![],
    };
    for u in live {
        let name = match u {
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::SimpleString(x) => x,
            _ => continue,
        };
        if !named.contains(&name) {
            s.run(&["ACL", "DELUSER", &name])?;
            changed.push(name);
        }
    }
    for name in kill {
        kill_in(&mut s, name)?;
    }
    Ok(changed)
}

/// Deletes `acl_name` on `node` (`ACL DELUSER` closes its connections) and verifies it is gone.
pub fn delete_user(node: &str, creds: &Creds, acl_name: &str) -> Result<Pushed, Error> {
    let mut s = Session::open(node, creds)?;
    let deleted = s.run(&["ACL", "DELUSER", acl_name])?;
    if s.getuser(acl_name)?.is_some() {
        return Err(Error::Unexpected {
            node: node.to_string(),
            command: "ACL GETUSER".into(),
            reply: format!("user `{acl_name}` is still there after ACL DELUSER"),
        });
    }
    Ok(if deleted == Value::Int(0) {
        Pushed::InSync
    } else {
        Pushed::Updated
    })
}
