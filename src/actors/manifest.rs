//! Actor manifests: who an actor is and which roles it holds, globally and per resource.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    ActorError, MAX_ACTOR_ID_LEN, MAX_ACTOR_RESOURCES, MAX_ACTOR_ROLES, matrix::matrix_roles,
};
use crate::authz::Resource;
use crate::context::{AuthMethod, UserContext};
use crate::token::{KeyRing, TokenRules, TokenVerifier};

/// The [`AuthMethod`] of the contexts made from manifests.
pub const MANIFEST_METHOD: AuthMethod = AuthMethod::Custom("manifest");

/// The claim a token's global roles are read from.
const ROLES_CLAIM: &str = "roles";
/// The claim a token's per-resource roles are read from.
const RESOURCE_ROLES_CLAIM: &str = "resource_roles";

/// One actor (a person, a service, a CI job) and the roles it holds: globally (`roles`) and for
/// one kind of resource only (`resource_roles`: `claims` → `[claims_writer]`), with whatever
/// else is known about it (`metadata`). spanforge's `RBACManifest`.
///
/// Made from code (below), from YAML ([`from_yaml`](Self::from_yaml), feature `yaml`) or from a
/// verified JWT ([`from_jwt`](Self::from_jwt)). Role lists are kept sorted and free of
/// duplicates. The builder methods do not check anything: [`validate`](Self::validate) does,
/// and so do [`Actors::register`](super::Actors::register) and the YAML and JWT constructors,
/// so no manifest that breaks the bounds gets registered:
///
/// - the actor id is 1 to [`MAX_ACTOR_ID_LEN`] bytes of printable ASCII without spaces;
/// - role names are role names ([`MAX_ROLE_NAME_LEN`](crate::rbac::MAX_ROLE_NAME_LEN) bytes of
///   letters, digits, `_`, `.`, `:`, `-`), at most [`MAX_ACTOR_ROLES`] globally and per resource;
/// - resources are resource types (`^[a-z][a-z0-9_-]{0,63}$`, as in
///   [`Scope::on`](crate::authz::Scope::on)), at most [`MAX_ACTOR_RESOURCES`].
///
/// ```
/// use portcullis::actors::ActorManifest;
///
/// let manifest = ActorManifest::new("case-worker-7")
///     .role("claims_reviewer")
///     .resource_role("claims", "claims_writer");
/// manifest.validate()?;
/// assert_eq!(manifest.roles(), ["claims_reviewer"]);
/// assert_eq!(manifest.resource_roles()["claims"], ["claims_writer"]);
///
/// let ctx = manifest.into_context();
/// assert_eq!(ctx.subject(), "case-worker-7");
/// assert_eq!(ctx.resource_roles("claims"), ["claims_writer"]);
/// # Ok::<(), portcullis::actors::ActorError>(())
/// ```
#[derive(Clone, PartialEq, Serialize)]
pub struct ActorManifest {
    actor_id: String,
    roles: Vec<String>,
    resource_roles: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    metadata: Map<String, Value>,
}

impl fmt::Debug for ActorManifest {
    /// Shows the metadata's keys only: a token's claims may be worth keeping out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.metadata.keys().map(String::as_str).collect();
        f.debug_struct("ActorManifest")
            .field("actor_id", &self.actor_id)
            .field("roles", &self.roles)
            .field("resource_roles", &self.resource_roles)
            .field("metadata", &keys)
            .finish()
    }
}

/// Inserts `role` into a sorted list unless it is there.
fn insert_sorted(list: &mut Vec<String>, role: String) {
    if let Err(at) = list.binary_search(&role) {
        list.insert(at, role);
    }
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort_unstable();
    list.dedup();
    list
}

/// At most 80 characters of a refused value, for an error message.
pub(super) fn excerpt(text: &str) -> String {
    text.chars().take(80).collect()
}

pub(super) fn check_actor_id(id: &str) -> Result<(), ActorError> {
    let ok =
        !id.is_empty() && id.len() <= MAX_ACTOR_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ActorError::InvalidActorId)
    }
}

pub(super) fn check_role(role: &str) -> Result<(), ActorError> {
    crate::rbac::check_role_name(role).map_err(|_| ActorError::InvalidRole(excerpt(role)))
}

fn check_resource(kind: &str) -> Result<(), ActorError> {
    Resource::new(kind, None)
        .map(drop)
        .map_err(|_| ActorError::InvalidResource(excerpt(kind)))
}

