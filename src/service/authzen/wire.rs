//! Reading AuthZEN requests: every field checked for presence, type and size, each failure
//! naming the field, before a PDP is asked anything.

use serde_json::{Map, Value};

use super::{Entity, Evaluation, MAX_EVALUATIONS, MAX_TEXT_BYTES, RequestedAction};

/// What is wrong with a request or a batch item, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Malformed {
    /// The field at fault, as a path (`subject.id`, `evaluations[3].resource`).
    pub field: String,
    pub message: &'static str,
}

impl Malformed {
    fn at(field: impl Into<String>, message: &'static str) -> Self {
        Self {
            field: field.into(),
            message,
        }
    }

    /// `field message`, for an answer's detail.
    pub fn describe(&self) -> String {
        format!("{} {}", self.field, self.message)
    }
}

/// How a batch is evaluated (`options.evaluations_semantic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Semantic {
    /// Every item, every answer.
    ExecuteAll,
    /// Up to and including the first deny.
    DenyOnFirstDeny,
    /// Up to and including the first permit.
    PermitOnFirstPermit,
}

impl Semantic {
    /// Whether evaluation stops after an item decided `decision`.
    pub fn stops_after(self, decision: bool) -> bool {
        match self {
            Self::ExecuteAll => false,
            Self::DenyOnFirstDeny => !decision,
            Self::PermitOnFirstPermit => decision,
        }
    }
}

/// A batch: each item a question or why it is not one, in order.
#[derive(Debug)]
pub(super) struct Batch {
    pub items: Vec<Result<Evaluation, Malformed>>,
    pub semantic: Semantic,
    /// Whether each answer carries the verdict's context (`options.portcullis_context`).
    pub with_context: bool,
}

/// What an `evaluations` request asks.
#[derive(Debug)]
pub(super) enum Asked {
    /// No items: the top level is the one question.
    One(Box<Evaluation>),
    Many(Batch),
}

/// The one question of an `evaluation` request.
pub(super) fn evaluation(body: &Map<String, Value>) -> Result<Evaluation, Malformed> {
    Ok(Evaluation {
        subject: entity(body.get("subject"), "subject")?,
        action: action(body.get("action"), "action")?,
        resource: entity(body.get("resource"), "resource")?,
        context: object(body.get("context"), "context")?,
    })
}

/// The questions of an `evaluations` request: the top level's entities are the defaults of
/// every item, an item's own key replacing the default whole.
pub(super) fn evaluations(body: &Map<String, Value>) -> Result<Asked, Malformed> {
    let (semantic, with_context) = options(body.get("options"))?;
    let items = match body.get("evaluations") {
        None => return evaluation(body).map(|e| Asked::One(Box::new(e))),
        Some(Value::Array(items)) if items.is_empty() => {
            return evaluation(body).map(|e| Asked::One(Box::new(e)));
        }
        Some(Value::Array(items)) if items.len() > MAX_EVALUATIONS => {
            return Err(Malformed::at("evaluations", "has more than 1000 items"));
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Malformed::at("evaluations", "must be an array")),
    };
    // A default that is present must be valid: it would be wrong for every item.
    let subject = optional(body.get("subject"), |v| entity(Some(v), "subject"))?;
    let action_default = optional(body.get("action"), |v| action(Some(v), "action"))?;
    let resource = optional(body.get("resource"), |v| entity(Some(v), "resource"))?;
    let context = object(body.get("context"), "context")?;
    let items = items
        .iter()
        .enumerate()
        .map(|(at, item)| {
            let Value::Object(item) = item else {
                return Err(Malformed::at(
                    format!("evaluations[{at}]"),
                    "must be an object",
                ));
            };
            let path = |key: &str| format!("evaluations[{at}].{key}");
            Ok(Evaluation {
                subject: inherit(item, "subject", &subject, |v| entity(v, &path("subject")))?,
                action: inherit(item, "action", &action_default, |v| {
                    action(v, &path("action"))
                })?,
                resource: inherit(item, "resource", &resource, |v| {
                    entity(v, &path("resource"))
                })?,
                context: match item.get("context") {
                    Some(value) => object(Some(value), &path("context"))?,
                    None => context.clone(),
                },
            })
        })
        .collect();
    Ok(Asked::Many(Batch {
        items,
        semantic,
        with_context,
    }))
}

