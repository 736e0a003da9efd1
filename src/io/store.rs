//! The bundle directory on disk, and the only code that writes into it.
//!
//! Layout (the Kubernetes AtomicWriter scheme):
//! ```text
//! DIR/                      0700
//!   ..gen-<id>/             0700, one complete generation: every file of the bundle
//!   ..data -> ..gen-<id>    the current generation; replacing this link is the commit
//!   ..previous -> ..gen-<id> the generation before, for `provision rollback`
//!   ca.crt -> ..data/ca.crt one permanent link per bundle file; paths in redis.conf use these
//!   audit.log               0600, append-only JSON lines (history spans generations)
//!   .lock                   0600, flock'ed by every command that changes the bundle
//! ```
//! The directory is opened once, by descriptor (`io::dir::walk`, every ancestor checked), and
//! everything after that is an `*at` call relative to that descriptor: a path swapped after
//! the check cannot redirect a write.
//!
//! A new generation is written to a fresh directory (each file created with its final mode);
//! its files, its directory, the links and the audit line are flushed (in parallel, only what
//! this change wrote: never the whole filesystem), then `..data` is replaced by `rename(2)`
//! and the bundle directory is flushed once more. Before that rename the old bundle is
//! untouched; after it the new one is complete. Readers never see a mix. The audit line is
//! durable before the rename: a power cut can leave a line for a change that did not take,
//! never a change without its line.

use super::dir::{self, open_dir_at};
use super::read::{read_at, ReadError, MAX_FILE};
use super::write::create_new_at;
use crate::core::bundle::{Files, OutFile};
use crate::core::password::random_token;
use crate::core::secret::Secret;
use crate::error::{Error, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const DATA: &str = "..data";
pub const PREVIOUS: &str = "..previous";
const DATA_TMP: &str = "..data_tmp";
const PREVIOUS_TMP: &str = "..previous_tmp";
const GEN_PREFIX: &str = "..gen-";
pub const LOCK: &str = ".lock";
pub const AUDIT: &str = "audit.log";

pub struct Store {
    pub dir: PathBuf,
    /// Set when an existing directory had group/other permissions and was tightened to 0700.
    pub tightened_from: Option<u32>,
    /// Flush each change to the disk (the default). Off only for `init --ephemeral`: a
    /// throwaway CI bundle gains nothing from surviving a power cut, and a change is still
    /// all or nothing for every reader and across a crash of the process.
    pub durable: bool,
    /// The bundle directory, once it exists.
    fd: Option<OwnedFd>,
    /// Its parent and its name, while it does not exist yet (`prepare`).
    parent: Option<(OwnedFd, String)>,
}

fn errno_io(action: &'static str, path: impl Into<PathBuf>, e: rustix::io::Errno) -> Error {
    Error::io(action, path, e.into())
}

/// Replaces (or creates) the symlink `at` in `dir` so that it points to `target`, atomically.
fn replace_link(dir: &OwnedFd, shown: &Path, at: &str, tmp: &str, target: &str) -> Result<()> {
    let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
    rustix::fs::symlinkat(target, dir, tmp)
        .map_err(|e| errno_io("creating link", shown.join(tmp), e))?;
    rustix::fs::renameat(dir, tmp, dir, at).map_err(|e| {
        let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
        errno_io("replacing", shown.join(at), e)
    })
}

fn link_target_at(dir: &OwnedFd, name: &str) -> Option<String> {
    rustix::fs::readlinkat(dir, name, Vec::new())
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

/// The entries of a directory (no `.`/`..`), with their types.
fn entries(dir: &OwnedFd) -> rustix::io::Result<Vec<(String, FileType)>> {
    let mut out = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_string_lossy();
        if n == "." || n == ".." {
            continue;
        }
        out.push((n.into_owned(), e.file_type()));
    }
    Ok(out)
}

/// Removes the generation directory `name` (which holds only files) under `dir`.
fn remove_generation(dir: &OwnedFd, name: &str) -> bool {
    if let Ok(g) = open_dir_at(dir, name) {
        for (n, _) in entries(&g).unwrap_or_default() {
            let _ = rustix::fs::unlinkat(&g, n.as_str(), AtFlags::empty());
        }
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR).is_ok()
}

/// Flushes every descriptor, several at once: the disk gets all the writes queued together
/// instead of one round trip per file, and nothing outside this change is waited for.
fn sync_all(fds: &[&File]) -> std::io::Result<()> {
    const THREADS: usize = 4;
    if fds.len() <= 1 {
        return fds.iter().try_for_each(|f| f.sync_all());
    }
    let chunk = fds.len().div_ceil(THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = fds
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().try_for_each(|f| f.sync_data())))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("sync thread panicked")))
        })
    })
}