fn check_roles(roles: &[String]) -> Result<(), ActorError> {
    if roles.len() > MAX_ACTOR_ROLES {
        return Err(ActorError::TooManyRoles);
    }
    roles.iter().try_for_each(|r| check_role(r))
}

impl ActorManifest {
    /// A manifest for `actor_id`, holding no role yet.
    pub fn new(actor_id: impl Into<String>) -> Self {
        Self {
            actor_id: actor_id.into(),
            roles: Vec::new(),
            resource_roles: BTreeMap::new(),
            metadata: Map::new(),
        }
    }

    /// A manifest for `actor_id` holding the roles of one actor of the
    /// [`STANDARD_ROLE_MATRIX`](super::STANDARD_ROLE_MATRIX) (`"developer"`: viewer, editor,
    /// developer); `None` for a key the matrix does not have.
    ///
    /// ```
    /// use portcullis::actors::ActorManifest;
    ///
    /// let ci = ActorManifest::standard("ci-runner", "deployer").unwrap();
    /// assert_eq!(ci.roles(), ["deployer", "viewer"]);
    /// assert!(ActorManifest::standard("ci-runner", "root").is_none());
    /// ```
    pub fn standard(actor_id: impl Into<String>, actor: &str) -> Option<Self> {
        matrix_roles(actor).map(|roles| Self::new(actor_id).with_roles(roles.iter().copied()))
    }

