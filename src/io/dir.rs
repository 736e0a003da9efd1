//! Opening a directory by descriptor, one component at a time, so that nothing another user
//! controls can redirect provision between a check and a write.
//!
//! Every directory on the way (and every symbolic link followed) must be owned by root or by
//! the current user, and a directory writable by others is allowed only when it is sticky and
//! owned by root (as `/tmp`): in such a directory nobody else can rename or remove what we
//! created. The descriptor returned is the one that was checked; callers then work with
//! `*at` calls relative to it and never look the path up again.

use crate::error::{Error, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// Links followed at most on the way to a directory (Linux's own limit).
const MAX_LINKS: usize = 40;

pub fn me() -> u32 {
    rustix::process::getuid().as_raw()
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens `name` in `parent` as a directory without following a link.
pub fn open_dir_at(parent: &OwnedFd, name: &str) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty())
}

fn unsafe_ancestor(shown: &Path, what: String) -> Error {
    Error::input(
        format!(
            "refusing `{}`: {what}, so another user could replace the bundle's files",
            shown.display()
        ),
        "put the bundle under a directory owned by you or root that others cannot write (a root-owned sticky directory such as /tmp is fine)",
    )
}

/// Checks one directory on the way: owner root or me; not writable by others unless it is
/// a root-owned sticky directory.
fn check_ancestor(fd: &OwnedFd, shown: &Path) -> Result<()> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::io("reading", shown, e.into()))?;
    let me = me();
    if st.st_uid != 0 && st.st_uid != me {
        return Err(unsafe_ancestor(
            shown,
            format!(
                "it is owned by uid {}, neither root nor you (uid {me})",
                st.st_uid
            ),
        ));
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o002 != 0 && !(mode & 0o1000 != 0 && st.st_uid == 0) {
        return Err(unsafe_ancestor(
            shown,
            format!("it is writable by every user (mode {mode:04o}) and not a root-owned sticky directory"),
        ));
    }
    Ok(())
}

/// Walks to the directory `abs` (absolute, normalised) component by component and returns a
/// descriptor of it, every ancestor checked. `abs` itself is checked like an ancestor; the
/// caller checks it further as the bundle directory.
pub fn walk(abs: &Path) -> Result<OwnedFd> {
    let root = rustix::fs::open("/", DIR_FLAGS, Mode::empty())
        .map_err(|e| Error::io("opening", "/", e.into()))?;
    check_ancestor(&root, Path::new("/"))?;
    // The stack of directories walked so far (for `..` in link targets), and what is left.
    let mut stack: Vec<(OwnedFd, PathBuf)> = vec![(root, PathBuf::from("/"))];
    let mut todo: VecDeque<String> = components(abs);
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let (cur, cur_path) = stack.last().expect("root stays");
        let shown = cur_path.join(&c);
        let st = rustix::fs::statat(cur, c.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(|e| {
            if e == rustix::io::Errno::NOENT {
                Error::input(
                    format!("`{}` does not exist", shown.display()),
                    format!("create it first (mkdir -p {})", shown.display()),
                )
            } else {
                Error::io("reading", &shown, e.into())
            }
        })?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                let me = me();
                if st.st_uid != 0 && st.st_uid != me {
                    return Err(unsafe_ancestor(
                        &shown,
                        format!(
                            "it is a symbolic link owned by uid {}, neither root nor you (uid {me})",
                            st.st_uid
                        ),
                    ));
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::input_only(format!(
                        "`{}`: too many symbolic links",
                        abs.display()
                    )));
                }
                let target = rustix::fs::readlinkat(cur, c.as_str(), Vec::new())
                    .map_err(|e| Error::io("reading link", &shown, e.into()))?;
                let target = PathBuf::from(target.to_string_lossy().into_owned());
                if target.is_absolute() {
                    stack.truncate(1);
                }
                for (i, t) in components(&target).into_iter().enumerate() {
                    todo.insert(i, t);
                }
            }
            FileType::Directory => {
                let fd =
                    open_dir_at(cur, &c).map_err(|e| Error::io("opening", &shown, e.into()))?;
                check_ancestor(&fd, &shown)?;
                stack.push((fd, shown));
            }
            _ => {
                return Err(Error::input(
                    format!(
                        "`{}` is not a directory, so the path below it does not exist",
                        shown.display()
                    ),
                    "choose another --dir",
                ))
            }
        }
    }
    Ok(stack.pop().expect("root stays").0)
}

fn components(p: &Path) -> VecDeque<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// `dir` as an absolute path with `.` and `..` resolved lexically (it may not exist yet).
pub fn absolute(dir: &Path) -> Result<PathBuf> {
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("reading the current directory", ".", e))?
            .join(dir)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The parent of `abs` opened by `walk`, and the last component's name.
pub fn walk_parent(abs: &Path) -> Result<(OwnedFd, String)> {
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::input_only(format!("`{}` names no directory", abs.display())))?;
    let parent = abs.parent().unwrap_or(Path::new("/"));
    Ok((walk(parent)?, name))
}
