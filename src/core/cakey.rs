//! The CA private key at rest: plaintext `ca.key`, or — for a bundle made with
//! `init --protect-ca-key` — only `ca.key.age`, age-encrypted to recipients (public keys) or a
//! passphrase, so that stealing the bundle directory does not give the power to sign.
//!
//! Pure: encryption and decryption work on buffers in memory; reading identity files and
//! passphrases is the commands' job. A decrypted key only ever lives in a `Secret` (zeroized
//! on drop) and is checked against `ca.crt` before anything is signed with it.

use super::files::{self, Files, OutFile};
use super::inspect;
use super::secret::Secret;
use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::str::FromStr;

/// The encrypted CA key (mode 0600, binary age format).
pub const CA_KEY_AGE: &str = "ca.key.age";
/// The new CA's encrypted key during a CA rollover's overlap.
pub const CA_NEXT_KEY_AGE: &str = "ca-next.key.age";

/// Which CA key: the issuing CA's, or the new CA's while a rollover is in its overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Current,
    Next,
}

impl Slot {
    /// The file of a plaintext key in this slot.
    pub fn plain(self) -> &'static str {
        match self {
            Slot::Current => files::CA_KEY,
            Slot::Next => files::CA_NEXT_KEY,
        }
    }
    /// The file of a sealed key in this slot.
    pub fn sealed(self) -> &'static str {
        match self {
            Slot::Current => CA_KEY_AGE,
            Slot::Next => CA_NEXT_KEY_AGE,
        }
    }
}
/// The first line of a binary age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
/// Largest CA key accepted after decryption (an RSA-4096 PKCS#8 PEM is about 3.3 KiB).
const MAX_KEY: usize = 16 * 1024;

/// How the CA key is protected, recorded in the manifest's `spec.ca_key` (public facts only:
/// recipients are public keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Protection {
    /// age recipients (`age1...`); any one matching identity opens the key.
    Recipients { recipients: Vec<String> },
    /// An age passphrase (scrypt). The passphrase itself is never stored.
    Passphrase,
}

impl Protection {
    /// A short description for people: "age, 2 recipients" / "age, passphrase".
    pub fn describe(&self) -> String {
        match self {
            Protection::Recipients { recipients } => format!(
                "age, {} recipient{}",
                recipients.len(),
                if recipients.len() == 1 { "" } else { "s" }
            ),
            Protection::Passphrase => "age, passphrase".into(),
        }
    }

    pub fn method(&self) -> &'static str {
        match self {
            Protection::Recipients { .. } => "recipients",
            Protection::Passphrase => "passphrase",
        }
    }

    /// Every problem with the recorded recipients.
    pub fn validate(&self) -> Vec<String> {
        match self {
            Protection::Recipients { recipients } if recipients.is_empty() => {
                vec!["the CA key is to be protected, but no recipient was given".into()]
            }
            Protection::Recipients { recipients } => recipients
                .iter()
                .filter_map(|r| parse_recipient(r).err().map(String::from))
                .collect(),
            Protection::Passphrase => vec![],
        }
    }
}