    /// Adds a global role.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        insert_sorted(&mut self.roles, role.into());
        self
    }

    /// Adds global roles.
    pub fn with_roles<I, S>(self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        roles.into_iter().fold(self, Self::role)
    }

    /// Adds a role held for one kind of resource only (`claims` → `claims_writer`): a check
    /// about that resource counts it beside the global roles.
    pub fn resource_role(mut self, resource: impl Into<String>, role: impl Into<String>) -> Self {
        insert_sorted(
            self.resource_roles.entry(resource.into()).or_default(),
            role.into(),
        );
        self
    }

    /// Keeps a value with the manifest (a JWT's remaining claims land here); the
    /// [context](Self::into_context) carries it as a claim.
    pub fn with_metadata(mut self, key: impl Into<String>, value: Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// The actor's id.
    pub fn actor_id(&self) -> &str {
        &self.actor_id
    }

    /// The global roles, sorted.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The roles held per resource, each list sorted.
    pub fn resource_roles(&self) -> &BTreeMap<String, Vec<String>> {
        &self.resource_roles
    }

    /// What else is known about the actor.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// Checks the manifest against the bounds of the type's docs.
    ///
    /// ```
    /// use portcullis::actors::{ActorError, ActorManifest};
    ///
    /// assert!(ActorManifest::new("bot-1").role("viewer").validate().is_ok());
    /// assert_eq!(ActorManifest::new("").validate(), Err(ActorError::InvalidActorId));
    /// assert!(matches!(
    ///     ActorManifest::new("bot-1").role("has space").validate(),
    ///     Err(ActorError::InvalidRole(_))
    /// ));
    /// assert!(matches!(
    ///     ActorManifest::new("bot-1").resource_role("Claims", "writer").validate(),
    ///     Err(ActorError::InvalidResource(_))
    /// ));
    /// ```
    pub fn validate(&self) -> Result<(), ActorError> {
        check_actor_id(&self.actor_id)?;
        check_roles(&self.roles)?;
        if self.resource_roles.len() > MAX_ACTOR_RESOURCES {
            return Err(ActorError::TooManyResources);
        }
        for (resource, roles) in &self.resource_roles {
            check_resource(resource)?;
            check_roles(roles)?;
        }
        Ok(())
    }

    /// The manifest of a YAML document (spanforge's `register_actor_from_yaml`), checked:
    ///
    /// ```yaml
    /// actor_id: alice
    /// roles: [admin, viewer]
    /// resource_roles:
    ///   claims: [editor]
    /// metadata:          # optional, any mapping
    ///   team: claims
    /// ```
    ///
    /// `actor_id` is required; unknown keys are refused (a misspelt `resource_role` must not
    /// silently hold nothing); a text longer than [`MAX_MANIFEST_BYTES`](super::MAX_MANIFEST_BYTES)
    /// is refused before it is parsed.
    ///
    /// ```
    /// use portcullis::actors::ActorManifest;
    ///
    /// let manifest = ActorManifest::from_yaml("
    /// actor_id: alice
    /// roles: [admin, viewer]
    /// resource_roles:
    ///   claims: [editor]
    /// ")?;
    /// assert_eq!(manifest.roles(), ["admin", "viewer"]);
    /// assert!(ActorManifest::from_yaml("actor_id: alice\nrole: [admin]\n").is_err());
    /// # Ok::<(), portcullis::actors::ActorError>(())
    /// ```
    #[cfg(feature = "yaml")]
    pub fn from_yaml(text: &str) -> Result<Self, ActorError> {
        use super::MAX_MANIFEST_BYTES;

        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            actor_id: String,
            #[serde(default)]
            roles: Vec<String>,
            #[serde(default)]
            resource_roles: BTreeMap<String, Vec<String>>,
            #[serde(default)]
            metadata: Map<String, Value>,
        }

        if text.len() > MAX_MANIFEST_BYTES {
            return Err(ActorError::TooLarge);
        }
        let raw: Raw = serde_norway::from_str(text).map_err(|e| ActorError::Yaml(e.to_string()))?;
        let manifest = Self {
            actor_id: raw.actor_id,
            roles: sorted(raw.roles),
            resource_roles: raw
                .resource_roles
                .into_iter()
                .filter(|(_, roles)| !roles.is_empty())
                .map(|(resource, roles)| (resource, sorted(roles)))
                .collect(),
            metadata: raw.metadata,
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest a JWT carries (spanforge's `register_actor_from_jwt`), **verified** by the
    /// crate's [`TokenVerifier`] over `ring` and `rules`: the key chosen by `kid`, the header's
    /// `alg` equal to that key's, the signature checked, `exp` required, `nbf`, `iss` and `aud`
    /// as `rules` say, the token's size capped before anything is parsed. There is no way to
    /// read a token without verifying it, and no fallback key.
    ///
    /// `sub` becomes the actor id, the `roles` claim (an array of strings) the global roles, the
    /// `resource_roles` claim (an object of arrays of strings) the per-resource roles, and every
    /// other claim (`iss`, `exp`, `jti`…) the metadata. Either role claim may be absent; a claim
    /// of the wrong shape refuses the token ([`ActorError::BadClaim`]).
    ///
    /// ```
    /// use portcullis::actors::ActorManifest;
    /// use portcullis::token::{Key, KeyRing, TokenClaims, TokenIssuer, TokenRules};
    ///
    /// let ring = KeyRing::single(Key::generate_ed25519("k1")?);
    /// let token = TokenIssuer::new(ring.clone()).issuer("ci").audience("rbac").issue(
    ///     &TokenClaims::new("bot-1")
    ///         .roles(["service_account"])
    ///         .claim("resource_roles", serde_json::json!({"builds": ["deployer"]})),
    /// )?;
    /// let rules = TokenRules::new().issuer("ci").audience("rbac");
    /// let manifest = ActorManifest::from_jwt(&token, &ring, &rules)?;
    /// assert_eq!(manifest.actor_id(), "bot-1");
    /// assert_eq!(manifest.roles(), ["service_account"]);
    /// assert_eq!(manifest.resource_roles()["builds"], ["deployer"]);
    /// assert_eq!(manifest.metadata()["iss"], "ci");
    ///
    /// // Another audience's rules refuse it.
    /// assert!(ActorManifest::from_jwt(&token, &ring, &TokenRules::new().issuer("ci").audience("web")).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwt(token: &str, ring: &KeyRing, rules: &TokenRules) -> Result<Self, ActorError> {
        Self::from_verified_jwt(token, &TokenVerifier::new(ring.clone(), rules.clone()))
    }

    /// [`from_jwt`](Self::from_jwt) with a verifier you keep (it prepares its validation rules
    /// once, when made).
    pub fn from_verified_jwt(token: &str, verifier: &TokenVerifier) -> Result<Self, ActorError> {
        let mut claims = verifier.verify(token).map_err(ActorError::Token)?.claims;
        // The verifier refuses a token without a non-empty string `sub`.
        let actor_id = match claims.remove("sub") {
            Some(Value::String(sub)) => sub,
            _ => return Err(ActorError::BadClaim("sub")),
        };
        let roles = match claims.remove(ROLES_CLAIM) {
            None => Vec::new(),
            Some(value) => sorted(string_list(value, ROLES_CLAIM)?),
        };
        let resource_roles = match claims.remove(RESOURCE_ROLES_CLAIM) {
            None => BTreeMap::new(),
            Some(Value::Object(map)) => {
                if map.len() > MAX_ACTOR_RESOURCES {
                    return Err(ActorError::TooManyResources);
                }
                let mut out = BTreeMap::new();
                for (resource, roles) in map {
                    let roles = sorted(string_list(roles, RESOURCE_ROLES_CLAIM)?);
                    if !roles.is_empty() {
                        out.insert(resource, roles);
                    }
                }
                out
            }
            Some(_) => return Err(ActorError::BadClaim(RESOURCE_ROLES_CLAIM)),
        };
        let manifest = Self {
            actor_id,
            roles,
            resource_roles,
            metadata: claims,
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// The context of the actor, as the decision seam sees it: subject the actor id, method
    /// [`MANIFEST_METHOD`] (`Custom("manifest")`), the global roles, the per-resource roles and
    /// the metadata as claims. No permissions: enrich it with a role policy (such as
    /// [`standard_role_policy`](super::standard_role_policy)) if permission checks are to be
    /// asked about it too.
    pub fn into_context(self) -> UserContext {
        let mut ctx = UserContext::new(self.actor_id, MANIFEST_METHOD).with_roles(self.roles);
        for (resource, roles) in self.resource_roles {
            ctx = ctx.with_resource_roles(resource, roles);
        }
        for (name, value) in self.metadata {
            ctx = ctx.with_claim(name, value);
        }
        ctx
    }
}

/// A claim that must be an array of at most [`MAX_ACTOR_ROLES`] strings.
fn string_list(value: Value, claim: &'static str) -> Result<Vec<String>, ActorError> {
    let Value::Array(items) = value else {
        return Err(ActorError::BadClaim(claim));
    };
    if items.len() > MAX_ACTOR_ROLES {
        return Err(ActorError::TooManyRoles);
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s),
            _ => Err(ActorError::BadClaim(claim)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TokenRejection;
    use crate::token::{Key, TokenClaims, TokenIssuer};
    use serde_json::json;

    fn ok<T, E: fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn built_from_code_sorted_and_checked() {
        let m = ActorManifest::new("case-worker-7")
            .role("viewer")
            .role("admin")
            .role("viewer")
            .resource_role("claims", "writer")
            .resource_role("claims", "reader")
            .resource_role("claims", "writer")
            .with_metadata("team", json!("claims"));
        assert_eq!(m.roles(), ["admin", "viewer"]);
        assert_eq!(m.resource_roles()["claims"], ["reader", "writer"]);
        ok(m.validate());
        let ctx = m.clone().into_context();
        assert_eq!(ctx.subject(), "case-worker-7");
        assert_eq!(ctx.method(), MANIFEST_METHOD);
        assert_eq!(ctx.roles(), ["admin", "viewer"]);
        assert_eq!(ctx.resource_roles("claims"), ["reader", "writer"]);
        assert_eq!(ctx.claims()["team"], "claims");
        assert!(
            !format!("{m:?}").contains("\"claims\"\""),
            "metadata values stay out"
        );
    }

    #[test]
    fn bounds() {
        let id_ok = |id: &str| ActorManifest::new(id).validate().is_ok();
        assert!(id_ok("a") && id_ok(&"x".repeat(256)) && id_ok("spiffe://ci/job:42"));
        for bad in ["", "a b", "tab\t", "ünï", &"x".repeat(257)] {
            assert!(!id_ok(bad), "{bad:?}");
        }
        let many =
            ActorManifest::new("a").with_roles((0..=MAX_ACTOR_ROLES).map(|i| format!("r{i}")));
        assert_eq!(many.validate(), Err(ActorError::TooManyRoles));
        let enough =
            ActorManifest::new("a").with_roles((0..MAX_ACTOR_ROLES).map(|i| format!("r{i}")));
        ok(enough.validate());
        let resources = (0..=MAX_ACTOR_RESOURCES).fold(ActorManifest::new("a"), |m, i| {
            m.resource_role(format!("r{i}"), "x")
        });
        assert_eq!(resources.validate(), Err(ActorError::TooManyResources));
        let per_resource = (0..=MAX_ACTOR_ROLES).fold(ActorManifest::new("a"), |m, i| {
            m.resource_role("docs", format!("r{i}"))
        });
        assert_eq!(per_resource.validate(), Err(ActorError::TooManyRoles));
        for bad in ["", "Claims", "1claims", "cla ims", &"c".repeat(65)] {
            assert!(
                matches!(
                    ActorManifest::new("a").resource_role(bad, "x").validate(),
                    Err(ActorError::InvalidResource(_))
                ),
                "{bad:?}"
            );
        }
        ok(ActorManifest::new("a")
            .resource_role(&*"c".repeat(64), "x")
            .validate());
        for bad in ["", "a b", "é", &"r".repeat(65)] {
            assert!(
                matches!(
                    ActorManifest::new("a").role(bad).validate(),
                    Err(ActorError::InvalidRole(_))
                ),
                "{bad:?}"
            );
            assert!(
                matches!(
                    ActorManifest::new("a")
                        .resource_role("docs", bad)
                        .validate(),
                    Err(ActorError::InvalidRole(_))
                ),
                "{bad:?}"
            );
        }
        // A refused name is quoted, never whole.
        let long = format!("{} ", "r".repeat(500));
        match ActorManifest::new("a").role(long).validate() {
            Err(ActorError::InvalidRole(shown)) => assert_eq!(shown.chars().count(), 80),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn standard_manifests() {
        let m = ActorManifest::standard("root-1", "superadmin").unwrap_or_else(|| panic!());
        assert_eq!(m.roles(), ["admin", "editor", "superadmin", "viewer"]);
        ok(m.validate());
        let bot = ActorManifest::standard("bot", "service_account").unwrap_or_else(|| panic!());
        assert_eq!(bot.roles(), ["service_account"]);
        assert!(ActorManifest::standard("bot", "service-account").is_none());
    }

    fn ring() -> KeyRing {
        KeyRing::single(ok(Key::generate_ed25519("k1")))
    }

    fn rules() -> TokenRules {
        TokenRules::new().issuer("ci").audience("rbac")
    }

    fn issue(ring: &KeyRing, claims: &TokenClaims) -> String {
        ok(TokenIssuer::new(ring.clone())
            .issuer("ci")
            .audience("rbac")
            .issue(claims))
    }

    #[test]
    fn from_a_verified_jwt() {
        let ring = ring();
        let token = issue(
            &ring,
            &TokenClaims::new("bot-1")
                .roles(["service_account", "deployer", "deployer"])
                .claim("resource_roles", json!({"builds": ["b", "a"], "empty": []}))
                .claim("team", json!("ci")),
        );
        let m = ok(ActorManifest::from_jwt(&token, &ring, &rules()));
        assert_eq!(m.actor_id(), "bot-1");
        assert_eq!(m.roles(), ["deployer", "service_account"]);
        assert_eq!(m.resource_roles().len(), 1);
        assert_eq!(m.resource_roles()["builds"], ["a", "b"]);
        assert_eq!(m.metadata()["team"], "ci");
        for gone in ["sub", "roles", "resource_roles"] {
            assert!(!m.metadata().contains_key(gone), "{gone}");
        }
        for kept in ["iss", "aud", "exp", "iat", "jti"] {
            assert!(m.metadata().contains_key(kept), "{kept}");
        }
        // No roles at all is a manifest holding nothing.
        let bare = issue(&ring, &TokenClaims::new("bot-2"));
        let m = ok(ActorManifest::from_jwt(&bare, &ring, &rules()));
        assert!(m.roles().is_empty() && m.resource_roles().is_empty());
    }

    #[test]
    fn jwt_claims_of_the_wrong_shape_are_refused() {
        let ring = ring();
        let refused =
            |claims: TokenClaims| ActorManifest::from_jwt(&issue(&ring, &claims), &ring, &rules());
        let base = || TokenClaims::new("bot-1");
        assert_eq!(
            refused(base().claim("resource_roles", json!(["builds"]))),
            Err(ActorError::BadClaim("resource_roles"))
        );
        assert_eq!(
            refused(base().claim("resource_roles", json!({"builds": "deployer"}))),
            Err(ActorError::BadClaim("resource_roles"))
        );
        assert_eq!(
            refused(base().claim("resource_roles", json!({"builds": [1]}))),
            Err(ActorError::BadClaim("resource_roles"))
        );
        assert!(matches!(
            refused(base().claim("resource_roles", json!({"Builds": ["x"]}))),
            Err(ActorError::InvalidResource(_))
        ));
        assert!(matches!(
            refused(base().roles(["has space"])),
            Err(ActorError::InvalidRole(_))
        ));
        // 257 roles of 40 bytes: over the 8 KiB default cap, under 64 KiB.
        let many: Vec<String> = (0..=MAX_ACTOR_ROLES)
            .map(|i| format!("role-{i:035}"))
            .collect();
        let big_ring_rules = rules().max_token_bytes(64 * 1024);
        let token = issue(&ring, &base().roles(many));
        assert_eq!(
            ActorManifest::from_jwt(&token, &ring, &big_ring_rules),
            Err(ActorError::TooManyRoles)
        );
        // The default size cap refuses that token before reading it.
        assert_eq!(
            ActorManifest::from_jwt(&token, &ring, &rules()),
            Err(ActorError::Token(TokenRejection::TooLarge))
        );
        // An actor id the manifest cannot hold.
        assert_eq!(
            refused(TokenClaims::new("has space")),
            Err(ActorError::InvalidActorId)
        );
    }

    #[cfg(feature = "yaml")]
    #[test]
    fn from_yaml_checked() {
        let m = ok(ActorManifest::from_yaml(
            "actor_id: alice\nroles:\n  - viewer\n  - admin\n  - viewer\nresource_roles:\n  claims:\n    - editor\n  none: []\nmetadata:\n  team: claims\n",
        ));
        assert_eq!(m.actor_id(), "alice");
        assert_eq!(m.roles(), ["admin", "viewer"]);
        assert_eq!(m.resource_roles().len(), 1);
        assert_eq!(m.resource_roles()["claims"], ["editor"]);
        assert_eq!(m.metadata()["team"], "claims");
        let minimal = ok(ActorManifest::from_yaml("actor_id: bot-1\n"));
        assert!(minimal.roles().is_empty());

        let yaml_err =
            |text: &str| matches!(ActorManifest::from_yaml(text), Err(ActorError::Yaml(_)));
        assert!(yaml_err("roles: [admin]\n"), "actor_id is required");
        assert!(
            yaml_err("actor_id: a\nrole: [admin]\n"),
            "unknown keys are refused"
        );
        assert!(yaml_err("actor_id: a\nroles: admin\n"), "roles is a list");
        assert!(yaml_err("actor_id: a\nroles: [[admin]]\n"));
        assert!(yaml_err("actor_id: a\nresource_roles: [claims]\n"));
        assert!(yaml_err("actor_id: a\nactor_id: b\n"), "duplicate keys");
        assert!(yaml_err("- a\n- b\n"));
        assert!(matches!(
            ActorManifest::from_yaml("actor_id: a\nroles: [\"has space\"]\n"),
            Err(ActorError::InvalidRole(_))
        ));
        assert!(matches!(
            ActorManifest::from_yaml("actor_id: a\nresource_roles:\n  Claims: [x]\n"),
            Err(ActorError::InvalidResource(_))
        ));
        assert_eq!(
            ActorManifest::from_yaml("actor_id: ''\n"),
            Err(ActorError::InvalidActorId)
        );
    }

    #[cfg(feature = "yaml")]
    #[test]
    fn yaml_is_bounded() {
        use super::super::MAX_MANIFEST_BYTES;
        // Over the cap: refused unread (the text is not even YAML).
        let huge = format!("{{{}", "x".repeat(MAX_MANIFEST_BYTES));
        assert_eq!(ActorManifest::from_yaml(&huge), Err(ActorError::TooLarge));
        // Under the cap, aliases that would expand to a billion values are refused, quickly.
        let mut bomb =
            String::from("actor_id: x\nmetadata:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9u8 {
            let (name, prev) = ((b'a' + i) as char, (b'a' + i - 1) as char);
            let items = vec![format!("*{prev}"); 10].join(", ");
            bomb.push_str(&format!("  {name}: &{name} [{items}]\n"));
        }
        let started = std::time::Instant::now();
        assert!(bomb.len() < MAX_MANIFEST_BYTES);
        assert!(
            matches!(ActorManifest::from_yaml(&bomb), Err(ActorError::Yaml(m)) if m.contains("repetition limit"))
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
