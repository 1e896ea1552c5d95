//! API tokens: generation, hashing, and the request-time lookup with a short cache.
//!
//! A token is `ssk_` + 43 base62 characters (256 bits). The database stores its SHA-256 only.
//! Lookups are cached for a few seconds so that a busy lab script does not cost a database round
//! trip per request; a revocation therefore takes effect within `CACHE_TTL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngExt;

use crate::domain::{Role, User};
use crate::store::{Store, StoreResult};

pub const CACHE_TTL: Duration = Duration::from_secs(5);

pub fn generate_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let body: String = (0..43)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("ssk_{body}")
}

pub fn hash_token(token: &str) -> String {
    crate::blobs::sha256_hex(token.as_bytes())
}

/// The user single-user mode acts as: the only user of a loopback-bound server without tokens.
pub const LOCAL_USER: &str = "local";

/// Resolves bearer tokens to users, remembering recent answers for `CACHE_TTL`.
pub struct Authenticator {
    store: Store,
    cache: Mutex<HashMap<String, (Instant, Option<User>)>>,
    open_mode: Mutex<Option<(Instant, bool)>>,
    /// Only a loopback-bound server may fall back to single-user mode.
    allow_single_user: bool,
}

impl Authenticator {
    pub fn new(store: Store, allow_single_user: bool) -> Self {
        Authenticator {
            allow_single_user,
            store,
            cache: Mutex::new(HashMap::new()),
            open_mode: Mutex::new(None),
        }
    }

    /// The user of a presented token, or `None` for an unknown or revoked one.
    pub async fn user_for_token(&self, token: &str) -> StoreResult<Option<User>> {
        let hash = hash_token(token);
        if let Some((at, user)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(user.clone());
        }
        let user = self.store.user_by_token_hash(&hash).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(hash, (Instant::now(), user.clone()));
        Ok(user)
    }

    /// Single-user mode holds while no active token exists (the server refuses to start this way
    /// on a non-loopback address). Creating the first token switches authentication on.
    pub async fn single_user(&self) -> StoreResult<Option<User>> {
        if !self.allow_single_user {
            return Ok(None);
        }
        let cached = *self.open_mode.lock().unwrap_or_else(|e| e.into_inner());
        let open = match cached {
            Some((at, open)) if at.elapsed() < CACHE_TTL => open,
            _ => {
                let open = !self.store.has_active_tokens().await?;
                *self.open_mode.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), open));
                open
            }
        };
        if open {
            Ok(Some(self.store.ensure_user(LOCAL_USER, Role::Admin).await?))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert!(a.starts_with("ssk_"));
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
