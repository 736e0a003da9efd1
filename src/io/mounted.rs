//! Reading a directory the kubelet maintains (a Secret, ConfigMap or projected volume), in
//! consistent snapshots.
//!
//! The kubelet's atomic writer keeps every version in a hidden directory (`..2026_12_08_…`),
//! points the link `..data` at the current one and makes each visible name a link into
//! `..data`; an update writes a new hidden directory and swaps `..data` in one rename. Reading
//! the visible names one by one could mix two versions (the new certificate with the old key),
//! so a snapshot resolves `..data` once, opens that directory by descriptor and reads every
//! name from it. A plain directory (no `..data`) is read directly; there the files must be
//! regular files (no links followed), as in a bundle.

use super::read::{read_at, ReadError};
use crate::core::secret::Secret;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The largest file of a mounted volume read here (certificates, keys, a trust bundle).
pub const MAX_MOUNTED_FILE: u64 = 1 << 20;

/// The kubelet's link to the current version of a volume.
pub const KUBELET_DATA: &str = "..data";

/// A watched directory, opened once.
pub struct Mounted {
    fd: OwnedFd,
    pub path: PathBuf,
}

/// The files of one version of a mounted directory.
pub struct Snapshot {
    /// The hidden directory `..data` named, if the kubelet maintains the directory.
    pub version: Option<String>,
    pub files: BTreeMap<String, Secret>,
}

impl Snapshot {
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.files.get(name)
    }
}

impl Mounted {
    /// Opens `path` (walked as a bundle directory is: no ancestor another user could change).
    pub fn open(path: &Path) -> Result<Mounted> {
        let abs = super::dir::absolute(path)?;
        let fd = super::dir::walk(&abs)?;
        Ok(Mounted { fd, path: abs })
    }

    /// One version of `required` and, where present, `optional` names.
    pub fn snapshot(&self, required: &[&str], optional: &[&str]) -> Result<Snapshot> {
        let version = match rustix::fs::readlinkat(&self.fd, KUBELET_DATA, Vec::new()) {
            Ok(t) => Some(t.to_string_lossy().into_owned()),
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::INVAL) => None,
            Err(e) => return Err(Error::io("reading", self.path.join(KUBELET_DATA), e.into())),
        };
        let dir: OwnedFd = match &version {
            // The kubelet's target is a hidden directory beside the link, never a path.
            Some(v) if v.is_empty() || v.contains('/') || !v.starts_with("..") => {
                return Err(Error::failed(
                    format!(
                        "`{}` points at `{v}`, not a version directory beside it",
                        self.path.join(KUBELET_DATA).display()
                    ),
                    Some("only the kubelet should write this directory".into()),
                ))
            }
            Some(v) => super::dir::open_dir_at(&self.fd, v)
                .map_err(|e| Error::io("opening", self.path.join(v), e.into()))?,
            None => {
                rustix::io::dup(&self.fd).map_err(|e| Error::io("opening", &self.path, e.into()))?
            }
        };
        let mut files = BTreeMap::new();
        for (name, needed) in required
            .iter()
            .map(|n| (n, true))
            .chain(optional.iter().map(|n| (n, false)))
        {
            match read_at(&dir, name, MAX_MOUNTED_FILE) {
                Ok(r) => {
                    files.insert(name.to_string(), Secret::new(r.data));
                }
                Err(ReadError::Missing) if !needed => {}
                Err(e) => {
                    return Err(Error::failed(
                        format!("`{}` {e}", self.path.join(name).display()),
                        Some(format!(
                            "mount the volume that holds {name} at {}",
                            self.path.display()
                        )),
                    ))
                }
            }
        }
        Ok(Snapshot { version, files })
    }
}
