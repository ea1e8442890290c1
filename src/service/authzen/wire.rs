//! Reading AuthZEN requests: every field checked for presence, type and size, each failure
//! naming the field, before a PDP is asked anything. A batch's defaults are read once and
//! lent to each item's question, never copied into it: a large default context shared by a
//! thousand items costs its size once.

use serde_json::{Map, Value};

use super::{Entity, Evaluation, MAX_EVALUATIONS, MAX_TEXT_BYTES, RequestedAction};

/// What is wrong with a request or a batch item, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Malformed {
    /// The field at fault, as a path (`subject.id`, `evaluations[3].resource`).
    pub field: String,
    pub message: String,
}

impl Malformed {
    fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
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

/// One question, owned: the single evaluation's, or a batch item's own entities.
#[derive(Debug)]
pub(super) struct Question {
    pub subject: Entity,
    pub action: RequestedAction,
    pub resource: Entity,
    pub context: Map<String, Value>,
}

impl Question {
    pub fn lend(&self) -> Evaluation<'_> {
        Evaluation {
            subject: &self.subject,
            action: &self.action,
            resource: &self.resource,
            context: &self.context,
        }
    }
}

/// A batch item: what it names itself (the rest comes from the defaults).
#[derive(Debug, Default)]
pub(super) struct Item {
    subject: Option<Entity>,
    action: Option<RequestedAction>,
    resource: Option<Entity>,
    context: Option<Map<String, Value>>,
}

/// A batch's defaults; one that is malformed fails only the items that inherit it.
#[derive(Debug)]
pub(super) struct Defaults {
    subject: Option<Result<Entity, Malformed>>,
    action: Option<Result<RequestedAction, Malformed>>,
    resource: Option<Result<Entity, Malformed>>,
    context: Result<Map<String, Value>, Malformed>,
}

/// A batch: each item as it names itself or why it is malformed, in order, and its defaults.
#[derive(Debug)]
pub(super) struct Batch {
    pub defaults: Defaults,
    pub items: Vec<Result<Item, Malformed>>,
    pub semantic: Semantic,
    /// Whether each answer carries the verdict's context (`options.portcullis_context`).
    pub with_context: bool,
}

impl Batch {
    /// Item `at`'s question, its own entities and the defaults for the rest.
    pub fn question(&self, at: usize) -> Result<Evaluation<'_>, Malformed> {
        let item = self.items[at].as_ref().map_err(Clone::clone)?;
        let path = |key: &str| format!("evaluations[{at}].{key}");
        let action = inherit(item.action.as_ref(), &self.defaults.action, || {
            path("action")
        })?;
        let context = match &item.context {
            Some(own) => own,
            None => self.defaults.context.as_ref().map_err(Clone::clone)?,
        };
        Ok(Evaluation {
            subject: inherit(item.subject.as_ref(), &self.defaults.subject, || {
                path("subject")
            })?,
            action,
            resource: inherit(item.resource.as_ref(), &self.defaults.resource, || {
                path("resource")
            })?,
            context,
        })
    }
}

/// An item's own entity, else the default it inherits (a malformed default failing the item),
/// else missing.
fn inherit<'a, T>(
    own: Option<&'a T>,
    default: &'a Option<Result<T, Malformed>>,
    path: impl FnOnce() -> String,
) -> Result<&'a T, Malformed> {
    match (own, default) {
        (Some(own), _) => Ok(own),
        (None, Some(Ok(default))) => Ok(default),
        (None, Some(Err(malformed))) => Err(malformed.clone()),
        (None, None) => Err(Malformed::at(path(), "is required")),
    }
}

/// What an `evaluations` request asks.
#[derive(Debug)]
pub(super) enum Asked {
    /// No items: the top level is the one question.
    One(Box<Question>),
    Many(Box<Batch>),
}

/// A field's value, `null` counting as absent (serializers write a missing option as `null`).
fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// The one question of an `evaluation` request.
pub(super) fn evaluation(body: &Map<String, Value>) -> Result<Question, Malformed> {
    Ok(Question {
        subject: entity(get(body, "subject"), "subject")?,
        action: action(get(body, "action"), "action")?,
        resource: entity(get(body, "resource"), "resource")?,
        context: object(get(body, "context"), "context")?,
    })
}