/// A generation id: UTC time to the nanosecond plus a random suffix; sorts by time.
pub fn new_generation_id(now: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:9]Z"
    );
    format!(
        "{}-{}",
        now.to_offset(time::UtcOffset::UTC)
            .format(&fmt)
            .unwrap_or_default(),
        random_token(4)
    )
}

/// Checks the bundle directory itself, on its descriptor: owned by me, not world-writable.
fn check_dir_fd(dir: &Path, fd: &OwnedFd) -> Result<u32> {
    let st = rustix::fs::fstat(fd).map_err(|e| errno_io("reading", dir, e))?;
    let me = dir::me();
    if st.st_uid != me {
        return Err(Error::input(
            format!(
                "`{}` is owned by uid {}, not by the current user (uid {me})",
                dir.display(),
                st.st_uid
            ),
            "run provision as the directory's owner, or use a directory you own",
        ));
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o002 != 0 {
        return Err(Error::input(
            format!(
                "`{}` is world-writable (mode {mode:04o}); anyone could replace the bundle's files",
                dir.display(),
            ),
            format!(
                "use a private directory, or run `chmod 700 {}` first",
                dir.display()
            ),
        ));
    }
    Ok(mode)
}

/// Opens `name` in `parent` as the bundle directory: a directory, not a link.
fn open_bundle_dir(parent: &OwnedFd, name: &str, abs: &Path) -> Result<Option<OwnedFd>> {
    match open_dir_at(parent, name) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(rustix::io::Errno::LOOP) => Err(Error::input(
            format!(
                "`{}` is a symbolic link; provision does not write through links",
                abs.display()
            ),
            "pass the real directory path as --dir",
        )),
        Err(rustix::io::Errno::NOTDIR) => {
            let link = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
            Err(if link {
                Error::input(
                    format!(
                        "`{}` is a symbolic link; provision does not write through links",
                        abs.display()
                    ),
                    "pass the real directory path as --dir",
                )
            } else {
                Error::input(
                    format!("`{}` exists and is not a directory", abs.display()),
                    "choose another --dir",
                )
            })
        }
        Err(e) => Err(errno_io("opening", abs, e)),
    }
}

fn no_bundle(dir: &Path) -> Error {
    Error::input(
        format!(
            "no bundle at `{}`: the directory does not exist",
            dir.display()
        ),
        "create one with `provision init --dir DIR`",
    )
}

impl Store {
    /// A store on the opened bundle directory `fd` at `dir`.
    fn opened(dir: PathBuf, fd: OwnedFd) -> Store {
        Store {
            dir,
            tightened_from: None,
            durable: true,
            fd: Some(fd),
            parent: None,
        }
    }

    /// Opens an existing bundle directory for reading or changing.
    pub fn open(dir: &Path) -> Result<Store> {
        let abs = dir::absolute(dir)?;
        let (parent, name) = dir::walk_parent(&abs).map_err(|e| match e {
            Error::Input { ref msg, .. } if msg.ends_with("does not exist") => no_bundle(&abs),
            e => e,
        })?;
        let fd = open_bundle_dir(&parent, &name, &abs)?.ok_or_else(|| no_bundle(&abs))?;
        check_dir_fd(&abs, &fd)?;
        Ok(Store::opened(abs, fd))
    }

