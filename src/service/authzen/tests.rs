//! The reading of requests, field by field (the HTTP behaviour is in `tests/authzen.rs`).

use serde_json::{Value, json};

use super::wire::{self, Asked, Semantic};

fn body(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("a test body is an object"),
    }
}

fn malformed_field(value: Value) -> String {
    match wire::evaluation(&body(value)) {
        Err(malformed) => malformed.field,
        Ok(question) => panic!("accepted {question:?}"),
    }
}

#[test]
fn every_required_field_is_named_when_missing_or_mistyped() {
    let whole = json!({
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "resource": {"type": "doc", "id": "1"},
    });
    assert!(wire::evaluation(&body(whole.clone())).is_ok());
    let cases = [
        ("/subject", Value::Null, "subject"),
        ("/subject", json!("ada"), "subject"),
        ("/subject/type", Value::Null, "subject.type"),
        ("/subject/id", json!(7), "subject.id"),
        ("/subject/id", json!(""), "subject.id"),
        ("/subject/id", json!("x".repeat(1025)), "subject.id"),
        ("/action/name", json!(123), "action.name"),
        ("/action/properties", json!([]), "action.properties"),
        ("/resource", Value::Null, "resource"),
        (
            "/resource/properties",
            json!("owner"),
            "resource.properties",
        ),
    ];
    for (pointer, replacement, field) in cases {
        let mut broken = whole.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        let target = if parent.is_empty() {
            broken.as_object_mut()
        } else {
            broken.pointer_mut(parent).and_then(Value::as_object_mut)
        };
        let target = target.unwrap_or_else(|| panic!("{pointer} has a parent"));
        if replacement.is_null() {
            target.remove(key);
        } else {
            target.insert(key.to_owned(), replacement);
        }
        assert_eq!(malformed_field(broken), field, "{pointer}");
    }
    let mut with_context = whole;
    with_context["context"] = json!("morning");
    assert_eq!(malformed_field(with_context), "context");
}

#[test]
fn an_items_own_entity_replaces_the_default_whole() {
    let asked = wire::evaluations(&body(json!({
        "subject": {"type": "user", "id": "ada", "properties": {"department": "sales"}},
        "action": {"name": "read"},
        "context": {"time": "morning"},
        "evaluations": [
            {"resource": {"type": "doc", "id": "1"}},
            {"subject": {"type": "user", "id": "bob"}, "resource": {"type": "doc", "id": "2"},
             "context": {"time": "night"}},
        ],
    })));
    let Ok(Asked::Many(batch)) = asked else {
        panic!("a batch: {asked:?}")
    };
    assert_eq!(batch.semantic, Semantic::ExecuteAll);
    let first = batch.items[0].as_ref().unwrap_or_else(|m| panic!("{m:?}"));
    assert_eq!(first.subject.id, "ada");
    assert_eq!(first.subject.properties["department"], "sales");
    assert_eq!(first.context["time"], "morning");
    let second = batch.items[1].as_ref().unwrap_or_else(|m| panic!("{m:?}"));
    // Not merged: bob does not inherit ada's department.
    assert_eq!(second.subject.id, "bob");
    assert!(second.subject.properties.is_empty());
    assert_eq!(second.context["time"], "night");
}

#[test]
fn an_invalid_item_is_its_own_failure_and_the_others_stand() {
    let asked = wire::evaluations(&body(json!({
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "evaluations": [
            {"resource": {"type": "doc", "id": "1"}},
            {},
            "not an object",
            {"resource": {"type": "doc"}},
        ],
    })));
    let Ok(Asked::Many(batch)) = asked else {
        panic!("a batch: {asked:?}")
    };
    assert!(batch.items[0].is_ok());
    let fields: Vec<String> = batch.items[1..]
        .iter()
        .map(|item| {
            item.as_ref()
                .map(|_| String::new())
                .unwrap_or_else(|m| m.field.clone())
        })
        .collect();
    assert_eq!(
        fields,
        [
            "evaluations[1].resource",
            "evaluations[2]",
            "evaluations[3].resource.id"
        ]
    );
}

#[test]
fn a_bad_default_or_option_refuses_the_whole_request() {
    let refused = |value: Value| match wire::evaluations(&body(value)) {
        Err(malformed) => malformed.field,
        Ok(asked) => panic!("accepted {asked:?}"),
    };
    let items = json!([{"resource": {"type": "doc", "id": "1"}}]);
    assert_eq!(
        refused(
            json!({"subject": {"type": "user"}, "action": {"name": "r"}, "evaluations": items})
        ),
        "subject.id"
    );
    assert_eq!(
        refused(
            json!({"options": {"evaluations_semantic": "first_past_the_post"}, "evaluations": items})
        ),
        "options.evaluations_semantic"
    );
    assert_eq!(refused(json!({"evaluations": {"0": {}}})), "evaluations");
    let too_many = vec![json!({}); super::MAX_EVALUATIONS + 1];
    assert_eq!(refused(json!({"evaluations": too_many})), "evaluations");
}

#[test]
fn without_items_the_top_level_is_the_question() {
    let single = json!({
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "resource": {"type": "doc", "id": "1"},
    });
    for evaluations in [None, Some(json!([]))] {
        let mut request = single.clone();
        if let Some(items) = evaluations {
            request["evaluations"] = items;
        }
        assert!(matches!(
            wire::evaluations(&body(request)),
            Ok(Asked::One(_))
        ));
    }
}

#[test]
fn the_semantics_stop_where_the_specification_says() {
    assert!(!Semantic::ExecuteAll.stops_after(false));
    assert!(!Semantic::ExecuteAll.stops_after(true));
    assert!(Semantic::DenyOnFirstDeny.stops_after(false));
    assert!(!Semantic::DenyOnFirstDeny.stops_after(true));
    assert!(Semantic::PermitOnFirstPermit.stops_after(true));
    assert!(!Semantic::PermitOnFirstPermit.stops_after(false));
}
