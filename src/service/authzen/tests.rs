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
    let first = batch.question(0).unwrap_or_else(|m| panic!("{m:?}"));
    assert_eq!(first.subject.id, "ada");
    assert_eq!(first.subject.properties["department"], "sales");
    assert_eq!(first.context["time"], "morning");
    let second = batch.question(1).unwrap_or_else(|m| panic!("{m:?}"));
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
    assert!(batch.question(0).is_ok());
    let fields: Vec<String> = (1..batch.items.len())
        .map(|at| {
            batch
                .question(at)
                .map(|_| String::new())
                .unwrap_or_else(|m| m.field)
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
fn a_bad_default_fails_only_the_items_that_inherit_it() {
    let asked = wire::evaluations(&body(json!({
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "resource": {},
        "evaluations": [
            {"resource": {"type": "doc", "id": "1"}},
            {},
        ],
    })));
    let Ok(Asked::Many(batch)) = asked else {
        panic!("a batch: {asked:?}")
    };
    assert!(batch.question(0).is_ok());
    assert_eq!(
        batch
            .question(1)
            .map(|_| ())
            .err()
            .map(|m| m.field)
            .unwrap_or_default(),
        "resource.type"
    );
}

#[test]
fn a_batchs_defaults_are_lent_to_its_items_not_copied() {
    let asked = wire::evaluations(&body(json!({
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "context": {"big": vec![0; 1000]},
        "evaluations": vec![json!({"resource": {"type": "doc", "id": "1"}}); 3],
    })));
    let Ok(Asked::Many(batch)) = asked else {
        panic!("a batch: {asked:?}")
    };
    let contexts: Vec<_> = (0..3)
        .map(|at| {
            std::ptr::from_ref(
                batch
                    .question(at)
                    .map(|q| q.context)
                    .unwrap_or_else(|m| panic!("{m:?}")),
            )
        })
        .collect();
    assert!(contexts.iter().all(|c| std::ptr::eq(*c, contexts[0])));
}

#[test]
fn a_bad_option_or_item_list_refuses_the_whole_request() {
    let refused = |value: Value| match wire::evaluations(&body(value)) {
        Err(malformed) => malformed.field,
        Ok(asked) => panic!("accepted {asked:?}"),
    };
    let items = json!([{"resource": {"type": "doc", "id": "1"}}]);
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
    for evaluations in [None, Some(json!([])), Some(Value::Null)] {
        let mut request = single.clone();
        if let Some(items) = evaluations {
            request["evaluations"] = items;
        }
        request["options"] = Value::Null;
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
