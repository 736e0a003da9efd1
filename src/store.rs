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
//! A new generation is written to a fresh directory (each file created with its final mode)
//! and flushed, then `..data` is replaced by `rename(2)`, and one more flush makes the rename
//! and its audit line durable. Before that rename the old bundle is untouched; after it the
//! new one is complete. Readers never see a mix.

use crate::core::bundle::{Files, OutFile};
use crate::core::password::random_token;
use crate::core::secret::Secret;
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
}

/// Creates `path` with exactly `mode`, writes `data`, fsyncs. Refuses to follow or replace
/// anything already at `path` (O_CREAT|O_EXCL). The mode is set on the open descriptor before
/// the first byte is written, so the umask cannot widen or narrow it and there is no window
/// in which the content is readable with another mode.
pub fn write_new(path: &Path, mode: u32, data: &[u8]) -> Result<()> {
    let f = create_with_mode(path, mode, data)?;
    f.sync_all().map_err(|e| Error::io("syncing", path, e))
}

/// `write_new` without the fsync: for a generation, whose files are all flushed by one
/// `syncfs` before the commit point.
fn create_with_mode(path: &Path, mode: u32, data: &[u8]) -> Result<File> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::CLOEXEC.bits() as i32)
        .open(path)
        .map_err(|e| Error::io("creating", path, e))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("setting the mode of", path, e))?;
    f.write_all(data)
        .map_err(|e| Error::io("writing", path, e))?;
    Ok(f)
}

/// Fills the new generation directory `gdir`, every file created with its final mode. Not
/// synced here: `Store::commit` flushes the whole generation at once.
fn write_generation(gdir: &Path, files: &Files) -> Result<()> {
    fs::set_permissions(gdir, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("setting the mode of", gdir, e))?;
    for f in &files.0 {
        create_with_mode(&gdir.join(&f.name), f.mode, f.data.expose())?;
    }
    Ok(())
}

