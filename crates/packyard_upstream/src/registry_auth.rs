//! The registry token dance of the OCI distribution protocol: a request answered 401 with a `Bearer`
//! challenge is retried with a token fetched from the challenge's realm (with the upstream's Basic
//! credentials, or anonymously). Tokens are reused until shortly before they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Credentials;

/// Longest time a token is reused, whatever the token server says (GitLab caches them 3 minutes).
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(180);
/// Lifetime when the token server does not say (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens are dropped this long before they expire, so a request never carries an expiring one.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// A `WWW-Authenticate: Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    /// Where tokens are issued.
    pub realm: String,
    /// The `service` parameter, passed back to the realm.
    pub service: Option<String>,
    /// The `scope` the registry asks for.
    pub scope: Option<String>,
}

/// Parses a `Bearer` challenge; `None` for other schemes or one without a realm.
pub fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_auth_params(params);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    Some(BearerChallenge {
        realm: get("realm").filter(|r| !r.is_empty())?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// `key=value, key="quoted, value"` pairs (RFC 7235 auth-params).
fn parse_auth_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
        }
        params.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    params
}

/// The token server's answer.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token (`token`, or `access_token` when `token` is absent) and how long to reuse it.
    pub(crate) fn into_token(self) -> Option<(String, Duration)> {
        let lifetime = self
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs)
            .min(MAX_TOKEN_LIFETIME)
            .saturating_sub(EXPIRY_MARGIN);
        self.token
            .or(self.access_token)
            .filter(|t| !t.is_empty())
            .map(|token| (token, lifetime))
    }
}

/// Which token a request may reuse: one per registry origin, repository scope and credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    origin: String,
    scope: String,
    username: Option<String>,
    password_sha256: Option<[u8; 32]>,
}

impl TokenKey {
    pub(crate) fn new(url: &url::Url, scope: &str, credentials: Option<&Credentials>) -> Self {
        Self {
            origin: url.origin().ascii_serialization(),
            scope: scope.to_owned(),
            username: credentials.map(|c| c.username.clone()),
            password_sha256: credentials.map(|c| Sha256::digest(c.password.as_bytes()).into()),
        }
    }
}

/// Tokens obtained from upstream token servers.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl TokenCache {
    pub(crate) fn get(&self, key: &TokenKey) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(token, _)| token.clone())
    }

    pub(crate) fn put(&self, key: TokenKey, token: String, lifetime: Duration) {
        if let Ok(mut tokens) = self.tokens.lock() {
            let now = Instant::now();
            tokens.retain(|_, (_, until)| *until > now);
            tokens.insert(key, (token, now + lifetime));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn parses_docker_hub_challenges() {
        let challenge = parse_bearer_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(challenge.realm, "https://auth.docker.io/token");
        assert_eq!(challenge.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(
            challenge.scope.as_deref(),
            Some("repository:library/alpine:pull")
        );
    }

    #[test]
    fn keeps_commas_inside_quotes_and_ignores_other_schemes() {
        let challenge = parse_bearer_challenge(
            r#"bearer realm="http://a/token", scope="repository:x:pull,push""#,
        )
        .unwrap();
        assert_eq!(challenge.scope.as_deref(), Some("repository:x:pull,push"));
        assert_eq!(challenge.service, None);
        assert_eq!(parse_bearer_challenge(r#"Basic realm="Registry""#), None);
        assert_eq!(parse_bearer_challenge("Bearer service=\"x\""), None);
    }

    #[test]
    fn token_lifetimes_are_capped_and_reuse_respects_expiry() {
        let answer: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":3600}"#).unwrap();
        let (token, lifetime) = answer.into_token().unwrap();
        assert_eq!(token, "abc");
        assert_eq!(lifetime, MAX_TOKEN_LIFETIME - EXPIRY_MARGIN);
        let empty: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(empty.into_token().is_none());

        let cache = TokenCache::default();
        let url = url::Url::parse("https://registry.example/v2/x/manifests/1").unwrap();
        let key = TokenKey::new(&url, "repository:x:pull", None);
        cache.put(key.clone(), "t".into(), Duration::ZERO);
        assert_eq!(cache.get(&key), None);
        cache.put(key.clone(), "t".into(), Duration::from_secs(30));
        assert_eq!(cache.get(&key).as_deref(), Some("t"));
        let other = TokenKey::new(
            &url,
            "repository:x:pull",
            Some(&Credentials {
                username: "u".into(),
                password: "p".into(),
            }),
        );
        assert_eq!(cache.get(&other), None);
    }
}
