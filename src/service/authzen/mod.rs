//! The OpenID AuthZEN Authorization API 1.0 (the final specification of January 2026): a
//! policy enforcement point anywhere asks "may this subject do this action on this resource?"
//! and gets `{"decision": true|false}`.
//!
//! [`router`] serves, for any [`Pdp`]:
//!
//! - `POST /access/v1/evaluation`: one question, one [`Verdict`] (its `context` as the PDP
//!   gives it: a reason code, say);
//! - `POST /access/v1/evaluations`: many, with the top-level `subject`, `action`, `resource`
//!   and `context` as defaults for each item (an item's key replaces the default whole, never
//!   merged field by field), and `options.evaluations_semantic`: `execute_all` (the default),
//!   `deny_on_first_deny` or `permit_on_first_permit`, which stop at the first deny or permit
//!   and answer only the items evaluated. Without `evaluations` (or with an empty list) it
//!   answers like the single evaluation;
//! - `GET /.well-known/authzen-configuration`: the metadata naming the endpoints.
//!
//! What the specification leaves to the PDP, decided here:
//!
//! - **Bad input is 400** with `application/problem+json` naming the field: a body that is
//!   not JSON or not an object, a content type other than JSON, a missing or mistyped
//!   `subject`, `action`, `resource`, `type`, `id` or `name`, `properties` or `context` that
//!   are not objects, an unknown `evaluations_semantic`. In a batch, an item that is itself
//!   invalid (not an object, or incomplete once the defaults are applied) is answered
//!   `{"decision": false, "context": {"error": {"status": 400, "message": …}}}` in its place,
//!   as the specification asks, and the others are evaluated. Unknown fields are ignored.
//! - **Bounds before parsing:** a body over [`MAX_BODY_BYTES`] is 413; a type, id or action
//!   name over [`MAX_TEXT_BYTES`] is 400; a batch over [`MAX_EVALUATIONS`] items is 400.
//! - **Batch items carry only `decision`** unless an item was invalid, so a client comparing
//!   answers exactly (the AuthZEN interop runner does) sees `{"decision":true}`; a request
//!   with `"options": {"portcullis_context": true}` gets each verdict's `context` too.
//! - **`X-Request-ID`** is echoed on every answer, when it is a valid header value of at most
//!   256 bytes.
//! - **Who may ask** is the deployment's choice, as the specification says: put the router
//!   behind an [`AuthGateway`](crate::AuthGateway) (an API key per calling service, say) and a
//!   [`require_permission`](crate::require_permission) layer.
//!
//! ```
//! use portcullis::service::authzen::{self, Evaluation, Pdp, Verdict};
//!
//! /// Everyone may read; nobody may do anything else.
//! struct ReadOnly;
//!
//! impl Pdp for ReadOnly {
//!     async fn evaluate(&self, question: &Evaluation) -> Verdict {
//!         if question.action.name == "read" { Verdict::allow() } else { Verdict::deny() }
//!     }
//! }
//!
//! let app: axum::Router = authzen::router(ReadOnly, authzen::Metadata::new("https://pdp.example.com")?);
//! # Ok::<(), authzen::MetadataError>(())
//! ```

mod routes;
mod wire;

use std::future::Future;

use serde::Serialize;
use serde_json::{Map, Value};

pub use routes::router;

/// Largest request body accepted (413 beyond): a full batch of [`MAX_EVALUATIONS`] items with
/// modest properties fits.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Most items in one `evaluations` request.
pub const MAX_EVALUATIONS: usize = 1000;

/// Longest `type`, `id` or action `name`, in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;

/// A subject or a resource: what kind of thing (`type`), which one (`id`), and what the caller
/// says about it (`properties`; a PDP decides what it trusts of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    /// The `type`: `user`, `service`, `todo`, `document`…
    pub kind: String,
    /// The `id`, unique within its type.
    pub id: String,
    /// The `properties`, as sent (empty when absent).
    pub properties: Map<String, Value>,
}

/// The action asked about: its `name` and `properties`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedAction {
    /// The `name`: `can_read`, `edit`…
    pub name: String,
    /// The `properties`, as sent (empty when absent).
    pub properties: Map<String, Value>,
}

/// One question: may `subject` perform `action` on `resource`, given `context`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// Who asks to act.
    pub subject: Entity,
    /// What they ask to do.
    pub action: RequestedAction,
    /// What they would do it to.
    pub resource: Entity,
    /// The circumstances (time, place, device…), as sent (empty when absent).
    pub context: Map<String, Value>,
}

/// A PDP's answer: the decision, and optionally why (a reason code, the grant that matched).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Allowed or not.
    pub decision: bool,
    /// What the PDP says about it, sent as the answer's `context`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
}

impl Verdict {
    /// Allowed, with nothing more said.
    pub fn allow() -> Self {
        Self {
            decision: true,
            context: None,
        }
    }

    /// Not allowed, with nothing more said.
    pub fn deny() -> Self {
        Self {
            decision: false,
            context: None,
        }
    }

    /// This verdict, its context naming `reason` (`{"reason": "deny_no_permission"}`).
    pub fn with_reason(mut self, reason: &str) -> Self {
        self.context
            .get_or_insert_with(Map::new)
            .insert("reason".into(), Value::String(reason.to_owned()));
        self
    }
}

/// A policy decision point: answers one [`Evaluation`]. The router asks it once per question
/// (a batch item by item, in order); it must answer within its own bounds (a PDP that reads a
/// store bounds its reads) and fail closed (deny) when it cannot decide.
pub trait Pdp: Send + Sync + 'static {
    /// The answer to `question`.
    fn evaluate(&self, question: &Evaluation) -> impl Future<Output = Verdict> + Send;
}

/// The metadata document's contents: where this PDP is.
#[derive(Clone, Debug)]
pub struct Metadata {
    base: String,
}

/// Why a PDP address was refused.
#[derive(Debug, thiserror::Error)]
#[error("the PDP's address must be an absolute http(s) URL without query or fragment: {0}")]
pub struct MetadataError(String);

impl Metadata {
    /// The PDP at `base` (`https://pdp.example.com`, or with a path prefix where the router is
    /// nested): the metadata's `policy_decision_point`, and the prefix of its endpoints.
    pub fn new(base: &str) -> Result<Self, MetadataError> {
        let trimmed = base.trim_end_matches('/');
        let scheme_ok = trimmed.starts_with("https://") || trimmed.starts_with("http://");
        let host_ok = trimmed.split("://").nth(1).is_some_and(|rest| {
            let host = rest.split('/').next().unwrap_or("");
            !host.is_empty()
        });
        let plain = !trimmed.contains(['?', '#']) && !trimmed.chars().any(char::is_whitespace);
        if !(scheme_ok && host_ok && plain) {
            return Err(MetadataError(base.to_owned()));
        }
        Ok(Self {
            base: trimmed.to_owned(),
        })
    }

    fn document(&self) -> Value {
        let endpoint = |path: &str| Value::String(format!("{}{path}", self.base));
        let mut document = Map::new();
        document.insert(
            "policy_decision_point".into(),
            Value::String(self.base.clone()),
        );
        document.insert(
            "access_evaluation_endpoint".into(),
            endpoint(routes::EVALUATION),
        );
        document.insert(
            "access_evaluations_endpoint".into(),
            endpoint(routes::EVALUATIONS),
        );
        Value::Object(document)
    }
}

#[cfg(test)]
mod tests;
