//! The AuthZEN routes: reading the body, asking the PDP, answering.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::wire::{self, Asked, Malformed};
use super::{MAX_BODY_BYTES, Metadata, Pdp};
use crate::render::Problem;

pub(super) const EVALUATION: &str = "/access/v1/evaluation";
pub(super) const EVALUATIONS: &str = "/access/v1/evaluations";
const METADATA: &str = "/.well-known/authzen-configuration";

/// Longest `X-Request-ID` echoed back.
const MAX_REQUEST_ID_BYTES: usize = 256;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

struct Shared<P> {
    pdp: P,
    metadata: Value,
}

/// The AuthZEN API over `pdp`, its metadata naming the endpoints under `metadata`'s address
/// (see the [module](super) for what is answered and how).
pub fn router<P: Pdp>(pdp: P, metadata: Metadata) -> Router {
    let shared = Arc::new(Shared {
        pdp,
        metadata: metadata.document(),
    });
    Router::new()
        .route(EVALUATION, post(evaluation::<P>))
        .route(EVALUATIONS, post(evaluations::<P>))
        .route(METADATA, get(configuration::<P>))
        .with_state(shared)
}

async fn configuration<P: Pdp>(
    State(shared): State<Arc<Shared<P>>>,
    headers: HeaderMap,
) -> Response {
    echo(
        &headers,
        axum::Json(shared.metadata.clone()).into_response(),
    )
}

async fn evaluation<P: Pdp>(State(shared): State<Arc<Shared<P>>>, request: Request) -> Response {
    let headers = request.headers().clone();
    let answer = match JsonBody::from_request(request, &()).await {
        Err(refused) => refused,
        Ok(JsonBody(body)) => match wire::evaluation(&body) {
            Err(malformed) => bad_request(&malformed),
            Ok(question) => axum::Json(shared.pdp.evaluate(&question).await).into_response(),
        },
    };
    echo(&headers, answer)
}

async fn evaluations<P: Pdp>(State(shared): State<Arc<Shared<P>>>, request: Request) -> Response {
    let headers = request.headers().clone();
    let answer = match JsonBody::from_request(request, &()).await {
        Err(refused) => refused,
        Ok(JsonBody(body)) => match wire::evaluations(&body) {
            Err(malformed) => bad_request(&malformed),
            Ok(Asked::One(question)) => {
                axum::Json(shared.pdp.evaluate(&question).await).into_response()
            }
            Ok(Asked::Many(batch)) => {
                let mut answers = Vec::with_capacity(batch.items.len());
                for item in &batch.items {
                    let (decision, answer) = match item {
                        Err(malformed) => (false, invalid_item(malformed)),
                        Ok(question) => {
                            let verdict = shared.pdp.evaluate(question).await;
                            let mut answer = Map::new();
                            answer.insert("decision".into(), Value::Bool(verdict.decision));
                            if let (true, Some(context)) = (batch.with_context, verdict.context) {
                                answer.insert("context".into(), Value::Object(context));
                            }
                            (verdict.decision, Value::Object(answer))
                        }
                    };
                    answers.push(answer);
                    if batch.semantic.stops_after(decision) {
                        break;
                    }
                }
                axum::Json(json!({ "evaluations": answers })).into_response()
            }
        },
    };
    echo(&headers, answer)
}

/// An item that could not be asked: denied, saying why, as the specification shows.
fn invalid_item(malformed: &Malformed) -> Value {
    json!({
        "decision": false,
        "context": { "error": { "status": 400, "message": malformed.describe() } },
    })
}

fn bad_request(malformed: &Malformed) -> Response {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        malformed.describe(),
    )
    .into_response()
}

/// `response` with the request's `X-Request-ID`, when it has a usable one.
fn echo(request: &HeaderMap, mut response: Response) -> Response {
    if let Some(id) = request.get(&REQUEST_ID)
        && !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_BYTES
        && id.to_str().is_ok()
    {
        response
            .headers_mut()
            .insert(REQUEST_ID.clone(), id.clone());
    }
    response
}

/// A JSON object body, bounded: anything else is answered 400 (413 when too large), as the
/// AuthZEN certification scenario expects rather than axum's 415 and 422.
struct JsonBody(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Response;

    async fn from_request(request: Request<Body>, _: &S) -> Result<Self, Response> {
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
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The body must be application/json.",
            )
            .into_response());
        }
        let bytes: Bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "The body is larger than 1 MiB.",
                )
                .into_response()
            })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(body)) => Ok(Self(body)),
            _ => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The body must be a JSON object.",
            )
            .into_response()),
        }
    }
}
