//! Secrets: a wrapper that never prints, the master key file, and authenticated encryption of
//! values at rest (XChaCha20-Poly1305 under the master key).

use crate::StoreError;
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
};
use rand::RngCore;
use std::{fmt, path::Path};

/// A secret string. `Debug` and `Display` print `***`; serialisation is deliberately absent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const SEALED_PREFIX: &str = "enc:v1:";

/// The platform's master key: 32 random bytes in a file readable by its owner only.
#[derive(Clone)]
pub struct MasterKey([u8; KEY_LEN]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::thread_rng().fill_bytes(&mut key);
        Self(key)
    }

    /// Reads the key file, or creates it with mode 0600 when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        let err = |reason: String| StoreError::MasterKey {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))?;
                let raw = B64
                    .decode(text.trim())
                    .map_err(|_| err("not base64".into()))?;
                let key: [u8; KEY_LEN] = raw
                    .try_into()
                    .map_err(|_| err(format!("must hold {KEY_LEN} bytes")))?;
                Ok(Self(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private(path, format!("{}\n", B64.encode(key.0)).as_bytes())
                    .map_err(|e| err(e.to_string()))?;
                Ok(key)
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Encrypts `plain`; the output is printable and carries its own nonce.
    pub fn seal(&self, plain: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Encryption with a fresh nonce and an in-memory buffer cannot fail.
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{SEALED_PREFIX}{}", B64.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Secret, StoreError> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|raw| raw.len() > NONCE_LEN)
            .ok_or(StoreError::Decrypt)?;
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| StoreError::Decrypt)?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| StoreError::Decrypt)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }

    #[test]
    fn sealed_values_open_only_with_their_key() -> Result<(), StoreError> {
        let key = MasterKey::generate();
        let sealed = key.seal("smtp-password");
        assert!(!sealed.contains("smtp-password"));
        assert_eq!(key.open(&sealed)?.expose(), "smtp-password");
        assert!(MasterKey::generate().open(&sealed).is_err());
        assert!(key.open("enc:v1:AAAA").is_err());
        Ok(())
    }
}
