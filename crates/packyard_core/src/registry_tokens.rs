//! Short-lived tokens for container clients (the Docker token flow): `/jwt/auth` trades a username and an
//! access token for an HMAC-SHA256 signed JWT that allows pulls from the named registries only.
//!
//! A JWT is three base64url parts; signing and checking one with HMAC is a few lines, so no JWT crate
//! (and its larger crypto stack) is pulled in. The key is derived from the server's secret key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::identity::{Actor, TokenRef};
use crate::{Core, CoreError, CoreResult};

/// How long a registry token is valid (GitLab's default `container_registry_token_expire_delay`).
pub const REGISTRY_TOKEN_LIFETIME: Duration = Duration::minutes(5);

/// The token flow's audience and `service`.
pub const REGISTRY_SERVICE: &str = "dependency_proxy";

/// What a registry token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    /// `personal:<id>` or `deploy:<id>`: the token the client logged in with.
    tok: String,
    /// The registries this token may pull from.
    registries: Vec<i64>,
    /// Always `virtual_registry`: tokens without it are refused (GitLab's rule).
    service_type: String,
}

/// A token issued to a client.
#[derive(Debug, Clone)]
pub struct IssuedRegistryToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// When it was issued.
    pub issued_at: NaiveDateTime,
}

/// A verified token: who presented it and what it allows.
#[derive(Debug, Clone)]
pub struct RegistryGrant {
    /// The actor, checked again against the database.
    pub actor: Actor,
    /// Registries the token allows pulls from.
    pub registries: Vec<i64>,
}

type HmacSha256 = Hmac<Sha256>;

fn token_ref_text(token: TokenRef) -> String {
    match token {
        TokenRef::Personal(id) => format!("personal:{id}"),
        TokenRef::Deploy(id) => format!("deploy:{id}"),
    }
}

fn parse_token_ref(text: &str) -> Option<TokenRef> {
    let (kind, id) = text.split_once(':')?;
    let id = id.parse().ok()?;
    match kind {
        "personal" => Some(TokenRef::Personal(id)),
        "deploy" => Some(TokenRef::Deploy(id)),
        _ => None,
    }
}

impl Core {
    fn registry_token_mac(&self) -> CoreResult<HmacSha256> {
        HmacSha256::new_from_slice(&self.secret.derive(b"packyard registry tokens"))
            .map_err(|e| CoreError::Internal(format!("token key: {e}")))
    }

    /// Issues a token that lets `actor` pull from `registries` (access already checked) for five minutes.
    pub fn issue_registry_token(
        &self,
        actor: &Actor,
        registries: Vec<i64>,
    ) -> CoreResult<IssuedRegistryToken> {
        let issued_at = self.now();
        let claims = Claims {
            iss: "packyard".into(),
            aud: REGISTRY_SERVICE.into(),
            sub: actor.username().to_owned(),
            iat: issued_at.and_utc().timestamp(),
            exp: (issued_at + REGISTRY_TOKEN_LIFETIME).and_utc().timestamp(),
            tok: token_ref_text(actor.token_ref()),
            registries,
            service_type: "virtual_registry".into(),
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| CoreError::Internal(format!("token claims: {e}")))?;
        let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.registry_token_mac()?;
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(IssuedRegistryToken {
            token: format!("{signed}.{signature}"),
            expires_in: REGISTRY_TOKEN_LIFETIME.num_seconds(),
            issued_at,
        })
    }

    /// Checks a token's signature, audience, expiry and type, and that the login token behind it is
    /// still valid; anything wrong is [`CoreError::Unauthorized`].
    pub async fn verify_registry_token(&self, token: &str) -> CoreResult<RegistryGrant> {
        let claims = self
            .registry_token_claims(token)
            .ok_or(CoreError::Unauthorized)?;
        let login = parse_token_ref(&claims.tok).ok_or(CoreError::Unauthorized)?;
        let actor = self.actor_by_token_id(login).await?;
        Ok(RegistryGrant {
            actor,
            registries: claims.registries,
        })
    }

    fn registry_token_claims(&self, token: &str) -> Option<Claims> {
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        let mut mac = self.registry_token_mac().ok()?;
        mac.update(signed.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?)
            .ok()?;
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let now = self.now().and_utc().timestamp();
        (claims.aud == REGISTRY_SERVICE
            && claims.service_type == "virtual_registry"
            && claims.exp > now)
            .then_some(claims)
    }
}
