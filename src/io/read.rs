//! Bounded reads through a directory descriptor: a name that should be a file must be a
//! regular file (not a link, FIFO or device) of at most a given size, checked on the
//! descriptor that is read, so `ca.crt -> /dev/zero` or a FIFO cannot exhaust memory or hang.

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

/// The largest file of a bundle provision reads (a 1000-node cluster's manifest is ~2 MiB).
pub const MAX_FILE: u64 = 16 << 20;

/// Why a name could not be read as a bundle file.
#[derive(Debug)]
pub enum ReadError {
    Missing,
    /// Not a regular file: what it is instead ("a symbolic link", "a FIFO", ...).
    NotRegular(&'static str),
    /// Its size and the limit it exceeds.
    TooLarge {
        size: u64,
        cap: u64,
    },
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => write!(f, "missing"),
            ReadError::NotRegular(k) => write!(f, "is {k}, not a regular file"),
            ReadError::TooLarge { size, cap } => {
                write!(f, "is {size} bytes, more than the {cap}-byte limit")
            }
            ReadError::Io(e) => write!(f, "unreadable: {e}"),
        }
    }
}

pub fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of unknown type",
    }
}

/// What a file read by `read_at` was: its bytes and mode bits.
pub struct Read1 {
    pub data: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
}

/// Reads `name` in `dir` (no link followed), at most `cap` bytes.
pub fn read_at(dir: impl AsFd, name: &str, cap: u64) -> Result<Read1, ReadError> {
    let dir = dir.as_fd();
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::Io(e.into())),
    };
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(ReadError::NotRegular(kind_name(t)));
    }
    // O_NONBLOCK: should a FIFO be swapped in after the stat, opening it does not wait.
    let fd: OwnedFd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| ReadError::Io(e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| ReadError::Io(e.into()))?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(ReadError::NotRegular(kind_name(t)));
    }
    let len = st.st_size as u64;
    if len > cap {
        return Err(ReadError::TooLarge { size: len, cap });
    }
    let mut data = Vec::with_capacity(len as usize);
    let mut f = std::fs::File::from(fd);
    // take(cap + 1): a file that grows while it is read is caught too.
    (&mut f)
        .take(cap + 1)
        .read_to_end(&mut data)
        .map_err(ReadError::Io)?;
    if data.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            size: data.len() as u64,
            cap,
        });
    }
    Ok(Read1 {
        data,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
    })
}

/// Reads a file given by path (an archive, a key file, a template), bounded the same way:
/// a regular file of at most `cap` bytes (a link to one is followed: the path is the user's).
pub fn read_path(path: &std::path::Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ReadError::Missing
            } else {
                ReadError::Io(e)
            }
        })?;
    let st = rustix::fs::fstat(&f).map_err(|e| ReadError::Io(e.into()))?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(ReadError::NotRegular(kind_name(t)));
    }
    if st.st_size as u64 > cap {
        return Err(ReadError::TooLarge {
            size: st.st_size as u64,
            cap,
        });
    }
    let mut data = Vec::with_capacity(st.st_size as usize);
    f.take(cap + 1)
        .read_to_end(&mut data)
        .map_err(ReadError::Io)?;
    if data.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            size: data.len() as u64,
            cap,
        });
    }
    Ok(data)
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}
impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags((OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY).bits() as i32)
    }
}
