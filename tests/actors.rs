//! spanforge's actors through the public API: the standard matrix and its hierarchy, manifests
//! from code, YAML and verified JWTs (and every way a token is refused), and `authorize`
//! answered through the decision seam, seen by its observers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AUDIENCE, HS_SECRET, ISSUER, RSA_PUBLIC, b64, claims, forge, now, ring, rules};
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis::actors::{
    ActorError, ActorManifest, Actors, MANIFEST_METHOD, STANDARD_ROLE_MATRIX, StandardRole,
    standard_role_policy, standard_roles,
};
use portcullis::authz::{DecisionEvent, DecisionObserver, DecisionPoint};
use portcullis::rbac::Permission;
use portcullis::token::{Key, KeyRing, TokenRules};
use portcullis::{AuthGateway, Reason, Requirement, TokenRejection};
use serde_json::{Value, json};

// ---- the matrix ----------------------------------------------------------------------------

/// The roles held through the hierarchy when holding `slug`, by their matrix names, sorted.
fn through_hierarchy(roles: &[StandardRole], slug: &str) -> Vec<&'static str> {
    let mut held = Vec::new();
    let mut at = roles.iter().find(|r| r.slug == slug);
    while let Some(role) = at {
        assert!(!held.contains(&role.role), "cycle at {}", role.slug);
        held.push(role.role);
        at = role
            .parent
            .map(|p| roles.iter().find(|r| r.slug == p).expect("parent exists"));
    }
    held.sort_unstable();
    held
}

#[test]
fn every_actor_of_the_matrix_is_its_role_through_the_hierarchy() {
    let roles = standard_roles();
    assert_eq!(roles.len(), 10);
    for (key, matrix) in STANDARD_ROLE_MATRIX {
        let role = roles.iter().find(|r| r.role == key).expect(key);
        let mut expected = matrix.to_vec();
        expected.sort_unstable();
        assert_eq!(through_hierarchy(&roles, role.slug), expected, "{key}");
        // The manifest of a standard actor holds the same list.
        let manifest = ActorManifest::standard("x", key).unwrap();
        assert_eq!(manifest.roles(), expected, "{key}");
    }
    let machine = roles.iter().find(|r| r.role == "service_account").unwrap();
    assert_eq!(machine.slug, "service-account");
    assert_eq!(
        through_hierarchy(&roles, "service-account"),
        ["service_account"]
    );
}

#[test]
fn the_standard_policy_grants_each_lineage() {
    let policy = standard_role_policy();
    let can = |role: &str, p: &str| {
        policy
            .permissions_for(&[role.to_owned()])
            .allows(&Permission::parse(p).unwrap())
    };
    for role in ["viewer", "operator", "auditor", "deployer", "reviewer"] {
        assert!(
            can(role, "read:Ledger") && !can(role, "write:Ledger"),
            "{role}"
        );
    }
    for role in ["editor", "developer"] {
        assert!(
            can(role, "write:Ledger") && !can(role, "delete:Ledger"),
            "{role}"
        );
    }
    for role in ["admin", "superadmin"] {
        assert!(can(role, "delete:Ledger"), "{role}");
    }
    assert!(!can("service_account", "read:Ledger"));
    assert!(
        !can("service-account", "read:Ledger"),
        "the policy uses matrix names"
    );
}

// ---- manifests -----------------------------------------------------------------------------

#[test]
fn a_manifest_from_code_becomes_a_context() {
    let manifest = ActorManifest::new("case-worker-7")
        .role("claims_reviewer")
        .resource_role("claims", "claims_writer")
        .with_metadata("team", json!("claims"));
    manifest.validate().unwrap();
    let ctx = manifest.into_context();
    assert_eq!(ctx.subject(), "case-worker-7");
    assert_eq!(ctx.method(), MANIFEST_METHOD);
    assert_eq!(ctx.roles(), ["claims_reviewer"]);
    assert_eq!(ctx.resource_roles("claims"), ["claims_writer"]);
    assert!(ctx.resource_roles("payments").is_empty());
    assert_eq!(ctx.claims()["team"], "claims");
}

#[cfg(feature = "yaml")]
#[test]
fn a_manifest_from_yaml() {
    let manifest = ActorManifest::from_yaml(
        "actor_id: alice\nroles:\n  - admin\n  - viewer\nresource_roles:\n  claims:\n    - editor\n",
    )
    .unwrap();
    assert_eq!(manifest.actor_id(), "alice");
    assert_eq!(manifest.roles(), ["admin", "viewer"]);
    assert_eq!(manifest.resource_roles()["claims"], ["editor"]);
    assert!(matches!(
        ActorManifest::from_yaml("actor_id: alice\nverify: false\n"),
        Err(ActorError::Yaml(_))
    ));
}

