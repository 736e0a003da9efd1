//! age plumbing shared by `backup`, `restore`, `seal`, `unseal` and `check`: recipients, identities,
//! passphrases (file or terminal, never argv), outputs created 0600 with create-new semantics.

use crate::error::{Error, Result};
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::SecretString;
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

/// The bundle file holding the remembered backup recipients (public keys; 0600 like every non-certificate file).
pub const RECIPIENTS_FILE: &str = "backup-recipients";

/// Parses recipients in `age -R` format: one per line, blank lines and `#` comments ignored.
pub fn parse_recipients(text: &str, origin: &str) -> Result<Vec<age::x25519::Recipient>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_recipient(l, origin))
        .collect()
}

pub fn parse_recipient(s: &str, origin: &str) -> Result<age::x25519::Recipient> {
    age::x25519::Recipient::from_str(s.trim()).map_err(|e| {
        Error::input(
            format!("{origin}: `{s}` is not an age recipient: {e}"),
            "use an X25519 public key as printed by `age-keygen` (age1...)",
        )
    })
}

/// The recipient lines as stored in `backup-recipients`.
pub fn recipients_text(rs: &[age::x25519::Recipient]) -> String {
    let mut s = String::from(
        "# age recipients for `provision backup` and `provision seal` (public keys only)\n",
    );
    for r in rs {
        s.push_str(&r.to_string());
        s.push('\n');
    }
    s
}

/// The passphrase from the first line of `file`, or typed at the terminal.
pub fn passphrase(file: Option<&Path>, confirm: bool) -> Result<SecretString> {
    let text = match file {
        Some(p) => {
            let raw = Zeroizing::new(
                std::fs::read(p).map_err(|e| Error::io("reading the passphrase file", p, e))?,
            );
            let s = std::str::from_utf8(&raw).map_err(|_| {
                Error::input_only(format!(
                    "the passphrase file `{}` is not UTF-8",
                    p.display()
                ))
            })?;
            Zeroizing::new(s.lines().next().unwrap_or("").to_string())
        }
        None => {
            let a = Zeroizing::new(rpassword::prompt_password("Passphrase: ").map_err(|e| {
                Error::input(
                    format!("cannot read a passphrase from the terminal: {e}"),
                    "run it on a terminal, or use --passphrase-file FILE",
                )
            })?);
            if confirm {
                let b = Zeroizing::new(
                    rpassword::prompt_password("Passphrase (again): ")
                        .map_err(|e| Error::io("reading", "/dev/tty", e))?,
                );
                if a != b {
                    return Err(Error::input_only("the passphrases do not match"));
                }
            }
            a
        }
    };
    if text.is_empty() {
        return Err(Error::input_only("the passphrase is empty"));
    }
    Ok(SecretString::from(text.to_string()))
}

/// Identities from age identity files (`age-keygen` output).
pub fn identities(files: &[PathBuf]) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let mut out = Vec::new();
    for p in files {
        let f = File::open(p).map_err(|e| Error::io("opening the identity file", p, e))?;
        let ids = age::IdentityFile::from_buffer(io::BufReader::new(f))
            .map_err(|e| {
                Error::input(
                    format!("`{}` is not an age identity file: {e}", p.display()),
                    "pass a key file made by `age-keygen` (AGE-SECRET-KEY-1...)",
                )
            })?
            .into_identities()
            .map_err(|e| Error::input_only(format!("`{}`: {e}", p.display())))?;
        out.extend(ids);
    }
    Ok(out)
}

/// Where encrypted or decrypted output goes: stdout, or a new 0600 file that appears under
/// its name only once complete (`io::write::Sink`), so a failed or killed run leaves no
/// partial file.
pub enum Sink {
    File(crate::io::write::Sink),
    Stdout(io::Stdout),
}

impl Sink {
    /// `-` is stdout, refused when stdout is a terminal; anything else a new 0600 file.
    pub fn open(output: &str) -> Result<Sink> {
        if output == "-" {
            let out = io::stdout();
            if out.is_terminal() {
                return Err(Error::input(
                    "refusing to write binary output to a terminal",
                    "redirect stdout, or pass -o FILE",
                ));
            }
            return Ok(Sink::Stdout(out));
        }
        let path = PathBuf::from(output);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(Error::input(
                format!("`{}` already exists", path.display()),
                NO_OVERWRITE,
            ));
        }
        Ok(Sink::File(crate::io::write::Sink::file(&path, 0o600)?))
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Sink::File(s) => Some(&s.path),
            Sink::Stdout(_) => None,
        }
    }

    /// Runs `write` on the sink; the file gets its name only if everything succeeded.
    pub fn write_with(
        self,
        write: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<Option<PathBuf>> {
        match self {
            Sink::Stdout(s) => {
                let mut w = io::BufWriter::new(s.lock());
                write(&mut w)?;
                w.flush().map_err(|e| Error::io("writing", "stdout", e))?;
                Ok(None)
            }
            Sink::File(sink) => {
                let path = sink.path.clone();
                let mut w = io::BufWriter::new(sink);
                write(&mut w)?;
                let sink = w
                    .into_inner()
                    .map_err(|e| Error::io("writing", &path, e.into_error()))?;
                sink.persist(crate::io::write::Persist::New(NO_OVERWRITE))?;
                Ok(Some(path))
            }
        }
    }
}