    /// Opens a bundle for reading only: the directory must not be a symlink, but it and its
    /// ancestors may belong to another user (a monitoring job may check a bundle it does not
    /// own; what it reads is verified against the signed manifest).
    pub fn open_readonly(dir: &Path) -> Result<Store> {
        let abs = dir::absolute(dir)?;
        let not_dir = || Error::input_only(format!("`{}` is not a directory", abs.display()));
        let parent = abs.parent().unwrap_or(Path::new("/"));
        let pfd = rustix::fs::open(
            parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| errno_io("reading", &abs, e))?;
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(not_dir)?;
        let fd = open_dir_at(&pfd, &name).map_err(|e| match e {
            rustix::io::Errno::NOENT => errno_io("reading", &abs, e),
            _ => not_dir(),
        })?;
        Ok(Store::opened(abs, fd))
    }

    /// Checks (or prepares to create) the directory for a new bundle. Writes nothing. The
    /// parent must exist, and every ancestor must be safe (`io::dir`).
    pub fn prepare(dir: &Path) -> Result<Store> {
        let abs = dir::absolute(dir)?;
        let (parent, name) = dir::walk_parent(&abs).map_err(|e| match e {
            Error::Input { ref msg, .. } if msg.ends_with("does not exist") => {
                let p = abs.parent().unwrap_or(Path::new("/"));
                Error::input(
                    format!(
                        "cannot create `{}`: its parent `{}` does not exist",
                        abs.display(),
                        p.display()
                    ),
                    format!("create the parent first (mkdir -p {})", p.display()),
                )
            }
            e => e,
        })?;
        match open_bundle_dir(&parent, &name, &abs)? {
            Some(fd) => {
                let mode = check_dir_fd(&abs, &fd)?;
                Ok(Store {
                    dir: abs,
                    tightened_from: (mode & 0o077 != 0).then_some(mode),
                    durable: true,
                    fd: Some(fd),
                    parent: None,
                })
            }
            None => Ok(Store {
                dir: abs,
                tightened_from: None,
                durable: true,
                fd: None,
                parent: Some((parent, name)),
            }),
        }
    }

    /// Creates the directory with mode 0700 if it does not exist yet, or tightens it to 0700.
    /// A directory that appeared since `prepare` (someone else's, in a shared parent) is
    /// opened and checked like any existing one, never written into blindly.
    pub fn ensure_dir(&mut self) -> Result<()> {
        if let Some(fd) = &self.fd {
            if self.tightened_from.is_some() {
                rustix::fs::fchmod(fd, Mode::from_raw_mode(0o700))
                    .map_err(|e| errno_io("setting the mode of", &self.dir, e))?;
            }
            return Ok(());
        }
        let (parent, name) = self.parent.take().expect("prepare left the parent");
        let created = match rustix::fs::mkdirat(&parent, name.as_str(), Mode::from_raw_mode(0o700))
        {
            Ok(()) => true,
            Err(rustix::io::Errno::EXIST) => false,
            Err(e) => return Err(errno_io("creating directory", &self.dir, e)),
        };
        let fd = open_bundle_dir(&parent, &name, &self.dir)?.ok_or_else(|| {
            Error::failed(
                format!("`{}` vanished while being created", self.dir.display()),
                None,
            )
        })?;
        let mode = check_dir_fd(&self.dir, &fd)?;
        if created || mode & 0o077 != 0 {
            // mkdir's mode passes through the umask; the directory is ours, so set it exactly.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
                .map_err(|e| errno_io("setting the mode of", &self.dir, e))?;
        }
        if created && self.durable {
            let _ = rustix::fs::fsync(&parent);
        }
        self.fd = Some(fd);
        Ok(())
    }

    fn fd(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }

