//! The vocabulary of a bundle: its file names and modes, one file (`OutFile`) and a whole
//! bundle in memory (`Files`). Kept apart from `bundle.rs` (the generator) so that modules the
//! generator uses, such as `cakey`, can name files without importing the generator.

use super::secret::Secret;

pub const CA_CRT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
/// The new CA's key while a CA rollover is in its overlap (see `bundle::CaRollover`).
pub const CA_NEXT_KEY: &str = "ca-next.key";
pub const SERVER_CRT: &str = "redis.crt";
pub const SERVER_KEY: &str = "redis.key";
pub const USERS_ACL: &str = "users.acl";
pub const REDIS_CONF: &str = "redis.conf";
pub const RENAMED: &str = "renamed-commands";
pub const MANIFEST: &str = "manifest.json";
/// `masteruser`/`masterauth`, included by every node of a replicated topology.
pub const MASTERAUTH: &str = "masterauth.conf";

pub const MODE_SECRET: u32 = 0o600;
pub const MODE_PUBLIC: u32 = 0o644;

pub fn user_crt(user: &str) -> String {
    format!("{user}.crt")
}
pub fn user_key(user: &str) -> String {
    format!("{user}.key")
}
pub fn user_password(user: &str) -> String {
    format!("{user}.password")
}

/// One file of a bundle. Contents are held as a `Secret` whatever the file, so key material
/// is zeroized on drop and nothing prints a file's bytes by accident.
#[derive(Clone, Debug)]
pub struct OutFile {
    pub name: String,
    pub mode: u32,
    pub data: Secret,
}

impl OutFile {
    pub fn public(name: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        OutFile {
            name: name.into(),
            mode: MODE_PUBLIC,
            data: Secret::new(data.into()),
        }
    }
    pub fn secret(name: impl Into<String>, data: Secret) -> Self {
        OutFile {
            name: name.into(),
            mode: MODE_SECRET,
            data,
        }
    }
}

/// A complete bundle: files by name, in a stable order.
#[derive(Clone, Debug, Default)]
pub struct Files(pub Vec<OutFile>);

impl Files {
    pub fn get(&self, name: &str) -> Option<&OutFile> {
        self.0.iter().find(|f| f.name == name)
    }
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(|f| f.data.expose_str())
    }
    pub fn put(&mut self, f: OutFile) {
        match self.0.iter_mut().find(|o| o.name == f.name) {
            Some(o) => *o = f,
            None => self.0.push(f),
        }
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|f| f.name.as_str())
    }
}
