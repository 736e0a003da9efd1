//! The plaintext inside a backup: a ustar archive of one generation, built and read in memory.
//!
//! Layout (documented in the README): a directory entry `provision-bundle/` (0700), then one
//! regular-file entry `provision-bundle/NAME` per bundle file, with the file's mode, in the
//! generation's order. Nothing else: no symlinks, no other directories, no owner names.
//!
//! Reading is strict, because the archive comes from outside: only that directory entry and
//! regular files directly under it with a plain file name are accepted; `..`, absolute paths,
//! links, devices, duplicates, special mode bits and oversized entries are refused with a
//! message naming the entry. Nothing is ever extracted to disk here.

use super::bundle::{Files, OutFile};
use super::secret::Secret;
use std::collections::BTreeSet;
use std::io::Read;
use zeroize::Zeroizing;

/// The one top-level directory of a backup archive.
pub const TOP: &str = "provision-bundle";
/// Largest accepted file inside a backup (a bundle's biggest file is a few KiB).
pub const MAX_ENTRY: u64 = 1 << 20;
/// Largest accepted decrypted archive, and most entries.
pub const MAX_ARCHIVE: u64 = 16 << 20;
pub const MAX_ENTRIES: usize = 1000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    #[error("the archive is not a valid tar archive: {0}")]
    Corrupt(String),
    #[error("the archive entry `{entry}` is refused: {why}")]
    Refused { entry: String, why: String },
    #[error("the archive holds more than {MAX_ENTRIES} entries")]
    TooMany,
    #[error("the archive holds no files")]
    Empty,
}

/// True for a plain bundle file name: letters, digits, `.`, `_`, `-`; not starting with `.`.
pub fn plain_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && !n.starts_with('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Packs `files` into a ustar archive. The returned buffer is zeroized on drop.
pub fn pack(files: &Files, mtime: u64) -> std::io::Result<Zeroizing<Vec<u8>>> {
    // Sized up front so the buffer never reallocates (a reallocation would leave an
    // unzeroized copy of key material in freed memory).
    let cap = 1024
        + 512
        + files
            .0
            .iter()
            .map(|f| 512 + f.data.expose().len().div_ceil(512) * 512)
            .sum::<usize>();
    let mut buf = Zeroizing::new(Vec::with_capacity(cap));
    let mut b = tar::Builder::new(&mut *buf);
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o700);
    h.set_size(0);
    h.set_mtime(mtime);
    b.append_data(&mut h, format!("{TOP}/"), std::io::empty())?;
    for f in &files.0 {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(f.mode);
        h.set_size(f.data.expose().len() as u64);
        h.set_mtime(mtime);
        b.append_data(&mut h, format!("{TOP}/{}", f.name), f.data.expose())?;
    }
    b.finish()?;
    drop(b);
    Ok(buf)
}

fn refused(entry: &str, why: impl Into<String>) -> ArchiveError {
    ArchiveError::Refused {
        entry: entry.to_string(),
        why: why.into(),
    }
}

