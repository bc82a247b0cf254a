//! Pseudonyms: account and session ids in shareable outputs replaced by keyed hashes (HMAC-SHA-256).
//!
//! pseudonym = prefix + the first 16 hex digits of HMAC-SHA-256(key, id), with `acct_`
//! for accounts and `sess_` for sessions. The key is the key file's bytes with leading
//! and trailing ASCII whitespace removed. Whoever holds the key can recompute the
//! pseudonym of any id (to re-identify a row); nobody else can.

use std::borrow::Cow;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

/// Shorter keys make the ids guessable by brute force (account ids are often sequential).
pub const MIN_KEY_BYTES: usize = 16;

/// Maps ids to what the shareable outputs print: themselves, or their pseudonyms.
#[derive(Clone, Default)]
pub struct Pseudonyms {
    key: Option<Vec<u8>>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Pseudonyms")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Pseudonyms {
    /// Ids pass through unchanged.
    pub fn none() -> Pseudonyms {
        Pseudonyms { key: None }
    }

    pub fn with_key(key: &[u8]) -> std::result::Result<Pseudonyms, String> {
        let key = key.trim_ascii();
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the pseudonymisation key has {} bytes after trimming; use at least {MIN_KEY_BYTES} (e.g. `head -c 32 /dev/urandom | base64 > key`)",
                key.len()
            ));
        }
        Ok(Pseudonyms {
            key: Some(key.to_vec()),
        })
    }

    pub fn from_keyfile(path: &Path) -> Result<Pseudonyms> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Pseudonyms::with_key(&bytes).map_err(|reason| Error::Settings {
            path: path.to_path_buf(),
            reason,
        })
    }

    pub fn is_active(&self) -> bool {
        self.key.is_some()
    }

    fn hash<'a>(&self, prefix: &str, id: &'a str) -> Cow<'a, str> {
        let Some(key) = &self.key else {
            return Cow::Borrowed(id);
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            // HMAC takes keys of any length; this cannot happen.
            return Cow::Owned(format!("{prefix}?"));
        };
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        Cow::Owned(format!("{prefix}{}", &hex::encode(digest)[..16]))
    }

    pub fn account<'a>(&self, id: &'a str) -> Cow<'a, str> {
        self.hash("acct_", id)
    }

    pub fn session<'a>(&self, id: &'a str) -> Cow<'a, str> {
        self.hash("sess_", id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_matches_hmac_sha256() {
        // HMAC-SHA-256(key = "0123456789abcdef", "acct-1"), first 16 hex digits, computed independently:
        // printf 'acct-1' | openssl dgst -sha256 -hmac 0123456789abcdef
        let p = Pseudonyms::with_key(b"  0123456789abcdef\n").unwrap();
        let a = p.account("acct-1");
        assert_eq!(a, "acct_32519dacd69adc8d");
        assert_eq!(a, p.account("acct-1"));
        assert_ne!(a, p.account("acct-2"));
        assert_eq!(&p.session("acct-1")[5..], &a[5..]);
        assert_eq!(Pseudonyms::none().account("acct-1"), "acct-1");
        assert!(Pseudonyms::with_key(b"short\n").is_err());
    }
}
