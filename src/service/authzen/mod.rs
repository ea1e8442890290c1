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
//! - `GET /.well-known/authzen-configuration`: the metadata naming the endpoints, served by
//!   [`router`] when the PDP is at the host's root; a PDP under a path (`https://host/authz`)
//!   has its document at `/.well-known/authzen-configuration/authz` from the host's root, as
//!   the specification places it: mount [`metadata_router`] there.
//!
//! What the specification leaves to the PDP, decided here:
//!
//! - **Bad input is 400** with `application/problem+json` naming the field (or what the
//!   gateway's [error renderer](crate::AuthGateway::error_renderer) makes of it): a body that is
//!   not JSON or not an object, a content type other than JSON, a missing or mistyped
//!   `subject`, `action`, `resource`, `type`, `id` or `name`, `properties` or `context` that
//!   are not objects, an empty `type`, `id` or `name`, an unknown `evaluations_semantic`. In
//!   a batch, an item that is itself invalid (not an object, a malformed entity, or
//!   incomplete once the defaults are applied, a malformed default it inherits included) is
//!   answered `{"decision": false, "context": {"error": {"status": 400, "message": …}}}` in
//!   its place, as the specification asks, and the others are evaluated. Unknown fields are
//!   ignored, and `null` counts as absent.
//! - **Bounds:** a body over [`MAX_BODY_BYTES`] is 413 before it is read whole; once parsed,
//!   a type, id or action name over [`MAX_TEXT_BYTES`] and a batch over [`MAX_EVALUATIONS`]
//!   items are refused; a batch's defaults are lent to its items, never copied into each.
//! - **Batch items carry only `decision`** unless an item was invalid, so a client comparing
//!   answers exactly (the AuthZEN interop runner does) sees `{"decision":true}`; a request
//!   with `"options": {"portcullis_context": true}` gets each verdict's `context` too.
//! - **`X-Request-ID`** is echoed on every answer of these routes, refusals included.
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
//!     async fn evaluate(&self, question: &Evaluation<'_>) -> Verdict {
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
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

pub(crate) use routes::evaluation_router;
pub use routes::{metadata_router, router};

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
#[non_exhaustive]
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
#[non_exhaustive]
pub struct RequestedAction {
    /// The `name`: `can_read`, `edit`…
    pub name: String,
    /// The `properties`, as sent (empty when absent).
    pub properties: Map<String, Value>,
}

/// One question: may `subject` perform `action` on `resource`, given `context`? Borrowed from
/// the request (a batch's defaults are lent to every item that inherits them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evaluation<'a> {
    /// Who asks to act.
    pub subject: &'a Entity,
    /// What they ask to do.
    pub action: &'a RequestedAction,
    /// What they would do it to.
    pub resource: &'a Entity,
    /// The circumstances (time, place, device…), as sent (empty when absent).
    pub context: &'a Map<String, Value>,
}

/// A PDP's answer: the decision, and optionally why (a reason code, the grant that matched).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
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
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.context
            .get_or_insert_with(Map::new)
            .insert("reason".into(), Value::String(reason.into()));
        self
    }
}

/// A policy decision point: answers one [`Evaluation`]. The router asks it once per question
/// (a batch item by item, in order, stopping where the batch's semantic says). It must answer
/// within its own bounds (a PDP that reads a store bounds its reads) and fail closed: a PDP
/// that cannot decide denies, saying why in the verdict's context
/// (`Verdict::deny().with_reason("error_unavailable")`).
pub trait Pdp: Send + Sync + 'static {
    /// The answer to `question`.
    fn evaluate(&self, question: &Evaluation<'_>) -> impl Future<Output = Verdict> + Send;
}

impl<P: Pdp> Pdp for Arc<P> {
    fn evaluate(&self, question: &Evaluation<'_>) -> impl Future<Output = Verdict> + Send {
        P::evaluate(self, question)
    }
}

/// Where this PDP is, for its metadata document.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// The `policy_decision_point`, without a trailing slash.
    base: String,
    /// Its path (empty at the host's root), which the well-known path carries after it.
    path: String,
}

/// Why a PDP address was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "the PDP's address must be an https URL (http only on a loopback host) with a host and no \
     user, query or fragment: {0}"
)]
pub struct MetadataError(String);

impl Metadata {
    /// The PDP at `base` (`https://pdp.example.com`, or `https://example.com/authz` where the
    /// router is nested under `/authz`): the metadata's `policy_decision_point`, and the
    /// prefix of its endpoints. The specification wants https; plain http is accepted only
    /// for a loopback host (local development and tests).
    pub fn new(base: &str) -> Result<Self, MetadataError> {
        let refused = || MetadataError(base.to_owned());
        let url = url::Url::parse(base).map_err(|_| refused())?;
        let loopback = match url.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err(refused()),
        };
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        let plain = url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        if !(scheme_ok && plain) {
            return Err(refused());
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        let path = url.path().trim_end_matches('/').to_owned();
        Ok(Self { base, path })
    }

    /// Where the document is served, from the host's root: `/.well-known/authzen-configuration`
    /// followed by the PDP's path, as the specification places it.
    pub fn well_known_path(&self) -> String {
        format!("{}{}", routes::METADATA, self.path)
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
