//! Secrets: upstream passwords encrypted at rest (AES-256-GCM) and access tokens stored as digests.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{CoreError, CoreResult};

/// The server's secret key: encrypts upstream passwords and signs internal requests.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// Parses a base64 key of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must be 32 bytes, base64-encoded".to_owned())?;
        Ok(Self(key))
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    /// The key in base64.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Encrypts a secret; the result is `base64(nonce || ciphertext)`.
    pub fn encrypt(&self, plain: &str) -> CoreResult<String> {
        let cipher =
            Aes256Gcm::new_from_slice(&self.0).map_err(|e| CoreError::Internal(e.to_string()))?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|_| CoreError::Internal("encryption failed".into()))?;
        Ok(STANDARD.encode([nonce.as_slice(), &sealed].concat()))
    }

    /// Decrypts what [`SecretKey::encrypt`] produced.
    pub fn decrypt(&self, sealed: &str) -> CoreResult<String> {
        let fail =
            || CoreError::Internal("a stored secret cannot be decrypted with this key".into());
        let bytes = STANDARD.decode(sealed).map_err(|_| fail())?;
        if bytes.len() < 12 {
            return Err(fail());
        }
        let (nonce, sealed) = bytes.split_at(12);
        let cipher = Aes256Gcm::new_from_slice(&self.0).map_err(|_| fail())?;
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }

    /// A key for one purpose, derived from this one (so one leaked derived key reveals nothing else).
    pub fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(purpose);
        hasher.finalize().into()
    }

    /// The token an internal caller presents (derived from the key, so it changes with it).
    pub fn internal_token(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(b"packyard internal upload");
        hex::encode(hasher.finalize())
    }
}

/// A new random access token with a recognisable prefix.
pub fn generate_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stored form of a token: its sha256 in hex. Tokens are random, so no salt or stretching is needed.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_are_not_stored_in_clear() {
        let key = SecretKey::generate();
        let sealed = key.encrypt("hunter2").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_ne!(sealed, key.encrypt("hunter2").unwrap());
        assert_eq!(key.decrypt(&sealed).unwrap(), "hunter2");
        assert!(SecretKey::generate().decrypt(&sealed).is_err());
    }

    #[test]
    fn keys_parse_from_base64() {
        let key = SecretKey::generate();
        assert_eq!(SecretKey::from_base64(&key.to_base64()).unwrap().0, key.0);
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
    }
}