#[cfg(feature = "yaml")]
#[test]
fn oversized_yaml_is_refused_unparsed() {
    // Not YAML at all: only a refusal before parsing can say "too large" about it.
    let text = format!("[{}", "{".repeat(portcullis::actors::MAX_MANIFEST_BYTES));
    assert_eq!(ActorManifest::from_yaml(&text), Err(ActorError::TooLarge));
    let just_under = format!("[{}", "{".repeat(100));
    assert!(matches!(
        ActorManifest::from_yaml(&just_under),
        Err(ActorError::Yaml(_))
    ));
}

fn hs_token(claims: &Value) -> String {
    forge(
        json!({"alg": "HS256", "typ": "JWT", "kid": "hs"}),
        claims.clone(),
        &EncodingKey::from_secret(HS_SECRET),
        Algorithm::HS256,
    )
}

fn bot_claims() -> Value {
    let mut c = claims("bot-1", &["service_account"]);
    c["resource_roles"] = json!({"builds": ["deployer"]});
    c["team"] = json!("ci");
    c
}

#[test]
fn a_manifest_from_a_verified_jwt() {
    let manifest = ActorManifest::from_jwt(&hs_token(&bot_claims()), &ring(), &rules()).unwrap();
    assert_eq!(manifest.actor_id(), "bot-1");
    assert_eq!(manifest.roles(), ["service_account"]);
    assert_eq!(manifest.resource_roles()["builds"], ["deployer"]);
    assert_eq!(manifest.metadata()["team"], "ci");
    assert_eq!(manifest.metadata()["iss"], ISSUER);
    assert!(!manifest.metadata().contains_key("sub"));
    assert!(!manifest.metadata().contains_key("roles"));
}

/// Every way a token must be refused, with the verifier's reason.
#[test]
fn tokens_that_do_not_verify_are_refused() {
    let ring = ring();
    let refused = |token: &str| ActorManifest::from_jwt(token, &ring, &rules()).unwrap_err();
    let good = hs_token(&bot_claims());
    assert!(ActorManifest::from_jwt(&good, &ring, &rules()).is_ok());

    // A key the ring does not hold: an unknown kid, or the ring's kid with another secret.
    let elsewhere = Key::generate_hmac("other", Algorithm::HS256).unwrap();
    let other_ring = KeyRing::single(elsewhere);
    let foreign = portcullis::token::TokenIssuer::new(other_ring)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .issue(&portcullis::token::TokenClaims::new("bot-1").roles(["superadmin"]))
        .unwrap();
    assert_eq!(
        refused(&foreign),
        ActorError::Token(TokenRejection::UnknownKey)
    );
    let wrong_secret = forge(
        json!({"alg": "HS256", "kid": "hs"}),
        bot_claims(),
        &EncodingKey::from_secret(b"another secret of at least 32 bytes, really"),
        Algorithm::HS256,
    );
    assert_eq!(
        refused(&wrong_secret),
        ActorError::Token(TokenRejection::BadSignature)
    );
    let no_kid = forge(
        json!({"alg": "HS256"}),
        bot_claims(),
        &EncodingKey::from_secret(HS_SECRET),
        Algorithm::HS256,
    );
    assert_eq!(
        refused(&no_kid),
        ActorError::Token(TokenRejection::UnknownKey)
    );

    // An algorithm other than the key's: HS384 with the right secret; HS256 keyed with the RSA
    // public key (key confusion).
    let hs384 = forge(
        json!({"alg": "HS384", "kid": "hs"}),
        bot_claims(),
        &EncodingKey::from_secret(HS_SECRET),
        Algorithm::HS384,
    );
    assert_eq!(
        refused(&hs384),
        ActorError::Token(TokenRejection::AlgorithmMismatch)
    );
    let confused = forge(
        json!({"alg": "HS256", "kid": "rs"}),
        bot_claims(),
        &EncodingKey::from_secret(RSA_PUBLIC),
        Algorithm::HS256,
    );
    assert_eq!(
        refused(&confused),
        ActorError::Token(TokenRejection::AlgorithmMismatch)
    );

    // `alg: none`, with no signature or with junk.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "hs"})),
        b64(&bot_claims())
    );
    assert_eq!(
        refused(&none),
        ActorError::Token(TokenRejection::BadSignature)
    );
    let none_junk = format!("{}AAAA", none);
    assert!(matches!(refused(&none_junk), ActorError::Token(_)));

    // A payload changed after signing (roles raised to superadmin), signature kept.
    let (header, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut raised = bot_claims();
    raised["roles"] = json!(["superadmin"]);
    let tampered = format!("{header}.{}.{signature}", b64(&raised));
    assert_eq!(
        refused(&tampered),
        ActorError::Token(TokenRejection::BadSignature)
    );
    // A flipped bit of the signature.
    let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    raw[3] ^= 0x10;
    let flipped = format!(
        "{header}.{}.{}",
        rest.split_once('.').unwrap().0,
        URL_SAFE_NO_PAD.encode(raw)
    );
    assert_eq!(
        refused(&flipped),
        ActorError::Token(TokenRejection::BadSignature)
    );

    // Expired, and without `exp` at all.
    let mut expired = bot_claims();
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 7200);
    expired["nbf"] = json!(now() - 7200);
    assert_eq!(
        refused(&hs_token(&expired)),
        ActorError::Token(TokenRejection::Expired)
    );
    let mut eternal = bot_claims();
    eternal.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        refused(&hs_token(&eternal)),
        ActorError::Token(TokenRejection::MissingExpiry)
    );

    // Another issuer, another audience, or none where one is required.
    let mut other_iss = bot_claims();
    other_iss["iss"] = json!("https://evil.test");
    assert_eq!(
        refused(&hs_token(&other_iss)),
        ActorError::Token(TokenRejection::WrongIssuer)
    );
    let mut other_aud = bot_claims();
    other_aud["aud"] = json!("another-api");
    assert_eq!(
        refused(&hs_token(&other_aud)),
        ActorError::Token(TokenRejection::WrongAudience)
    );
    let mut no_aud = bot_claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        refused(&hs_token(&no_aud)),
        ActorError::Token(TokenRejection::WrongAudience)
    );

    // No `sub`: no actor.
    let mut anonymous = bot_claims();
    anonymous.as_object_mut().unwrap().remove("sub");
    assert_eq!(
        refused(&hs_token(&anonymous)),
        ActorError::Token(TokenRejection::BadClaims)
    );

    // Nothing verifies against an empty ring: there is no fallback key.
    assert_eq!(
        ActorManifest::from_jwt(&good, &KeyRing::new(), &rules()).unwrap_err(),
        ActorError::Token(TokenRejection::UnknownKey)
    );
}