/// Parses one recipient (`age1...`, X25519).
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, super::invalid::Invalid> {
    age::x25519::Recipient::from_str(s.trim()).map_err(|e| super::invalid::Invalid::Recipient {
        value: s.escape_debug().to_string(),
        reason: e.to_string(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CaKeyError {
    /// The key is protected and nothing to open it was given.
    #[error("the CA key is protected ({CA_KEY_AGE}) and no identity or passphrase was given")]
    Locked,
    #[error("{0} is missing from the bundle")]
    Missing(&'static str),
    #[error("{CA_KEY_AGE} is encrypted with a passphrase, not to recipients")]
    NeedsPassphrase,
    #[error("{CA_KEY_AGE} is encrypted to recipients, not with a passphrase")]
    NeedsIdentity,
    #[error("cannot decrypt {CA_KEY_AGE}: {0}")]
    Decrypt(String),
    #[error("{CA_KEY_AGE} decrypts to a key that does not match the CA in ca.crt")]
    Mismatch,
    #[error("encrypting the CA key: {0}")]
    Encrypt(String),
    #[error("the CA key is protected with a passphrase; sealing a new CA key needs it")]
    NoPassphrase,
}

/// How a CA key is written into a bundle.
pub enum Sealer {
    /// Plaintext `ca.key` (0600).
    Plain,
    /// `ca.key.age`, encrypted to these recipients.
    Recipients(Vec<age::x25519::Recipient>),
    /// `ca.key.age`, encrypted with this passphrase.
    Passphrase(SecretString),
}

impl Sealer {
    /// The sealer for a bundle whose spec records `protection`; a passphrase-protected bundle
    /// needs the passphrase (the one that opened the old key, on a CA rollover).
    pub fn for_protection(
        protection: Option<&Protection>,
        passphrase: Option<&SecretString>,
    ) -> Result<Sealer, CaKeyError> {
        Ok(match protection {
            None => Sealer::Plain,
            Some(Protection::Recipients { recipients }) => Sealer::Recipients(
                recipients
                    .iter()
                    .map(|r| parse_recipient(r))
                    .collect::<Result<_, _>>()
                    .map_err(|e| CaKeyError::Encrypt(e.to_string()))?,
            ),
            Some(Protection::Passphrase) => {
                Sealer::Passphrase(passphrase.cloned().ok_or(CaKeyError::NoPassphrase)?)
            }
        })
    }

    /// The bundle file holding `pem`: `ca.key`, or `ca.key.age`.
    pub fn seal(&self, pem: &Secret) -> Result<OutFile, CaKeyError> {
        self.seal_in(pem, Slot::Current)
    }

    /// The bundle file holding `pem` in `slot`.
    pub fn seal_in(&self, pem: &Secret, slot: Slot) -> Result<OutFile, CaKeyError> {
        let enc = match self {
            Sealer::Plain => return Ok(OutFile::secret(slot.plain(), pem.clone())),
            Sealer::Recipients(rs) => {
                age::Encryptor::with_recipients(rs.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(|e| CaKeyError::Encrypt(e.to_string()))?
            }
            Sealer::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        };
        let err = |e: std::io::Error| CaKeyError::Encrypt(e.to_string());
        let mut out = Vec::with_capacity(pem.expose().len() + 512);
        let mut w = enc.wrap_output(&mut out).map_err(err)?;
        w.write_all(pem.expose()).map_err(err)?;
        w.finish().map_err(err)?;
        Ok(OutFile::secret(slot.sealed(), Secret::new(out)))
    }
}

/// Stores `pem` as the bundle's CA key, sealed by `sealer`; the other form is removed, so a
/// bundle never holds both.
pub fn put(files: &mut Files, pem: &Secret, sealer: &Sealer) -> Result<(), CaKeyError> {
    put_in(files, pem, sealer, Slot::Current)
}

/// Stores `pem` as the key of `slot`, replacing either form of it.
pub fn put_in(
    files: &mut Files,
    pem: &Secret,
    sealer: &Sealer,
    slot: Slot,
) -> Result<(), CaKeyError> {
    let f = sealer.seal_in(pem, slot)?;
    remove(files, slot);
    // Keep the CA key right after ca.crt (and the current key), where a plaintext bundle has it.
    let after = |x: &OutFile| {
        x.name == files::CA_CRT
            || (slot == Slot::Next && (x.name == files::CA_KEY || x.name == CA_KEY_AGE))
    };
    let at = files
        .0
        .iter()
        .rposition(after)
        .map_or(files.0.len(), |i| i + 1);
    files.0.insert(at, f);
    Ok(())
}

/// Removes the key of `slot`, in either form.
pub fn remove(files: &mut Files, slot: Slot) {
    files
        .0
        .retain(|x| x.name != slot.plain() && x.name != slot.sealed());
}

/// What opens `ca.key.age`.
pub enum Unlock<'a> {
    Identities(&'a [Box<dyn age::Identity + Send + Sync>]),
    Passphrase(&'a SecretString),
}

/// The largest scrypt work factor (log2 N) a passphrase file may ask for: the reference age
/// implementation's limit (22: 4 GiB of memory, several seconds). age's own default limit is
/// measured at run time (4 above what takes a second now), so a machine busy at decrypt time
/// (a Redis saving, a CI build) refused a file it had written itself moments before.
pub const MAX_SCRYPT_WORK_FACTOR: u8 = 22;

/// What opens a passphrase-encrypted (scrypt) age file.
pub fn scrypt_identity(passphrase: &SecretString) -> age::scrypt::Identity {
    let mut id = age::scrypt::Identity::new(passphrase.clone());
    id.set_max_work_factor(MAX_SCRYPT_WORK_FACTOR);
    id
}

/// Decrypts an age file in memory (binary or armored) into a `Secret`.
pub fn open(sealed: &[u8], unlock: &Unlock<'_>) -> Result<Secret, CaKeyError> {
    let d = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(sealed))
        .map_err(|e| CaKeyError::Decrypt(e.to_string()))?;
    let reader = match unlock {
        Unlock::Passphrase(p) => {
            if !d.is_scrypt() {
                return Err(CaKeyError::NeedsIdentity);
            }
            let id = scrypt_identity(p);
            d.decrypt(std::iter::once(&id as &dyn age::Identity))
        }
        Unlock::Identities(ids) => {
            if d.is_scrypt() {
                return Err(CaKeyError::NeedsPassphrase);
            }
            d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        }
    };
    let mut reader = reader.map_err(|e| {
        CaKeyError::Decrypt(match e {
            age::DecryptError::NoMatchingKeys => {
                "no identity given can decrypt it (wrong key?)".into()
            }
            age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
                "wrong passphrase, or the file was altered".into()
            }
            e => e.to_string(),
        })
    })?;
    // Sized once so the buffer never reallocates (no unzeroized copy left in freed memory).
    let mut buf = Vec::with_capacity(MAX_KEY + 1);
    let read = (&mut reader).take(MAX_KEY as u64 + 1).read_to_end(&mut buf);
    let key = Secret::new(buf);
    read.map_err(|e| CaKeyError::Decrypt(format!("the file is truncated or was altered ({e})")))?;
    if key.expose().len() > MAX_KEY {
        return Err(CaKeyError::Decrypt("it does not hold a private key".into()));
    }
    Ok(key)
}

/// The bundle's current CA key, PEM: plaintext `ca.key`, or `ca.key.age` opened with `unlock`
/// (`None` fails with `Locked`). The key is checked against the issuing CA in `ca.crt`.
pub fn load(
    files: &Files,
    protection: Option<&Protection>,
    unlock: Option<&Unlock<'_>>,
) -> Result<Secret, CaKeyError> {
    load_in(files, protection, unlock, Slot::Current)
}

/// The key of `slot`, checked against its CA certificate in `ca.crt` when it was sealed
/// (for `Slot::Next`, any CA of `ca.crt` but the issuing one).
pub fn load_in(
    files: &Files,
    protection: Option<&Protection>,
    unlock: Option<&Unlock<'_>>,
    slot: Slot,
) -> Result<Secret, CaKeyError> {
    let pem = match protection {
        None => files
            .get(slot.plain())
            .ok_or(CaKeyError::Missing(slot.plain()))?
            .data
            .clone(),
        Some(_) => {
            let sealed = files
                .get(slot.sealed())
                .ok_or(CaKeyError::Missing(slot.sealed()))?;
            open(sealed.data.expose(), unlock.ok_or(CaKeyError::Locked)?)?
        }
    };
    if protection.is_some() && !matches_slot(files, &pem, slot)? {
        return Err(CaKeyError::Mismatch);
    }
    Ok(pem)
}

/// Whether `pem` is the private key of the issuing (first) CA in `ca.crt`.
pub fn matches_ca(files: &Files, pem: &Secret) -> Result<bool, CaKeyError> {
    matches_slot(files, pem, Slot::Current)
}

fn matches_slot(files: &Files, pem: &Secret, slot: Slot) -> Result<bool, CaKeyError> {
    let cas: Vec<inspect::CertInfo> = files
        .get(files::CA_CRT)
        .and_then(|f| inspect::pem_certificates(f.data.expose()).ok())
        .map(|d| d.iter().filter_map(|d| inspect::inspect(d).ok()).collect())
        .filter(|v: &Vec<_>| !v.is_empty())
        .ok_or(CaKeyError::Missing(files::CA_CRT))?;
    let Ok(spki) = inspect::key_spki(pem.expose_str()) else {
        return Ok(false);
    };
    Ok(match slot {
        Slot::Current => spki == cas[0].spki_der,
        Slot::Next => cas[1..].iter().any(|c| c.spki_der == spki),
    })
}

/// What an `age` header says about a sealed file without any key: `Ok(true)` for a
/// passphrase (scrypt) file, `Ok(false)` for recipients, `Err` if it is no valid age file.
pub fn sealed_with_passphrase(data: &[u8]) -> Result<bool, NotAge> {
    if !(data.starts_with(AGE_MAGIC) || data.starts_with(ARMOR_BEGIN)) {
        return Err(NotAge::NoHeader);
    }
    age::Decryptor::new_buffered(age::armor::ArmoredReader::new(data))
        .map(|d| d.is_scrypt())
        .map_err(|e| NotAge::Invalid(e.to_string()))
}

/// Why a sealed file is no age file; the message completes "`ca.key.age` ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAge {
    #[error("does not start with an age header (`age-encryption.org/v1`)")]
    NoHeader,
    #[error("is not a valid age file: {0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::bundle;
    use crate::core::spec::Spec;
    use age::secrecy::ExposeSecret;

    fn bundle_with(sealer: &Sealer, spec: &Spec) -> Files {
        bundle::generate(
            spec,
            &bundle::Gen::new("/b", "g", time::OffsetDateTime::now_utc()).sealed(sealer),
        )
        .unwrap()
    }

    #[test]
    fn recipients_round_trip_and_no_plaintext_key() {
        let id = age::x25519::Identity::generate();
        let r = id.to_public().to_string();
        let spec = Spec {
            ca_key: Some(Protection::Recipients {
                recipients: vec![r.clone()],
            }),
            ..Spec::default()
        };
        let sealer = Sealer::for_protection(spec.ca_key.as_ref(), None).unwrap();
        let f = bundle_with(&sealer, &spec);
        assert!(f.get(bundle::CA_KEY).is_none(), "no plaintext ca.key");
        let sealed = f.get(CA_KEY_AGE).unwrap();
        assert_eq!(sealed.mode, 0o600);
        assert!(sealed.data.expose().starts_with(AGE_MAGIC));
        assert_eq!(sealed_with_passphrase(sealed.data.expose()), Ok(false));
        let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(id)];
        let pem = load(&f, spec.ca_key.as_ref(), Some(&Unlock::Identities(&ids))).unwrap();
        assert!(pem.expose_str().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(matches_ca(&f, &pem).unwrap());
        // Without a key: Locked. With another key: a decryption error.
        assert!(matches!(
            load(&f, spec.ca_key.as_ref(), None),
            Err(CaKeyError::Locked)
        ));
        let other: Vec<Box<dyn age::Identity + Send + Sync>> =
            vec![Box::new(age::x25519::Identity::generate())];
        let e = load(&f, spec.ca_key.as_ref(), Some(&Unlock::Identities(&other))).unwrap_err();
        assert!(e.to_string().contains("no identity"), "{e}");
        // The manifest records the protection, and lists ca.key.age, not ca.key.
        let m: bundle::Manifest = serde_json::from_str(f.text("manifest.json").unwrap()).unwrap();
        assert_eq!(m.spec.ca_key, spec.ca_key);
        assert!(m.files.iter().any(|x| x.name == CA_KEY_AGE));
        assert!(!m.files.iter().any(|x| x.name == bundle::CA_KEY));
    }

    #[test]
    fn passphrase_needs_the_passphrase_and_refuses_identities() {
        let pass = SecretString::from("correct horse".to_string());
        assert!(matches!(
            Sealer::for_protection(Some(&Protection::Passphrase), None),
            Err(CaKeyError::NoPassphrase)
        ));
        let sealer = Sealer::for_protection(Some(&Protection::Passphrase), Some(&pass)).unwrap();
        let pem = Secret::from_string("-----BEGIN PRIVATE KEY-----\nx\n".into());
        let f = sealer.seal(&pem).unwrap();
        assert_eq!(sealed_with_passphrase(f.data.expose()), Ok(true));
        let back = open(f.data.expose(), &Unlock::Passphrase(&pass)).unwrap();
        assert_eq!(back, pem);
        let wrong = SecretString::from("wrong".to_string());
        assert!(open(f.data.expose(), &Unlock::Passphrase(&wrong)).is_err());
        let ids: Vec<Box<dyn age::Identity + Send + Sync>> =
            vec![Box::new(age::x25519::Identity::generate())];
        assert!(matches!(
            open(f.data.expose(), &Unlock::Identities(&ids)),
            Err(CaKeyError::NeedsPassphrase)
        ));
        assert!(!pass.expose_secret().is_empty());
    }

    #[test]
    fn header_check_refuses_non_age_data() {
        assert!(sealed_with_passphrase(b"-----BEGIN PRIVATE KEY-----").is_err());
        assert!(sealed_with_passphrase(b"age-encryption.org/v1\n-> garbage").is_err());
    }

    #[test]
    fn bad_recipients_are_reported() {
        let p = Protection::Recipients {
            recipients: vec!["age1nope".into()],
        };
        assert_eq!(p.validate().len(), 1);
        assert_eq!(
            Protection::Recipients { recipients: vec![] }
                .validate()
                .len(),
            1
        );
        let json = serde_json::to_string(&Protection::Passphrase).unwrap();
        assert_eq!(json, r#"{"method":"passphrase"}"#);
    }
}