/// `options.evaluations_semantic` and `options.portcullis_context`.
fn options(options: Option<&Value>) -> Result<(Semantic, bool), Malformed> {
    let options = match options {
        None => return Ok((Semantic::ExecuteAll, false)),
        Some(Value::Object(options)) => options,
        Some(_) => return Err(Malformed::at("options", "must be an object")),
    };
    let semantic = match options.get("evaluations_semantic") {
        None => Semantic::ExecuteAll,
        Some(Value::String(s)) if s == "execute_all" => Semantic::ExecuteAll,
        Some(Value::String(s)) if s == "deny_on_first_deny" => Semantic::DenyOnFirstDeny,
        Some(Value::String(s)) if s == "permit_on_first_permit" => Semantic::PermitOnFirstPermit,
        Some(_) => {
            return Err(Malformed::at(
                "options.evaluations_semantic",
                "must be execute_all, deny_on_first_deny or permit_on_first_permit",
            ));
        }
    };
    let with_context = match options.get("portcullis_context") {
        None => false,
        Some(Value::Bool(on)) => *on,
        Some(_) => {
            return Err(Malformed::at(
                "options.portcullis_context",
                "must be a boolean",
            ));
        }
    };
    Ok((semantic, with_context))
}

fn optional<T>(
    value: Option<&Value>,
    read: impl FnOnce(&Value) -> Result<T, Malformed>,
) -> Result<Option<T>, Malformed> {
    value.map(read).transpose()
}

/// The item's own `key` when it has one, else the default, else missing.
fn inherit<T: Clone>(
    item: &Map<String, Value>,
    key: &str,
    default: &Option<T>,
    read: impl FnOnce(Option<&Value>) -> Result<T, Malformed>,
) -> Result<T, Malformed> {
    match (item.get(key), default) {
        (Some(value), _) => read(Some(value)),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => read(None),
    }
}

fn entity(value: Option<&Value>, path: &str) -> Result<Entity, Malformed> {
    let entity = match value {
        Some(Value::Object(entity)) => entity,
        Some(_) => return Err(Malformed::at(path, "must be an object")),
        None => return Err(Malformed::at(path, "is required")),
    };
    Ok(Entity {
        kind: text(entity, "type", path)?,
        id: text(entity, "id", path)?,
        properties: object(entity.get("properties"), &format!("{path}.properties"))?,
    })
}

fn action(value: Option<&Value>, path: &str) -> Result<RequestedAction, Malformed> {
    let action = match value {
        Some(Value::Object(action)) => action,
        Some(_) => return Err(Malformed::at(path, "must be an object")),
        None => return Err(Malformed::at(path, "is required")),
    };
    Ok(RequestedAction {
        name: text(action, "name", path)?,
        properties: object(action.get("properties"), &format!("{path}.properties"))?,
    })
}

/// A required, non-empty string of at most [`MAX_TEXT_BYTES`].
fn text(object: &Map<String, Value>, key: &str, path: &str) -> Result<String, Malformed> {
    let field = || format!("{path}.{key}");
    match object.get(key) {
        Some(Value::String(s)) if s.is_empty() => Err(Malformed::at(field(), "must not be empty")),
        Some(Value::String(s)) if s.len() > MAX_TEXT_BYTES => {
            Err(Malformed::at(field(), "is longer than 1024 bytes"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Malformed::at(field(), "must be a string")),
        None => Err(Malformed::at(field(), "is required")),
    }
}

/// An optional object (empty when absent).
fn object(value: Option<&Value>, path: &str) -> Result<Map<String, Value>, Malformed> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(_) => Err(Malformed::at(path, "must be an object")),
    }
}
