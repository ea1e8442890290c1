//! `TokenVerifier::verify` on arbitrary text.
//!
//! Properties: nothing verifies (arbitrary text cannot carry a valid HS256 or Ed25519 signature),
//! nothing panics, the cheap checks come first and answer as documented (over 8 KiB: `TooLarge`;
//! a byte outside the base64url alphabet and `.`, or not exactly two dots: `Malformed`; an empty
//! signature part: `BadSignature`), the answer is deterministic, and the bearer strategy refuses
//! `Authorization: Bearer <text>` for the very same reason.

#![no_main]

use http::header::AUTHORIZATION;
use libfuzzer_sys::fuzz_target;
use portcullis::strategy::{Outcome, Strategy};
use portcullis::token::{DEFAULT_MAX_TOKEN_BYTES, TokenRules, TokenVerifier};
use portcullis::{AuthError, TokenRejection};
use portcullis_fuzz::{bearer, parts, poll_once};
use std::sync::OnceLock;

/// A second verifier over the same ring with other rules: a `typ` rule, no issuer or audience.
fn typed() -> &'static TokenVerifier {
    static TYPED: OnceLock<TokenVerifier> = OnceLock::new();
    TYPED.get_or_init(|| TokenVerifier::new(bearer().ring.clone(), TokenRules::new().typ("at+jwt")))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

fn expected_early(token: &str) -> Option<TokenRejection> {
    let bytes = token.as_bytes();
    if bytes.len() > DEFAULT_MAX_TOKEN_BYTES {
        return Some(TokenRejection::TooLarge);
    }
    let dots = bytes.iter().filter(|&&b| b == b'.').count();
    if !bytes.iter().all(|&b| is_token_byte(b)) || dots != 2 {
        return Some(TokenRejection::Malformed);
    }
    if bytes.ends_with(b".") {
        return Some(TokenRejection::BadSignature);
    }
    None
}

fuzz_target!(|token: &str| {
    let b = bearer();
    for verifier in [&b.verifier, typed()] {
        let rejection = match verifier.verify(token) {
            Ok(verified) => panic!("arbitrary text verified (kid {:?})", verified.kid),
            Err(rejection) => rejection,
        };
        assert!(!rejection.as_str().is_empty());
        if let Some(want) = expected_early(token) {
            assert_eq!(rejection, want, "the cheap checks answer first");
        }
        assert_eq!(
            verifier.verify(token).err(),
            Some(rejection),
            "verification is deterministic"
        );
    }

    // The strategy refuses the same text in a header for the same reason.
    let rejection = b.verifier.verify(token).err();
    if token.is_empty() || token.starts_with(' ') {
        return; // the strategy trims leading spaces and answers an empty token differently
    }
    let value = format!("Bearer {token}");
    let Some(request) = parts(&[(AUTHORIZATION, value.as_bytes())], None) else {
        return; // not a valid header value: never reaches a strategy
    };
    let outcome = poll_once(b.header_only.authenticate(&request)).expect("ready at once");
    match outcome {
        Outcome::Rejected(AuthError::InvalidToken(r)) => {
            if value.len() <= portcullis::strategy::DEFAULT_MAX_HEADER_BYTES {
                assert_eq!(Some(r), rejection, "strategy and verifier disagree");
            } else {
                assert_eq!(r, TokenRejection::TooLarge);
            }
        }
        other => panic!("Bearer <arbitrary text> answered {other:?}"),
    }
});