/// Replaces (or creates) the symlink `at` so that it points to `target`, atomically.
fn replace_link(dir: &Path, at: &str, tmp: &str, target: &str) -> Result<()> {
    let tmp_path = dir.join(tmp);
    let _ = fs::remove_file(&tmp_path);
    std::os::unix::fs::symlink(target, &tmp_path)
        .map_err(|e| Error::io("creating link", &tmp_path, e))?;
    fs::rename(&tmp_path, dir.join(at)).map_err(|e| {
        let _ = fs::remove_file(&tmp_path);
        Error::io("replacing", dir.join(at), e)
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

fn check_dir_meta(dir: &Path, meta: &fs::Metadata) -> Result<()> {
    if meta.file_type().is_symlink() {
        return Err(Error::input(
            format!(
                "`{}` is a symbolic link; provision does not write through links",
                dir.display()
            ),
            "pass the real directory path as --dir",
        ));
    }
    if !meta.is_dir() {
        return Err(Error::input(
            format!("`{}` exists and is not a directory", dir.display()),
            "choose another --dir",
        ));
    }
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        return Err(Error::input(
            format!(
                "`{}` is owned by uid {}, not by the current user (uid {me})",
                dir.display(),
                meta.uid()
            ),
            "run provision as the directory's owner, or use a directory you own",
        ));
    }
    if meta.mode() & 0o002 != 0 {
        return Err(Error::input(
            format!(
                "`{}` is world-writable (mode {:04o}); anyone could replace the bundle's files",
                dir.display(),
                meta.mode() & 0o7777
            ),
            format!(
                "use a private directory, or run `chmod 700 {}` first",
                dir.display()
            ),
        ));
    }
    Ok(())
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("reading the current directory", ".", e))?
            .join(dir)
    };
    // Normalise `.` and `..` components lexically: the directory may not exist yet.
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

impl Store {
    /// Opens an existing bundle directory for reading or changing.
    pub fn open(dir: &Path) -> Result<Store> {
        let dir = absolute(dir)?;
        let meta = fs::symlink_metadata(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::input(
                    format!(
                        "no bundle at `{}`: the directory does not exist",
                        dir.display()
                    ),
                    "create one with `provision init --dir DIR`",
                )
            } else {
                Error::io("reading", &dir, e)
            }
        })?;
        check_dir_meta(&dir, &meta)?;
        Ok(Store {
            dir,
            tightened_from: None,
            durable: true,
        })
    }

    /// Opens a bundle for reading only: the directory must not be a symlink, but may belong to
    /// another user (a monitoring job may check a bundle it does not own).
    pub fn open_readonly(dir: &Path) -> Result<Store> {
        let dir = absolute(dir)?;
        let meta = fs::symlink_metadata(&dir).map_err(|e| Error::io("reading", &dir, e))?;
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Err(Error::input_only(format!(
                "`{}` is not a directory",
                dir.display()
            )));
        }
        Ok(Store {
            dir,
            tightened_from: None,
            durable: true,
        })
    }

    /// Checks (or creates, 0700) the directory for a new bundle. Writes nothing else.
    /// The parent must exist.
    pub fn prepare(dir: &Path) -> Result<Store> {
        let dir = absolute(dir)?;
        match fs::symlink_metadata(&dir) {
            Ok(meta) => {
                check_dir_meta(&dir, &meta)?;
                let mode = meta.mode() & 0o7777;
                Ok(Store {
                    dir,
                    tightened_from: (mode & 0o077 != 0).then_some(mode),
                    durable: true,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
                let parent = dir.parent().unwrap_or(Path::new("/"));
                if !parent.is_dir() {
                    return Err(Error::input(
                        format!(
                            "cannot create `{}`: its parent `{}` does not exist",
                            dir.display(),
                            parent.display()
                        ),
                        format!("create the parent first (mkdir -p {})", parent.display()),
                    ));
                }
                Ok(Store {
                    dir,
                    tightened_from: None,
                    durable: true,
                })
            }
            Err(e) => Err(Error::io("reading", &dir, e)),
        }
    }

    /// Creates the directory with mode 0700 if it does not exist, or tightens it to 0700.
    /// Not synced here: the new directory's entry in its parent reaches the disk with the
    /// `syncfs` of `commit` (same filesystem), before the commit point; until then the
    /// directory holds nothing worth keeping.
    pub fn ensure_dir(&self) -> Result<()> {
        match DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io("setting the mode of", &self.dir, e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if self.tightened_from.is_some() {
                    fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                        .map_err(|e| Error::io("setting the mode of", &self.dir, e))?;
                }
                Ok(())
            }
            Err(e) => Err(Error::io("creating directory", &self.dir, e)),
        }
    }

    /// The names in the directory, from one read of it rather than one lookup per name (a
    /// bundle of 1000 users has 3000 names). Empty if the directory does not exist; None if
    /// it cannot be read, and then callers look each name up.
    fn entry_names(&self) -> Option<HashSet<String>> {
        match fs::read_dir(&self.dir) {
            Ok(rd) => Some(
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(HashSet::new()),
            Err(_) => None,
        }
    }

    /// True if the directory holds a bundle (or any file a bundle would use).
    pub fn has_bundle(&self, names: &[&str]) -> bool {
        if let Some(present) = self.entry_names() {
            return present.contains(DATA) || names.iter().any(|n| present.contains(*n));
        }
        fs::symlink_metadata(self.dir.join(DATA)).is_ok()
            || names
                .iter()
                .any(|n| fs::symlink_metadata(self.dir.join(n)).is_ok())
    }

    /// Files already in the directory that would be replaced but are not provision's links
    /// (a directory there is an error: it would make the commit fail half-way).
    pub fn check_targets(&self, names: &[&str]) -> Result<()> {
        let present = self.entry_names();
        for n in names {
            if present.as_ref().is_some_and(|p| !p.contains(*n)) {
                continue;
            }
            let p = self.dir.join(n);
            if let Ok(m) = fs::symlink_metadata(&p) {
                if m.is_dir() {
                    return Err(Error::input(
                        format!(
                            "`{}` is a directory, where the bundle needs a file",
                            p.display()
                        ),
                        "move it out of the bundle directory",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The lock file and the audit log must be regular files (or absent): a planted symlink
    /// would make provision write elsewhere. Checked before anything is written.
    pub fn check_own_files(&self) -> Result<()> {
        for n in [LOCK, AUDIT] {
            let p = self.dir.join(n);
            if let Ok(m) = fs::symlink_metadata(&p) {
                if !m.is_file() {
                    return Err(Error::input(
                        format!(
                            "`{}` is not a regular file (a symlink or directory planted there?)",
                            p.display()
                        ),
                        "remove it; provision creates it itself",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Takes the bundle lock, waiting at most `wait`.
    pub fn lock(&self, wait: Duration) -> Result<Lock> {
        self.check_own_files()?;
        let path = self.dir.join(LOCK);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32,
            )
            .open(&path)
            .map_err(|e| Error::io("opening the lock file", &path, e))?;
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
                Err(e) => return Err(Error::io("locking", &path, e.into())),
            }
        }
    }

    fn link_target(&self, name: &str) -> Option<String> {
        fs::read_link(self.dir.join(name))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
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

    /// Reads every file of a generation (the current one when `generation` is None).
    pub fn read_generation(&self, generation: Option<&str>) -> Result<Files> {
        let gen = match generation {
            Some(g) => g.to_string(),
            None => self.current_generation().ok_or_else(|| {
                Error::input(
                    format!("no bundle at `{}` (no `{DATA}` link)", self.dir.display()),
                    "create one with `provision init --dir DIR`",
                )
            })?,
        };
        let gdir = self.dir.join(&gen);
        let mut names: Vec<String> = fs::read_dir(&gdir)
            .map_err(|e| Error::io("reading", &gdir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut files = Files::default();
        for n in names {
            let p = gdir.join(&n);
            let meta = fs::symlink_metadata(&p).map_err(|e| Error::io("reading", &p, e))?;
            if !meta.is_file() {
                return Err(Error::failed(
                    format!("`{}` is not a regular file", p.display()),
                    None,
                ));
            }
            let mut buf = Vec::with_capacity(meta.len() as usize);
            File::open(&p)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .map_err(|e| Error::io("reading", &p, e))?;
            files.0.push(OutFile {
                name: n,
                mode: meta.mode() & 0o7777,
                data: Secret::new(buf),
            });
        }
        Ok(files)
    }

    /// Writes `files` as a new generation `gen_id`, makes it current, and appends `audit` to
    /// the audit log: all or nothing. Returns the generation's directory name.
    ///
    /// Two flushes to the disk, the fewest that keep the guarantee:
    /// 1. `syncfs` after the links and the generation's files are written and before the
    ///    commit rename, so the rename can never reach the disk ahead of what it points to;
    /// 2. after the rename, the tidying and the audit line, one more flush makes all of them
    ///    durable together before the command reports success.
    pub fn commit(&self, files: &Files, gen_id: &str, audit: &serde_json::Value) -> Result<String> {
        let gen = format!("{GEN_PREFIX}{gen_id}");
        let gdir = self.dir.join(&gen);
        DirBuilder::new()
            .mode(0o700)
            .create(&gdir)
            .map_err(|e| Error::io("creating generation directory", &gdir, e))?;
        // The permanent links first: they point through `..data`, so they are harmless before
        // the rename, and the generation's flush makes them durable too.
        let mut made = Vec::new();
        if let Err(e) = self
            .ensure_links(files, &mut made)
            .and_then(|_| write_generation(&gdir, files))
            .and_then(|_| self.flush())
        {
            let _ = fs::remove_dir_all(&gdir);
            // The links made where nothing was would dangle (on a first init they would also
            // make the directory look like a bundle): the directory goes back to how it was.
            for n in &made {
                let _ = fs::remove_file(self.dir.join(n));
            }
            return Err(e);
        }
        let old = self.current_generation();
        // The commit point.
        if let Err(e) = replace_link(&self.dir, DATA, DATA_TMP, &gen) {
            let _ = fs::remove_dir_all(&gdir);
            return Err(e);
        }
        if let Some(old) = old.filter(|o| *o != gen) {
            let _ = replace_link(&self.dir, PREVIOUS, PREVIOUS_TMP, &old);
        }
        self.prune_links(files);
        self.cleanup();
        self.append_audit(audit)?;
        self.flush()?;
        Ok(gen)
    }

    /// Makes the previous generation current again (and the current one previous), and
    /// appends `audit` (built from the generation rolled back to) to the audit log.
    pub fn rollback(
        &self,
        audit: impl FnOnce(&str, &Files) -> serde_json::Value,
    ) -> Result<(String, Files)> {
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
        replace_link(&self.dir, DATA, DATA_TMP, &prev)?;
        let _ = replace_link(&self.dir, PREVIOUS, PREVIOUS_TMP, &cur);
        let _ = self.prune_links(&files);
        self.append_audit(&audit(&prev, &files))?;
        self.flush()?;
        Ok((prev, files))
    }

    /// Makes everything written under the bundle directory durable: one `syncfs` (the
    /// generations, the links, the audit log and any removals are on one filesystem), instead
    /// of an fsync per file and directory.
    fn flush(&self) -> Result<()> {
        if !self.durable {
            return Ok(());
        }
        let d = File::open(&self.dir).map_err(|e| Error::io("opening", &self.dir, e))?;
        rustix::fs::syncfs(&d)
            .map_err(|e| Error::io("syncing the filesystem of", &self.dir, e.into()))
    }

    /// A permanent link `DIR/<name> -> ..data/<name>` for every file, replacing whatever is
    /// there atomically (never writing through it).
    /// The names it created where nothing was are pushed to `made`.
    fn ensure_links(&self, files: &Files, made: &mut Vec<String>) -> Result<()> {
        // One random suffix for the whole pass: file names are unique, so the temporary names
        // are too (and the bundle lock keeps other provision runs out).
        let suffix = random_token(6);
        let present = self.entry_names();
        for f in &files.0 {
            let want = format!("{DATA}/{}", f.name);
            if present.as_ref().is_some_and(|p| !p.contains(&f.name)) {
                // Nothing there (a first init): create the link in place. symlink(2) never
                // follows or replaces what is at the name; if something appeared meanwhile
                // (EEXIST), fall through to the atomic replace.
                match std::os::unix::fs::symlink(&want, self.dir.join(&f.name)) {
                    Ok(()) => {
                        made.push(f.name.clone());
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io("creating link", self.dir.join(&f.name), e)),
                }
            } else if self.link_target(&f.name).as_deref() == Some(want.as_str()) {
                continue;
            }
            let tmp = format!(".{}.tmp-{suffix}", f.name);
            replace_link(&self.dir, &f.name, &tmp, &want)?;
        }
        Ok(())
    }

    /// Removes visible links into ..data whose file is not in the current generation.
    /// True if it removed any.
    fn prune_links(&self, files: &Files) -> bool {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return false;
        };
        let keep: HashSet<&str> = files.names().collect();
        let prefix = format!("{DATA}/");
        let mut removed = false;
        // Only symlinks can be links into ..data, and a name the generation has is kept
        // whatever it points to: no readlink(2) for those (thousands in a large bundle).
        for e in rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if keep.contains(name.as_str()) {
                continue;
            }
            if let Some(t) = self.link_target(&name) {
                if let Some(rest) = t.strip_prefix(&prefix) {
                    if !keep.contains(rest) {
                        removed |= fs::remove_file(e.path()).is_ok();
                    }
                }
            }
        }
        removed
    }

    /// Removes what a killed run may have left: generation directories that neither `..data`
    /// nor `..previous` points to, and temporary links. True if it removed anything.
    pub fn cleanup(&self) -> bool {
        let keep = [self.current_generation(), self.previous_generation()];
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return false;
        };
        let mut removed = false;
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_tmp_link = name == DATA_TMP
                || name == PREVIOUS_TMP
                || (name.starts_with('.') && name.contains(".tmp-"));
            if name.starts_with(GEN_PREFIX) && !keep.iter().flatten().any(|k| *k == name) {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    removed |= fs::remove_dir_all(e.path()).is_ok();
                }
            } else if is_tmp_link && e.file_type().is_ok_and(|t| t.is_symlink()) {
                removed |= fs::remove_file(e.path()).is_ok();
            }
        }
        removed
    }

    /// Appends one JSON line to `audit.log` (created 0600). Not synced here: the caller's
    /// `flush` makes it durable together with the change it records.
    fn append_audit(&self, entry: &serde_json::Value) -> Result<()> {
        let path = self.dir.join(AUDIT);
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32,
            )
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        let mut line = serde_json::to_vec(entry).expect("audit entry serializes");
        line.push(b'\n');
        f.write_all(&line)
            .map_err(|e| Error::io("writing", &path, e))
    }
}

/// Held while a command changes the bundle; released on drop (and by the kernel on a crash).
pub struct Lock {
    _file: File,
}