    /// The names in the directory, from one read of it. Empty if the directory does not
    /// exist yet.
    fn entry_names(&self) -> HashSet<String> {
        self.fd()
            .and_then(|fd| entries(fd).ok())
            .map(|v| v.into_iter().map(|(n, _)| n).collect())
            .unwrap_or_default()
    }

    /// True if the directory holds a bundle (or any file a bundle would use).
    pub fn has_bundle(&self, names: &[&str]) -> bool {
        let present = self.entry_names();
        present.contains(DATA) || names.iter().any(|n| present.contains(*n))
    }

    /// Files already in the directory that would be replaced but are not provision's links
    /// (a directory there is an error: it would make the commit fail half-way).
    pub fn check_targets(&self, names: &[&str]) -> Result<()> {
        let Some(fd) = self.fd() else { return Ok(()) };
        let present = self.entry_names();
        for n in names.iter().filter(|n| present.contains(**n)) {
            if file_type(fd, n) == Some(FileType::Directory) {
                return Err(self.refuse(
                    n,
                    "is a directory, where the bundle needs a file",
                    "move it out of the bundle directory",
                ));
            }
        }
        Ok(())
    }

    /// An input error about the entry `name` of the bundle directory.
    fn refuse(&self, name: &str, what: &str, hint: &str) -> Error {
        Error::input(format!("`{}` {what}", self.dir.join(name).display()), hint)
    }

    /// The lock file and the audit log must be regular files (or absent): a planted symlink
    /// would make provision write elsewhere. Checked before anything is written.
    pub fn check_own_files(&self) -> Result<()> {
        let Some(fd) = self.fd() else { return Ok(()) };
        for n in [LOCK, AUDIT] {
            if file_type(fd, n).is_some_and(|t| t != FileType::RegularFile) {
                return Err(self.refuse(
                    n,
                    "is not a regular file (a symlink or directory planted there?)",
                    "remove it; provision creates it itself",
                ));
            }
        }
        Ok(())
    }

    fn open_own(&self, name: &str, extra: OFlags) -> Result<File> {
        let fd = self.fd().ok_or_else(|| no_bundle(&self.dir))?;
        let shown = self.dir.join(name);
        rustix::fs::openat(
            fd,
            name,
            OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | extra,
            Mode::from_raw_mode(0o600),
        )
        .map(File::from)
        .map_err(|e| errno_io("opening", shown, e))
    }