/// The questions of an `evaluations` request: the top level's entities are the defaults of
/// every item, an item's own key replacing the default whole.
pub(super) fn evaluations(body: &Map<String, Value>) -> Result<Asked, Malformed> {
    let items = match get(body, "evaluations") {
        None => return evaluation(body).map(|one| Asked::One(Box::new(one))),
        Some(Value::Array(items)) if items.is_empty() => {
            return evaluation(body).map(|one| Asked::One(Box::new(one)));
        }
        Some(Value::Array(items)) if items.len() > MAX_EVALUATIONS => {
            return Err(Malformed::at(
                "evaluations",
                format!("has more than {MAX_EVALUATIONS} items"),
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Malformed::at("evaluations", "must be an array")),
    };
    let (semantic, with_context) = options(get(body, "options"))?;
    let defaults = Defaults {
        subject: get(body, "subject").map(|v| entity(Some(v), "subject")),
        action: get(body, "action").map(|v| action(Some(v), "action")),
        resource: get(body, "resource").map(|v| entity(Some(v), "resource")),
        context: object(get(body, "context"), "context"),
    };
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
            Ok(Item {
                subject: own(item, "subject", |v| entity(v, &path("subject")))?,
                action: own(item, "action", |v| action(v, &path("action")))?,
                resource: own(item, "resource", |v| entity(v, &path("resource")))?,
                context: own(item, "context", |v| object(v, &path("context")))?,
            })
        })
        .collect();
    Ok(Asked::Many(Box::new(Batch {
        defaults,
        items,
        semantic,
        with_context,
    })))
}

/// An item's own `key`, when it names one.
fn own<T>(
    item: &Map<String, Value>,
    key: &str,
    read: impl FnOnce(Option<&Value>) -> Result<T, Malformed>,
) -> Result<Option<T>, Malformed> {
    get(item, key).map(|value| read(Some(value))).transpose()
}

/// `options.evaluations_semantic` and `options.portcullis_context`.
fn options(options: Option<&Value>) -> Result<(Semantic, bool), Malformed> {
    let options = match options {
        None => return Ok((Semantic::ExecuteAll, false)),
        Some(Value::Object(options)) => options,
        Some(_) => return Err(Malformed::at("options", "must be an object")),
    };
    let semantic = match get(options, "evaluations_semantic") {
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
    let with_context = match get(options, "portcullis_context") {
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

fn entity(value: Option<&Value>, path: &str) -> Result<Entity, Malformed> {
    let entity = match value {
        Some(Value::Object(entity)) => entity,
        Some(_) => return Err(Malformed::at(path, "must be an object")),
        None => return Err(Malformed::at(path, "is required")),
    };
    Ok(Entity {
        kind: text(entity, "type", path)?,
        id: text(entity, "id", path)?,
        properties: object(get(entity, "properties"), &format!("{path}.properties"))?,
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
        properties: object(get(action, "properties"), &format!("{path}.properties"))?,
    })
}

/// A required, non-empty string of at most [`MAX_TEXT_BYTES`].
fn text(object: &Map<String, Value>, key: &str, path: &str) -> Result<String, Malformed> {
    let field = || format!("{path}.{key}");
    match get(object, key) {
        Some(Value::String(s)) if s.is_empty() => Err(Malformed::at(field(), "must not be empty")),
        Some(Value::String(s)) if s.len() > MAX_TEXT_BYTES => Err(Malformed::at(
            field(),
            format!("is longer than {MAX_TEXT_BYTES} bytes"),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Malformed::at(field(), "must be a string")),
        None => Err(Malformed::at(field(), "is required")),
    }
}

/// An optional object (empty when absent).
fn object(value: Option<&Value>, path: &str) -> Result<Map<String, Value>, Malformed> {
    match value {
        None => Ok(Map::new()),
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(_) => Err(Malformed::at(path, "must be an object")),
    }
}
