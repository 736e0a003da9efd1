//! The one writer of files that may hold secrets. Three ways, each with the file's final mode
//! from the moment it exists (set on the descriptor before the first byte, so the umask can
//! neither widen nor narrow it):
//! - `create_new_at`: a new name in a directory descriptor (the bundle's generations);
//! - `write_file`: a whole file at a user-given path, created new or atomically replaced;
//! - `Sink`: a streaming output (`backup`, `unseal`) that appears under its final name only
//!   once complete and flushed: an unnamed `O_TMPFILE` linked in on success, so a failed or
//!   killed run leaves nothing behind (a named temporary where the filesystem lacks
//!   `O_TMPFILE`, removed on failure).

use crate::core::password::random_token;
use crate::error::{Error, Result};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Creates `name` in `dir` with exactly `mode` (never following or replacing anything there)
/// and writes `data`. Not synced: the caller decides when.
pub fn create_new_at(
    dir: impl AsFd,
    name: &str,
    mode: u32,
    data: &[u8],
    shown: &Path,
) -> Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| Error::io("creating", shown, e.into()))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
        .map_err(|e| Error::io("setting the mode of", shown, e.into()))?;
    let mut f = File::from(fd);
    f.write_all(data)
        .map_err(|e| Error::io("writing", shown, e))?;
    Ok(f)
}

/// An output path's parent, opened by descriptor with its ancestors checked, and its name.
fn open_parent(path: &Path) -> Result<(OwnedFd, String, PathBuf)> {
    let abs = super::dir::absolute(path)?;
    let (parent, name) = super::dir::walk_parent(&abs)?;
    Ok((parent, name, abs))
}

fn exists_error(path: &Path, hint: &str) -> Error {
    Error::input(
        format!("`{}` already exists", path.display()),
        hint.to_string(),
    )
}

/// Writes a whole file at `path` with `mode`, flushed: created new (an existing file is an
/// error naming `--force`), or with `replace` written beside it and renamed over it.
pub fn write_file(path: &Path, mode: u32, data: &[u8], replace: bool) -> Result<()> {
    let mut sink = Sink::file(path, mode)?;
    sink.write_all(data)
        .map_err(|e| Error::io("writing", path, e))?;
    sink.persist(if replace {
        Persist::Replace
    } else {
        Persist::New("pass --force to replace it, or choose another output path")
    })
}

/// How `Sink::persist` puts the file under its name.
pub enum Persist {
    /// Only if nothing is there; the hint says what to do otherwise.
    New(&'static str),
    /// Atomically replacing whatever file is there.
    Replace,
}

/// A file being written that gets its name only when complete.
pub struct Sink {
    file: File,
    parent: OwnedFd,
    name: String,
    /// The named temporary (fallback without O_TMPFILE), removed unless persisted.
    tmp: Option<String>,
    pub path: PathBuf,
}

impl Sink {
    /// Starts a new file for `path` with `mode`. Nothing appears at `path` until `persist`.
    pub fn file(path: &Path, mode: u32) -> Result<Sink> {
        let (parent, name, abs) = open_parent(path)?;
        let m = Mode::from_raw_mode(mode);
        let (fd, tmp) = match rustix::fs::openat(
            &parent,
            ".",
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            m,
        ) {
            Ok(fd) => (fd, None),
            Err(
                rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::ISDIR | rustix::io::Errno::INVAL,
            ) => {
                let tmp = format!(".{name}.tmp-{}", random_token(8));
                let fd = rustix::fs::openat(
                    &parent,
                    tmp.as_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    m,
                )
                .map_err(|e| Error::io("creating", &abs, e.into()))?;
                (fd, Some(tmp))
            }
            Err(e) => return Err(Error::io("creating", &abs, e.into())),
        };
        rustix::fs::fchmod(&fd, m).map_err(|e| Error::io("setting the mode of", &abs, e.into()))?;
        Ok(Sink {
            file: File::from(fd),
            parent,
            name,
            tmp,
            path: abs,
        })
    }

    /// Flushes the file and gives it its name; then flushes the directory entry.
    pub fn persist(mut self, how: Persist) -> Result<()> {
        let path = self.path.clone();
        self.file
            .flush()
            .map_err(|e| Error::io("writing", &path, e))?;
        self.file
            .sync_all()
            .map_err(|e| Error::io("syncing", &path, e))?;
        // The name the complete file has now: the named temporary, or an unnamed file linked
        // in under a temporary name when it must replace something.
        let linked = match (&self.tmp, &how) {
            (Some(t), _) => t.clone(),
            (None, Persist::New(hint)) => {
                let proc = format!("/proc/self/fd/{}", self.file.as_raw_fd());
                return match rustix::fs::linkat(
                    rustix::fs::CWD,
                    proc.as_str(),
                    &self.parent,
                    self.name.as_str(),
                    AtFlags::SYMLINK_FOLLOW,
                ) {
                    Ok(()) => self.sync_parent(),
                    Err(rustix::io::Errno::EXIST) => Err(exists_error(&path, hint)),
                    Err(e) => Err(Error::io("creating", &path, e.into())),
                };
            }
            (None, Persist::Replace) => {
                let t = format!(".{}.tmp-{}", self.name, random_token(8));
                let proc = format!("/proc/self/fd/{}", self.file.as_raw_fd());
                rustix::fs::linkat(
                    rustix::fs::CWD,
                    proc.as_str(),
                    &self.parent,
                    t.as_str(),
                    AtFlags::SYMLINK_FOLLOW,
                )
                .map_err(|e| Error::io("creating", &path, e.into()))?;
                self.tmp = Some(t.clone());
                t
            }
        };
        let flags = match how {
            Persist::New(_) => RenameFlags::NOREPLACE,
            Persist::Replace => RenameFlags::empty(),
        };
        match rustix::fs::renameat_with(
            &self.parent,
            linked.as_str(),
            &self.parent,
            self.name.as_str(),
            flags,
        ) {
            Ok(()) => {
                self.tmp = None;
                self.sync_parent()
            }
            Err(rustix::io::Errno::EXIST) => Err(exists_error(
                &path,
                match how {
                    Persist::New(h) => h,
                    Persist::Replace => "",
                },
            )),
            Err(e) => Err(Error::io("replacing", &path, e.into())),
        }
    }

    fn sync_parent(&self) -> Result<()> {
        rustix::fs::fsync(&self.parent)
            .map_err(|e| Error::io("syncing the directory of", &self.path, e.into()))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Sink {
    /// Not persisted: the unnamed file vanishes with its descriptor; a named temporary is
    /// removed.
    fn drop(&mut self) {
        if let Some(t) = self.tmp.take() {
            let _ = rustix::fs::unlinkat(&self.parent, t.as_str(), AtFlags::empty());
        }
    }
}