#[test]
fn oversized_tokens_are_refused_unparsed() {
    // Not a token at all (a space is outside the token alphabet): only the size check, made
    // first, can say "too large".
    let junk = " ".repeat(8 * 1024 + 1);
    assert_eq!(
        ActorManifest::from_jwt(&junk, &ring(), &rules()),
        Err(ActorError::Token(TokenRejection::TooLarge))
    );
    let small = TokenRules::new()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .max_token_bytes(64);
    assert_eq!(
        ActorManifest::from_jwt(&hs_token(&bot_claims()), &ring(), &small),
        Err(ActorError::Token(TokenRejection::TooLarge))
    );
}

// ---- authorize through the seam ------------------------------------------------------------

/// What an observer saw of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    subject: String,
    required: String,
    resource: Option<String>,
    reason: &'static str,
}

fn recording() -> (
    Arc<Mutex<Vec<Seen>>>,
    impl Fn(&DecisionEvent<'_>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let observer = move |event: &DecisionEvent<'_>| {
        log.lock().unwrap().push(Seen {
            subject: event.context().subject().to_owned(),
            required: event.required().to_string(),
            resource: event
                .decision()
                .scope()
                .resource()
                .map(|r| r.kind().to_owned()),
            reason: event.decision().reason().code(),
        });
    };
    (seen, observer)
}

fn seen(subject: &str, required: &str, resource: Option<&str>, reason: &'static str) -> Seen {
    Seen {
        subject: subject.into(),
        required: required.into(),
        resource: resource.map(Into::into),
        reason,
    }
}

fn registry() -> Actors {
    let actors = Actors::new();
    actors
        .register(
            ActorManifest::new("case-worker-7")
                .role("claims_reviewer")
                .resource_role("claims", "claims_writer"),
        )
        .unwrap();
    actors
        .register(ActorManifest::standard("alice", "admin").unwrap())
        .unwrap();
    actors
}

#[tokio::test]
async fn authorize_answers_through_the_seam_and_observers_see_each_decision() {
    let (log, observer) = recording();
    let decisions = DecisionPoint::new(None, vec![Arc::new(observer)]);
    let actors = registry();

    let reason = |d: portcullis::authz::Decision| d.reason();
    // Allowed by global roles.
    let global = actors
        .authorize(&decisions, "alice", None, &["viewer", "admin"])
        .await
        .unwrap();
    assert_eq!(reason(global), Reason::Allow);
    // Allowed by a role held for the resource, beside a global one.
    let on_claims = actors
        .authorize(
            &decisions,
            "case-worker-7",
            Some("claims"),
            &["claims_reviewer", "claims_writer"],
        )
        .await
        .unwrap();
    assert_eq!(reason(on_claims), Reason::Allow);
    // The resource role counts for its resource only.
    let elsewhere = actors
        .authorize(
            &decisions,
            "case-worker-7",
            Some("payments"),
            &["claims_reviewer", "claims_writer"],
        )
        .await
        .unwrap();
    assert_eq!(reason(elsewhere), Reason::DenyMissingRoles);
    // One role missing of two.
    let missing = actors
        .authorize(&decisions, "alice", None, &["admin", "superadmin"])
        .await
        .unwrap();
    assert_eq!(reason(missing), Reason::DenyMissingRoles);
    // An actor nobody registered.
    let unknown = actors
        .authorize(&decisions, "mallory", Some("claims"), &["viewer"])
        .await
        .unwrap();
    assert!(!unknown.is_allowed());
    assert_eq!(reason(unknown), Reason::DenyNoRoles);

    assert_eq!(
        *log.lock().unwrap(),
        [
            seen("alice", "roles viewer, admin", None, "allow"),
            seen(
                "case-worker-7",
                "roles claims_reviewer, claims_writer",
                Some("claims"),
                "allow"
            ),
            seen(
                "case-worker-7",
                "roles claims_reviewer, claims_writer",
                Some("payments"),
                "deny_missing_roles"
            ),
            seen(
                "alice",
                "roles admin, superadmin",
                None,
                "deny_missing_roles"
            ),
            seen("mallory", "roles viewer", Some("claims"), "deny_no_roles"),
        ]
    );

    // A malformed question is an error, not a decision: no observer sees it.
    assert_eq!(
        actors.authorize(&decisions, "alice", None, &[]).await,
        Err(ActorError::NoRolesRequired)
    );
    assert_eq!(log.lock().unwrap().len(), 5);
}

/// An observer that wants matches gets each required role with where it is held.
struct Matches(Arc<Mutex<Vec<String>>>);

impl DecisionObserver for Matches {
    fn observe(&self, event: &DecisionEvent<'_>) {
        if let Some(m) = event.decision().matched() {
            self.0.lock().unwrap().push(m.grant().to_owned());
        }
    }

    fn wants_matches(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_gateways_seam_answers_and_explains() {
    let matched = Arc::new(Mutex::new(Vec::new()));
    let (log, observer) = recording();
    let layer = AuthGateway::new()
        .strategy(portcullis::strategy::BearerStrategy::new(ring(), rules()))
        .observe(observer)
        .observe(Matches(matched.clone()))
        .build()
        .unwrap();
    let decisions = layer.decision_point();
    let actors = registry();
    let d = actors
        .authorize(
            &decisions,
            "case-worker-7",
            Some("claims"),
            &["claims_writer", "claims_reviewer"],
        )
        .await
        .unwrap();
    assert!(d.is_allowed());
    assert_eq!(
        *matched.lock().unwrap(),
        ["claims/claims_writer, claims_reviewer"]
    );
    assert_eq!(log.lock().unwrap().len(), 1);

    // `explain` fills in what matched and is shown to no observer.
    let why = actors
        .explain(&decisions, "alice", None, &["admin"])
        .await
        .unwrap();
    assert_eq!(
        why.matched().map(|m| (m.role(), m.grant())),
        Some((None, "admin"))
    );
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_jwt_actor_registered_and_authorized() {
    let (log, observer) = recording();
    let decisions = DecisionPoint::new(None, vec![Arc::new(observer)]);
    let actors = Actors::new();
    let manifest = ActorManifest::from_jwt(&hs_token(&bot_claims()), &ring(), &rules()).unwrap();
    actors.register(manifest).unwrap();
    let deploy = actors
        .authorize(&decisions, "bot-1", Some("builds"), &["deployer"])
        .await
        .unwrap();
    assert!(deploy.is_allowed());
    let admin = actors
        .authorize(&decisions, "bot-1", Some("builds"), &["admin"])
        .await
        .unwrap();
    assert_eq!(admin.reason(), Reason::DenyMissingRoles);
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .map(|s| s.reason)
            .collect::<Vec<_>>(),
        ["allow", "deny_missing_roles"]
    );
    // What the seam was asked is the requirement authorize built.
    let required = Requirement::Roles(vec!["deployer".to_owned()].into());
    assert_eq!(log.lock().unwrap()[0].required, required.to_string());
}
