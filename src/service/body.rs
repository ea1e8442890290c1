//! Reading a JSON request body within a bound, for the service's wire APIs: the media type is
//! checked first, a declared length over the bound is refused before anything is read, and an
//! undeclared one is cut off at the bound.

use axum::body::Body;
use axum::extract::Request;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::Value;

/// Why a body was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The content type is not JSON (`application/json` or `…+json`).
    NotJson,
    /// Longer than the bound (413).
    TooLarge,
    /// The body could not be read.
    Unreadable,
    /// Not well-formed JSON.
    Malformed,
}

impl BodyError {
    /// What to tell the caller.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::NotJson => "The body must be application/json.",
            Self::TooLarge => "The body is larger than this route accepts.",
            Self::Unreadable => "The body could not be read.",
            Self::Malformed => "The body is not well-formed JSON.",
        }
    }
}

/// The request's body as JSON, at most `max` bytes of it.
pub(crate) async fn json_within(request: Request<Body>, max: usize) -> Result<Value, BodyError> {
    let json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|media| {
            media.eq_ignore_ascii_case("application/json")
                || media.to_ascii_lowercase().ends_with("+json")
        });
    if !json {
        return Err(BodyError::NotJson);
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return Err(BodyError::TooLarge);
    }
    // Without a declared length, the limit stops the read; any other failure is a body that
    // could not be read.
    let bytes = axum::body::to_bytes(request.into_body(), max)
        .await
        .map_err(|error| {
            let error = error.into_inner();
            let over =
                std::iter::successors(Some(&*error as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if over {
                BodyError::TooLarge
            } else {
                BodyError::Unreadable
            }
        })?;
    serde_json::from_slice(&bytes).map_err(|_| BodyError::Malformed)
}