/// Reads a ustar/GNU/pax archive made by `pack` (or by `tar -C PARENT -cf - provision-bundle`)
/// into memory, refusing anything but plain regular files under the top-level directory.
pub fn unpack(data: &[u8]) -> Result<Files, ArchiveError> {
    let mut ar = tar::Archive::new(data);
    let entries = ar
        .entries()
        .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    let mut files = Files::default();
    let mut seen = BTreeSet::new();
    for (i, entry) in entries.enumerate() {
        if i >= MAX_ENTRIES {
            return Err(ArchiveError::TooMany);
        }
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8_lossy(&raw).into_owned();
        if raw.contains(&0) || std::str::from_utf8(&raw).is_err() {
            return Err(refused(&path, "the name is not plain UTF-8"));
        }
        if path.starts_with('/') {
            return Err(refused(&path, "absolute path (path traversal)"));
        }
        if path.split('/').any(|c| c == "..") {
            return Err(refused(&path, "`..` in the path (path traversal)"));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            if path.trim_end_matches('/') == TOP {
                continue;
            }
            return Err(refused(
                &path,
                format!("a directory other than `{TOP}/` (a backup holds no subdirectories)"),
            ));
        }
        let what = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => None,
            tar::EntryType::Symlink => Some("a symbolic link"),
            tar::EntryType::Link => Some("a hard link"),
            tar::EntryType::Char | tar::EntryType::Block => Some("a device node"),
            tar::EntryType::Fifo => Some("a FIFO"),
            _ => Some("not a regular file"),
        };
        if let Some(w) = what {
            return Err(refused(
                &path,
                format!("{w}; a backup holds only regular files"),
            ));
        }
        let name = match path.strip_prefix(&format!("{TOP}/")) {
            Some(n) if plain_name(n) => n.to_string(),
            _ => {
                return Err(refused(
                    &path,
                    format!("not a plain file name directly under `{TOP}/`"),
                ))
            }
        };
        if !seen.insert(name.clone()) {
            return Err(refused(&path, "duplicate entry"));
        }
        let mode = entry
            .header()
            .mode()
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?
            & 0o7777;
        if mode != 0o600 && mode != 0o644 {
            return Err(refused(
                &path,
                format!("mode {mode:04o}; bundle files are 0600 or 0644"),
            ));
        }
        let size = entry.size();
        if size > MAX_ENTRY {
            return Err(refused(
                &path,
                format!("{size} bytes, more than the {MAX_ENTRY}-byte limit"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(MAX_ENTRY + 1)
            .read_to_end(&mut buf)
            .map_err(|e| {
                // Drop what was read so far without leaving it in freed memory.
                ArchiveError::Corrupt(format!("reading `{path}`: {e}"))
            })?;
        let data = Secret::new(buf);
        if data.expose().len() as u64 != size {
            return Err(ArchiveError::Corrupt(format!("`{path}` is truncated")));
        }
        files.0.push(OutFile { name, mode, data });
    }
    if files.0.is_empty() {
        return Err(ArchiveError::Empty);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Files {
        let mut f = Files::default();
        f.put(OutFile::public("ca.crt", b"CERT".to_vec()));
        f.put(OutFile::secret("ca.key", Secret::new(b"KEY".to_vec())));
        f
    }

    fn raw_tar(entries: &[(&str, tar::EntryType, u32, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, t, m, d) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*t);
            h.set_mode(*m);
            h.set_size(d.len() as u64);
            // Bypass the builder's path sanitising: write the name bytes directly.
            let name = &mut h.as_old_mut().name;
            name[..p.len()].copy_from_slice(p.as_bytes());
            if *t == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            b.append(&h, *d).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn round_trip_keeps_names_modes_bytes() {
        let f = sample();
        let t = pack(&f, 0).unwrap();
        let back = unpack(&t).unwrap();
        assert_eq!(back.0.len(), 2);
        for (a, b) in f.0.iter().zip(&back.0) {
            assert_eq!((a.name.as_str(), a.mode), (b.name.as_str(), b.mode));
            assert_eq!(a.data.expose(), b.data.expose());
        }
    }

    #[test]
    fn refuses_traversal_links_and_oddities() {
        use tar::EntryType::*;
        // One entry per case: (name in the archive, entry type, mode, what the error names).
        let single = [
            ("provision-bundle/../x", Regular, 0o600, ".."),
            ("../x", Regular, 0o600, ".."),
            ("/etc/x", Regular, 0o600, "absolute"),
            ("provision-bundle/ca.key", Symlink, 0o600, "symbolic link"),
            ("provision-bundle/ca.key", Link, 0o600, "hard link"),
            ("provision-bundle/d", Char, 0o600, "device"),
            ("provision-bundle/sub/", Directory, 0o700, "directory"),
            ("elsewhere/ca.key", Regular, 0o600, "plain file name"),
            ("provision-bundle/.lock", Regular, 0o600, "plain file name"),
            ("provision-bundle/a", Regular, 0o4755, "mode"),
            ("provision-bundle/a", Regular, 0o666, "mode"),
        ];
        let mut cases: Vec<(Vec<u8>, &str)> = single
            .iter()
            .map(|&(name, kind, mode, want)| (raw_tar(&[(name, kind, mode, b"x")]), want))
            .collect();
        let twice = [("provision-bundle/a", Regular, 0o600, &b"x"[..]); 2];
        cases.push((raw_tar(&twice), "duplicate"));
        for (t, want) in cases {
            let e = unpack(&t).unwrap_err().to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        }
        let big = vec![b'a'; MAX_ENTRY as usize + 1];
        let e = unpack(&raw_tar(&[("provision-bundle/a", Regular, 0o600, &big)])).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert_eq!(unpack(&raw_tar(&[])).unwrap_err(), ArchiveError::Empty);
    }

    #[test]
    fn truncated_archive_is_an_error() {
        let t = pack(&sample(), 0).unwrap();
        assert!(unpack(&t[..700]).is_err());
    }
}