const NO_OVERWRITE: &str = "choose another -o FILE; provision never overwrites an output file";

/// Encrypts everything from `src` to `dst`, streaming (age's 64 KiB chunks; constant memory).
pub fn encrypt_stream(
    enc: age::Encryptor,
    armor: bool,
    src: &mut dyn Read,
    dst: &mut dyn Write,
    what: &Path,
) -> Result<u64> {
    let io_err = |e| Error::io("encrypting", what, e);
    let a = ArmoredWriter::wrap_output(
        dst,
        if armor {
            Format::AsciiArmor
        } else {
            Format::Binary
        },
    )
    .map_err(io_err)?;
    let mut w = enc.wrap_output(a).map_err(io_err)?;
    let n = io::copy(src, &mut w).map_err(io_err)?;
    w.finish().and_then(|a| a.finish()).map_err(io_err)?;
    Ok(n)
}

pub fn encryptor_to(recipients: &[age::x25519::Recipient]) -> Result<age::Encryptor> {
    age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| Error::input_only(format!("cannot encrypt to these recipients: {e}")))
}

/// How to decrypt: identity files, or a passphrase.
pub enum Key {
    Identities(Vec<Box<dyn age::Identity + Send + Sync>>),
    Passphrase(SecretString),
}

/// Opens an age file (binary or armored) and returns the plaintext reader. Errors name the
/// file and say what is wrong (wrong key, not an age file, passphrase vs recipients).
pub fn decrypt_reader(path: &Path, key: &Key) -> Result<impl Read> {
    let f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let d = age::Decryptor::new(ArmoredReader::new(BufReader::new(f)))
        .map_err(|e| decrypt_error(path, e))?;
    let r = match key {
        Key::Passphrase(p) => {
            if !d.is_scrypt() {
                return Err(Error::input(
                    format!(
                        "`{}` is encrypted to public-key recipients, not a passphrase",
                        path.display()
                    ),
                    "pass --identity KEYFILE",
                ));
            }
            let id = crate::core::cakey::scrypt_identity(p);
            d.decrypt(std::iter::once(&id as &dyn age::Identity))
        }
        Key::Identities(ids) => {
            if d.is_scrypt() {
                return Err(Error::input(
                    format!("`{}` is encrypted with a passphrase", path.display()),
                    "pass --passphrase-file FILE or --passphrase",
                ));
            }
            d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        }
    };
    r.map_err(|e| decrypt_error(path, e))
}

fn decrypt_error(path: &Path, e: age::DecryptError) -> Error {
    use age::DecryptError as D;
    let (msg, hint) = match &e {
        D::NoMatchingKeys => (
            "no identity given can decrypt it (wrong key?)".to_string(),
            "pass the identity file whose public key the backup was made for",
        ),
        D::DecryptionFailed | D::KeyDecryptionFailed => (
            "decryption failed: wrong passphrase, or the file was altered".to_string(),
            "check the passphrase; a tampered file cannot be decrypted",
        ),
        D::InvalidHeader | D::UnknownFormat => (
            format!("not a valid age file ({e})"),
            "pass a file written by `provision backup`, `provision seal` or `age`",
        ),
        D::InvalidMac => (
            "the header's MAC does not match: the file was altered".to_string(),
            "use an intact copy of the backup",
        ),
        _ => (
            e.to_string(),
            "pass a file written by `provision backup`, `provision seal` or `age`",
        ),
    };
    Error::input(format!("cannot decrypt `{}`: {msg}", path.display()), hint)
}

/// A read error in the middle of the payload: the STREAM authentication caught a change.
pub fn payload_error(path: &Path, e: io::Error) -> Error {
    Error::input(
        format!(
            "cannot decrypt `{}`: the payload is truncated or was altered ({e})",
            path.display()
        ),
        "use an intact copy; nothing was written",
    )
}

impl Key {
    /// The same key, as the core's `Unlock` for opening ca.key.age.
    pub fn unlock(&self) -> crate::core::cakey::Unlock<'_> {
        match self {
            Key::Identities(ids) => crate::core::cakey::Unlock::Identities(ids),
            Key::Passphrase(p) => crate::core::cakey::Unlock::Passphrase(p),
        }
    }
    pub fn passphrase(&self) -> Option<&SecretString> {
        match self {
            Key::Passphrase(p) => Some(p),
            Key::Identities(_) => None,
        }
    }
}