    /// Takes the bundle lock, waiting at most `wait`.
    pub fn lock(&self, wait: Duration) -> Result<Lock> {
        self.check_own_files()?;
        let path = self.dir.join(LOCK);
        let f = self.open_own(LOCK, OFlags::RDWR)?;
        let start = Instant::now();
        loop {
            match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock { _file: f }),
                Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {
                    if start.elapsed() >= wait {
                        return Err(Error::Locked {
                            dir: self.dir.clone(),
                            waited_secs: wait.as_secs(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => return Err(errno_io("locking", &path, e)),
            }
        }
    }

    /// Where the link `name` in the bundle directory points.
    pub fn link_target(&self, name: &str) -> Option<String> {
        self.fd().and_then(|fd| link_target_at(fd, name))
    }

    /// The directory name of the current generation, if any.
    pub fn current_generation(&self) -> Option<String> {
        self.link_target(DATA)
            .filter(|t| t.starts_with(GEN_PREFIX) && !t.contains('/'))
    }

    pub fn previous_generation(&self) -> Option<String> {
        self.link_target(PREVIOUS)
            .filter(|t| t.starts_with(GEN_PREFIX) && !t.contains('/'))
    }

    /// Reads every file of a generation (the current one when `generation` is None); any
    /// name that is not a regular file of bounded size is an error naming it.
    pub fn read_generation(&self, generation: Option<&str>) -> Result<Files> {
        let (files, problems) = self.read_generation_checked(generation)?;
        if let Some((name, e)) = problems.first() {
            return Err(Error::failed(
                format!("`{}` {e}", self.dir.join(name).display()),
                Some("inspect the bundle with `provision check`".into()),
            ));
        }
        Ok(files)
    }

    /// `read_generation` that reads what it can and returns each unreadable name with the
    /// reason (for `check`, which reports them all).
    pub fn read_generation_checked(
        &self,
        generation: Option<&str>,
    ) -> Result<(Files, Vec<(String, ReadError)>)> {
        let gen = match generation {
            Some(g) => g.to_string(),
            None => self.current_generation().ok_or_else(|| {
                Error::input(
                    format!("no bundle at `{}` (no `{DATA}` link)", self.dir.display()),
                    "create one with `provision init --dir DIR`",
                )
            })?,
        };
        let fd = self.fd().ok_or_else(|| no_bundle(&self.dir))?;
        let gdir = self.dir.join(&gen);
        let g = open_dir_at(fd, &gen).map_err(|e| errno_io("reading", &gdir, e))?;
        let mut names: Vec<String> = entries(&g)
            .map_err(|e| errno_io("reading", &gdir, e))?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.sort();
        let mut files = Files::default();
        let mut problems = Vec::new();
        for n in names {
            match read_at(&g, &n, MAX_FILE) {
                Ok(r) => files.0.push(OutFile {
                    name: n,
                    mode: r.mode,
                    data: Secret::new(r.data),
                }),
                Err(e) => problems.push((n, e)),
            }
        }
        Ok((files, problems))
    }

    /// The visible names that are not provision's link into `..data` for a file of `files`:
    /// what Redis reads goes through them. (name, what is there instead).
    pub fn visible_link_problems(&self, files: &Files) -> Vec<(String, String)> {
        let Some(fd) = self.fd() else { return vec![] };
        let mut out = Vec::new();
        for f in &files.0 {
            let want = format!("{DATA}/{}", f.name);
            match rustix::fs::statat(fd, f.name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Err(_) => out.push((f.name.clone(), "missing: the link into the bundle's current generation is gone".into())),
                Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                    FileType::Symlink => {
                        let t = link_target_at(fd, &f.name).unwrap_or_default();
                        if t != want {
                            out.push((f.name.clone(), format!("points at `{t}`, not at the bundle's current generation (`{want}`); replaced by hand?")));
                        }
                    }
                    t => out.push((f.name.clone(), format!("{} where provision's link into the current generation belongs (edited or replaced by hand?)", super::read::kind_name(t)))),
                },
            }
        }
        out
    }

    /// Writes `files` as a new generation `gen_id`, makes it current, and appends `audit` to
    /// the audit log: all or nothing. Returns the generation's directory name.
    pub fn commit(&self, files: &Files, gen_id: &str, audit: &serde_json::Value) -> Result<String> {
        let fd = self.fd().ok_or_else(|| no_bundle(&self.dir))?;
        let gen = format!("{GEN_PREFIX}{gen_id}");
        let gdir = self.dir.join(&gen);
        rustix::fs::mkdirat(fd, gen.as_str(), Mode::from_raw_mode(0o700))
            .map_err(|e| errno_io("creating generation directory", &gdir, e))?;
        // The permanent links first: they point through `..data`, so they are harmless before
        // the rename.
        let mut made = Vec::new();
        let written = self
            .ensure_links(files, &mut made)
            .and_then(|_| self.write_generation(&gen, &gdir, files))
            .and_then(|(g, written)| {
                let audit_file = self.append_audit(audit)?;
                self.flush_before_commit(&g, &written, &audit_file, &gdir)
            });
        if let Err(e) = written {
            remove_generation(fd, &gen);
            // The links made where nothing was would dangle (on a first init they would also
            // make the directory look like a bundle): the directory goes back to how it was.
            for n in &made {
                let _ = rustix::fs::unlinkat(fd, n.as_str(), AtFlags::empty());
            }
            return Err(e);
        }
        let old = self.current_generation();
        // The commit point.
        if let Err(e) = replace_link(fd, &self.dir, DATA, DATA_TMP, &gen) {
            remove_generation(fd, &gen);
            return Err(e);
        }
        if let Some(old) = old.filter(|o| *o != gen) {
            let _ = replace_link(fd, &self.dir, PREVIOUS, PREVIOUS_TMP, &old);
        }
        self.prune_links(files);
        self.cleanup();
        self.flush_dir()?;
        Ok(gen)
    }

    /// Creates the generation directory's files, each with its final mode.
    fn write_generation(
        &self,
        gen: &str,
        gdir: &Path,
        files: &Files,
    ) -> Result<(OwnedFd, Vec<File>)> {
        let fd = self.fd().expect("commit checked");
        let g = open_dir_at(fd, gen).map_err(|e| errno_io("opening", gdir, e))?;
        rustix::fs::fchmod(&g, Mode::from_raw_mode(0o700))
            .map_err(|e| errno_io("setting the mode of", gdir, e))?;
        let mut written = Vec::with_capacity(files.0.len());
        for f in &files.0 {
            written.push(create_new_at(
                &g,
                &f.name,
                f.mode,
                f.data.expose(),
                &gdir.join(&f.name),
            )?);
        }
        Ok((g, written))
    }

    /// The first of a change's two flushes: the new files and the audit line (all at once),
    /// then the generation directory and the bundle directory (its new links).
    fn flush_before_commit(
        &self,
        g: &OwnedFd,
        written: &[File],
        audit: &File,
        gdir: &Path,
    ) -> Result<()> {
        if !self.durable {
            return Ok(());
        }
        let mut all: Vec<&File> = written.iter().collect();
        all.push(audit);
        sync_all(&all).map_err(|e| Error::io("syncing", gdir, e))?;
        rustix::fs::fsync(g).map_err(|e| errno_io("syncing", gdir, e))?;
        self.flush_dir()
    }

    /// Makes the bundle directory's entries (links, renames, removals) durable.
    fn flush_dir(&self) -> Result<()> {
        if !self.durable {
            return Ok(());
        }
        let fd = self.fd().ok_or_else(|| no_bundle(&self.dir))?;
        rustix::fs::fsync(fd).map_err(|e| errno_io("syncing", &self.dir, e))
    }

    /// Makes the previous generation current again (and the current one previous), and
    /// appends `audit` (built from the generation rolled back to) to the audit log.
    pub fn rollback(
        &self,
        audit: impl FnOnce(&str, &Files) -> serde_json::Value,
    ) -> Result<(String, Files)> {
        let fd = self.fd().ok_or_else(|| no_bundle(&self.dir))?;
        let cur = self
            .current_generation()
            .ok_or_else(|| Error::input_only(format!("no bundle at `{}`", self.dir.display())))?;
        let prev = self.previous_generation().ok_or_else(|| {
            Error::input(
                format!(
                    "`{}` has no previous generation to roll back to",
                    self.dir.display()
                ),
                "a previous generation exists after `init --force`, `renew` or `rotate`",
            )
        })?;
        let files = self.read_generation(Some(&prev))?;
        self.ensure_links(&files, &mut Vec::new())?;
        let a = self.append_audit(&audit(&prev, &files))?;
        if self.durable {
            a.sync_data()
                .map_err(|e| Error::io("syncing", self.dir.join(AUDIT), e))?;
            self.flush_dir()?;
        }
        replace_link(fd, &self.dir, DATA, DATA_TMP, &prev)?;
        let _ = replace_link(fd, &self.dir, PREVIOUS, PREVIOUS_TMP, &cur);
        let _ = self.prune_links(&files);
        self.flush_dir()?;
        Ok((prev, files))
    }

    /// A permanent link `DIR/<name> -> ..data/<name>` for every file, replacing whatever is
    /// there atomically (never writing through it).
    /// The names it created where nothing was are pushed to `made`.
    fn ensure_links(&self, files: &Files, made: &mut Vec<String>) -> Result<()> {
        let fd = self.fd().ok_or_else(|| no_bundle(&self.dir))?;
        // One random suffix for the whole pass: file names are unique, so the temporary names
        // are too (and the bundle lock keeps other provision runs out).
        let suffix = random_token(6);
        let present = self.entry_names();
        for f in &files.0 {
            let want = format!("{DATA}/{}", f.name);
            if !present.contains(&f.name) {
                // Nothing there (a first init): create the link in place. symlinkat(2) never
                // follows or replaces what is at the name; if something appeared meanwhile
                // (EEXIST), fall through to the atomic replace.
                match rustix::fs::symlinkat(want.as_str(), fd, f.name.as_str()) {
                    Ok(()) => {
                        made.push(f.name.clone());
                        continue;
                    }
                    Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(errno_io("creating link", self.dir.join(&f.name), e)),
                }
            } else if link_target_at(fd, &f.name).as_deref() == Some(want.as_str()) {
                continue;
            }
            let tmp = format!(".{}.tmp-{suffix}", f.name);
            replace_link(fd, &self.dir, &f.name, &tmp, &want)?;
        }
        Ok(())
    }

    /// Removes visible links into ..data whose file is not in the current generation.
    /// True if it removed any.
    fn prune_links(&self, files: &Files) -> bool {
        let Some(fd) = self.fd() else { return false };
        let keep: HashSet<&str> = files.names().collect();
        let prefix = format!("{DATA}/");
        let mut removed = false;
        // Only symlinks can be links into ..data, and a name the generation has is kept
        // whatever it points to: no readlink(2) for those (thousands in a large bundle).
        for (name, t) in entries(fd).unwrap_or_default() {
            if t != FileType::Symlink || keep.contains(name.as_str()) {
                continue;
            }
            if let Some(rest) = link_target_at(fd, &name)
                .as_deref()
                .and_then(|t| t.strip_prefix(&prefix))
            {
                if !keep.contains(rest) {
                    removed |= rustix::fs::unlinkat(fd, name.as_str(), AtFlags::empty()).is_ok();
                }
            }
        }
        removed
    }

    /// Removes what a killed run may have left: generation directories that neither `..data`
    /// nor `..previous` points to, and temporary links. True if it removed anything.
    pub fn cleanup(&self) -> bool {
        let Some(fd) = self.fd() else { return false };
        let keep = [self.current_generation(), self.previous_generation()];
        let mut removed = false;
        for (name, t) in entries(fd).unwrap_or_default() {
            let is_tmp_link = name == DATA_TMP
                || name == PREVIOUS_TMP
                || (name.starts_with('.') && name.contains(".tmp-"));
            if name.starts_with(GEN_PREFIX) && !keep.iter().flatten().any(|k| *k == name) {
                if t == FileType::Directory {
                    removed |= remove_generation(fd, &name);
                }
            } else if is_tmp_link && t == FileType::Symlink {
                removed |= rustix::fs::unlinkat(fd, name.as_str(), AtFlags::empty()).is_ok();
            }
        }
        removed
    }

    /// Appends one JSON line to `audit.log` (created 0600). Not synced here: the caller flushes
    /// it with the change it records, before the commit point.
    fn append_audit(&self, entry: &serde_json::Value) -> Result<File> {
        let path = self.dir.join(AUDIT);
        let mut f = self.open_own(AUDIT, OFlags::WRONLY | OFlags::APPEND)?;
        let mut line = serde_json::to_vec(entry).expect("audit entry serializes");
        line.push(b'\n');
        f.write_all(&line)
            .map_err(|e| Error::io("writing", &path, e))?;
        Ok(f)
    }
}

/// Held while a command changes the bundle; released on drop (and by the kernel on a crash).
pub struct Lock {
    _file: File,
}

/// The type of the entry `name` in `dir`, not following a symlink; `None` when absent.
fn file_type(dir: &OwnedFd, name: &str) -> Option<FileType> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .map(|s| FileType::from_raw_mode(s.st_mode))
}
