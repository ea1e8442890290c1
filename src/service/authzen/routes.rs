//! The AuthZEN routes: reading the body, asking the PDP, answering.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use http::header::HeaderName;
use serde::Serialize;
use serde_json::{Map, Value};

use super::wire::{self, Asked, Malformed};
use super::{MAX_BODY_BYTES, Metadata, Pdp, Verdict};
use crate::render::{Problem, RenderProblemsLayer};
use crate::service::body::BodyError;

pub(super) const EVALUATION: &str = "/access/v1/evaluation";
pub(super) const EVALUATIONS: &str = "/access/v1/evaluations";
pub(super) const METADATA: &str = "/.well-known/authzen-configuration";

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

struct Shared<P> {
    pdp: P,
}

/// The AuthZEN API over `pdp` (see the [module](super) for what is answered and how), and
/// its metadata document when `metadata` puts the PDP at the host's root (else mount
/// [`metadata_router`] at the root).
pub fn router<P: Pdp>(pdp: P, metadata: Metadata) -> Router {
    let routes = evaluation_router(pdp);
    if metadata.path.is_empty() {
        routes.merge(metadata_router(&metadata))
    } else {
        routes
    }
}

/// The two evaluation routes alone, without the metadata document: for a deployment that
/// guards them (and not the public document) with a layer of its own.
pub(crate) fn evaluation_router<P: Pdp>(pdp: P) -> Router {
    Router::new()
        .route(EVALUATION, post(evaluation::<P>))
        .route(EVALUATIONS, post(evaluations::<P>))
        .with_state(Arc::new(Shared { pdp }))
        .route_layer(RenderProblemsLayer)
        .layer(middleware::from_fn(echo_request_id))
}

/// The metadata document alone, at [`Metadata::well_known_path`]: to mount at the host's root
/// when the PDP is under a path.
pub fn metadata_router(metadata: &Metadata) -> Router {
    let document = Arc::new(metadata.document());
    Router::new()
        .route(
            &metadata.well_known_path(),
            get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .layer(middleware::from_fn(echo_request_id))
}

async fn evaluation<P: Pdp>(State(shared): State<Arc<Shared<P>>>, body: JsonBody) -> Response {
    match wire::evaluation(&body.0) {
        Err(malformed) => bad_request(&malformed),
        Ok(question) => axum::Json(shared.pdp.evaluate(&question.lend()).await).into_response(),
    }
}

async fn evaluations<P: Pdp>(State(shared): State<Arc<Shared<P>>>, body: JsonBody) -> Response {
    let batch = match wire::evaluations(&body.0) {
        Err(malformed) => return bad_request(&malformed),
        Ok(Asked::One(question)) => {
            return axum::Json(shared.pdp.evaluate(&question.lend()).await).into_response();
        }
        Ok(Asked::Many(batch)) => batch,
    };
    let mut answers = Vec::with_capacity(batch.items.len());
    for at in 0..batch.items.len() {
        let answer = match batch.question(at) {
            Err(malformed) => ItemAnswer::invalid(&malformed),
            Ok(question) => {
                let Verdict { decision, context } = shared.pdp.evaluate(&question).await;
                ItemAnswer {
                    decision,
                    context: context.filter(|_| batch.with_context).map(Value::Object),
                }
            }
        };
        let stop = batch.semantic.stops_after(answer.decision);
        answers.push(answer);
        if stop {
            break;
        }
    }
    axum::Json(Answers {
        evaluations: answers,
    })
    .into_response()
}

/// The answers of a batch.
#[derive(Serialize)]
struct Answers {
    evaluations: Vec<ItemAnswer>,
}

/// One item's answer: `decision` first, and `context` only when there is one.
#[derive(Serialize)]
struct ItemAnswer {
    decision: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Value>,
}

impl ItemAnswer {
    /// An item that could not be asked: denied, saying why, as the specification shows.
    fn invalid(malformed: &Malformed) -> Self {
        Self {
            decision: false,
            context: Some(serde_json::json!({
                "error": { "status": 400, "message": malformed.describe() },
            })),
        }
    }
}

fn bad_request(malformed: &Malformed) -> Response {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        malformed.describe(),
    )
    .into_response()
}

/// Every answer carries the request's `X-Request-ID` (a header value cannot hold a line
/// break, so echoing it cannot split the response).
async fn echo_request_id(request: Request, next: Next) -> Response {
    let id = request.headers().get(&REQUEST_ID).cloned();
    let mut response = next.run(request).await;
    if let Some(id) = id {
        response.headers_mut().insert(REQUEST_ID.clone(), id);
    }
    response
}

/// A JSON object body, bounded: anything else is answered 400 (413 when too large), as the
/// AuthZEN certification scenario expects rather than axum's 415 and 422.
struct JsonBody(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Response;

    async fn from_request(request: Request<Body>, _: &S) -> Result<Self, Response> {
        match crate::service::body::json_within(request, MAX_BODY_BYTES).await {
            Ok(Value::Object(body)) => Ok(Self(body)),
            Err(BodyError::TooLarge) => Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("The body is larger than {MAX_BODY_BYTES} bytes."),
            )
            .into_response()),
            Err(BodyError::NotJson) => Err(invalid_body(BodyError::NotJson.describe())),
            Err(BodyError::Unreadable) => Err(invalid_body(BodyError::Unreadable.describe())),
            Ok(_) | Err(BodyError::Malformed) => {
                Err(invalid_body("The body must be a JSON object."))
            }
        }
    }
}

fn invalid_body(detail: &'static str) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "invalid_request", detail).into_response()
}
