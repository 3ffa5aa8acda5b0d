//! Twilio Voice access tokens for the member's browser: an HS256 JWT signed
//! with a Standard API key's secret, header `cty: twilio-fpa;v=1`, claims
//! `jti` (`<key SID>-<issued at>`, as Twilio's helper libraries write it),
//! `iss` (the key SID), `sub` (the account SID), `nbf`, `exp` and `grants`:
//! the client `identity` and `voice.outgoing.application_sid` (our TwiML
//! App). No incoming grant: nobody calls a member's browser.
//!
//! `scripts/check_twilio_wire.py` checks a token minted here against Twilio's
//! own Python library (`AccessToken.from_jwt`, and the same claims minted by
//! the library).

use crate::config::VoiceKeys;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// Twilio's content type for its access tokens.
pub const CONTENT_TYPE: &str = "twilio-fpa;v=1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub jti: String,
    pub iss: String,
    pub sub: String,
    pub nbf: i64,
    pub exp: i64,
    pub grants: Grants,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    pub identity: String,
    pub voice: VoiceGrant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceGrant {
    pub outgoing: Outgoing,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub application_sid: String,
}

/// The claims of a token for `identity`, valid from `now` for the key's TTL.
pub fn claims(keys: &VoiceKeys, account_sid: &str, identity: &str, now: i64) -> Claims {
    let ttl = i64::try_from(keys.token_ttl_secs).unwrap_or(3600);
    Claims {
        jti: format!("{}-{now}", keys.api_key_sid),
        iss: keys.api_key_sid.clone(),
        sub: account_sid.to_owned(),
        nbf: now,
        exp: now + ttl,
        grants: Grants {
            identity: identity.to_owned(),
            voice: VoiceGrant {
                outgoing: Outgoing {
                    application_sid: keys.twiml_app_sid.clone(),
                },
            },
        },
    }
}

/// The signed token for `claims`.
pub fn sign(keys: &VoiceKeys, claims: &Claims) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.cty = Some(CONTENT_TYPE.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(keys.api_key_secret.expose().as_bytes()),
    )
    .expect("HS256 over plain JSON claims cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use jsonwebtoken::{DecodingKey, Validation};

    fn keys() -> VoiceKeys {
        VoiceKeys {
            api_key_sid: "SK0123456789abcdef0123456789abcdef".to_owned(),
            api_key_secret: Secret::new("key-secret"),
            twiml_app_sid: "AP0123456789abcdef0123456789abcdef".to_owned(),
            token_ttl_secs: 3600,
        }
    }

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_795_255_200;

    #[test]
    fn the_token_carries_twilios_header_and_the_outgoing_grant_only() {
        let token = sign(&keys(), &claims(&keys(), ACCOUNT, "member-usr_1", NOW));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.cty.as_deref(), Some("twilio-fpa;v=1"));
        assert_eq!(header.kid, None);

        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_issuer(&[keys().api_key_sid]);
        validation.sub = Some(ACCOUNT.to_owned());
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(b"key-secret"),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(
            decoded,
            serde_json::json!({
                "jti": "SK0123456789abcdef0123456789abcdef-1795255200",
                "iss": "SK0123456789abcdef0123456789abcdef",
                "sub": ACCOUNT,
                "nbf": NOW,
                "exp": NOW + 3600,
                "grants": {
                    "identity": "member-usr_1",
                    "voice": {"outgoing": {"application_sid": "AP0123456789abcdef0123456789abcdef"}}
                }
            })
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_does_not_verify() {
        let token = sign(&keys(), &claims(&keys(), ACCOUNT, "member-usr_1", NOW));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        assert!(jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(b"another-secret"),
            &validation,
        )
        .is_err());
    }

    #[test]
    fn the_lifetime_is_the_configured_ttl() {
        let mut keys = keys();
        keys.token_ttl_secs = 86_400;
        let claims = claims(&keys, ACCOUNT, "member-usr_1", NOW);
        assert_eq!((claims.nbf, claims.exp), (NOW, NOW + 86_400));
    }
}
