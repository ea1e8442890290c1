//! An AuthZEN policy decision point answered by the crate's own model: the workspace's roles
//! and their action grants, owner-conditional grants, and entity permissions.
//!
//! ```
//! use portcullis::service::authzen::{self, Metadata};
//! use portcullis::service::pdp::ModelPdp;
//! use portcullis::service::sentinel::{SentinelApi, SentinelConfig};
//! use portcullis::store::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let api = SentinelApi::open(MemoryStore::new(), SentinelConfig::new("https://pdp.example.com")).await?;
//! let workspace = "0b6a2f7e-8d7c-4a59-9f3e-2d1c0b9a8f7e";
//! api.create_workspace(workspace, "todo").await?;
//! let pdp = ModelPdp::new(api, workspace).subjects_from("https://idp.example.com");
//! let app: axum::Router = authzen::router(pdp, Metadata::new("https://pdp.example.com")?);
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a question is answered
//!
//! - **The subject** is a user of the service: its `id` is a user id, or, with
//!   [`ModelPdp::subjects_from`], the subject an identity provider gives the user (an
//!   external identity linked to the account, as OpenID Connect login links them). A subject
//!   nobody knows holds nothing (roles may still be assigned to its id as given).
//! - **The workspace** is the PDP's own ([`ModelPdp::new`]), or the one the request's
//!   `context.workspace_id` names.
//! - **`view` and `edit`** on a resource registered with the entity permission engine (under
//!   the PDP's [service](ModelPdp::entities_of), the resource's `type` and `id`) are that
//!   engine's answer: owner, visibility, shares, groups, folders.
//! - **Any other action** is an action grant of the subject's roles in the workspace
//!   (`can_update_todo`, `reports:export`), asked at the seam. A role may also grant it **only
//!   on what the subject owns**: the action with `:own` after it (`can_update_todo:own`),
//!   counted only when the subject is the resource's owner.
//!
//! # Who the owner is (the trust model)
//!
//! The owner of a resource registered with the entity permission engine is the one recorded
//! there, and only that one: an `ownerID` the caller sends for it is ignored. For a resource
//! the engine does not know, the owner is what the caller says in `resource.properties`
//! (`ownerID` or `owner_id`): the policy enforcement point is trusted to describe its own
//! resources, as it is trusted to ask about the right resource at all. Put the PDP behind a
//! key per calling service so that only those services may say so. An owner is matched by
//! user id, by the subject's id as sent, or by the account's e-mail address (ignoring case).
//!
//! Every verdict carries its reason code in `context.reason` (`allow`, `allow_owner`,
//! `deny_no_roles`, `error_unavailable`…). A store that cannot be read denies with
//! `error_unavailable`: fail closed.

use serde_json::Value;

use std::sync::Arc;

use crate::authz::{DecisionObserver, DecisionPoint, Scope};
use crate::context::{AuthMethod, UserContext};
use crate::error::{Reason, Requirement};
use crate::rbac::Action;
use crate::service::authzen::{self, Entity, Evaluation, Metadata, Pdp, Verdict};
use crate::service::sentinel::{SentinelApi, SentinelStore};
use crate::store::{Access, ExternalIdentityStore, ResourceKey};

/// The suffix of an action grant that counts only on what the subject owns.
pub const OWN_SUFFIX: &str = ":own";

/// The authentication method of the contexts the PDP asks the model with.
const METHOD: AuthMethod = AuthMethod::Custom("authzen");

/// The PDP: see the [module](self).
pub struct ModelPdp<S: SentinelStore> {
    api: SentinelApi<S>,
    /// Where its decisions are made and observed (the API's audit trail included).
    point: DecisionPoint,
    workspace: String,
    service: Option<String>,
    issuer: Option<String>,
}

impl<S: SentinelStore> std::fmt::Debug for ModelPdp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPdp")
            .field("workspace", &self.workspace)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl<S: SentinelStore + ExternalIdentityStore> ModelPdp<S> {
    /// A PDP answering for `workspace` from `api`'s model; its decisions go to `api`'s audit
    /// trail. Made once, at start-up (its decision point lives as long as the process).
    pub fn new(api: SentinelApi<S>, workspace: impl Into<String>) -> Self {
        let observers: Vec<Arc<dyn DecisionObserver>> = api
            .audit()
            .map(|trail| Arc::new(trail.clone()) as Arc<dyn DecisionObserver>)
            .into_iter()
            .collect();
        let point = DecisionPoint::new(Some(Arc::new(api.acl().clone())), observers);
        Self {
            api,
            point,
            workspace: workspace.into(),
            service: None,
            issuer: None,
        }
    }

    /// Subject ids are the subjects `issuer` gives users (linked to accounts by OpenID
    /// Connect login, or by [`link_external`](ExternalIdentityStore::link_external)).
    pub fn subjects_from(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// `view` and `edit` on resources registered by `service` are the entity engine's.
    pub fn entities_of(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The AuthZEN API over this PDP (see [`authzen::router`]), every route but the metadata
    /// document behind a service key (`X-Service-Key`, 401 without): only the deployment's
    /// services may ask, and say who owns what.
    pub fn keyed_router(self, metadata: Metadata) -> axum::Router {
        let api = self.api.clone();
        let guarded =
            authzen::evaluation_router(self).route_layer(axum::middleware::from_fn_with_state(
                api,
                crate::service::sentinel::require_service_key::<S>,
            ));
        guarded.merge(authzen::metadata_router(&metadata))
    }

    /// The user a subject is, or `None` when the store could not be read.
    async fn user_of(&self, subject: &Entity) -> Option<String> {
        let Some(issuer) = &self.issuer else {
            return Some(subject.id.clone());
        };
        match self
            .api
            .identity()
            .store()
            .linked_user(issuer, &subject.id)
            .await
        {
            Ok(Some(user)) => Some(user),
            Ok(None) => Some(subject.id.clone()),
            Err(error) => {
                tracing::warn!(%error, "external identities could not be read: denied");
                None
            }
        }
    }

    /// Whether the subject (`user`, sent as `subject`) owns `resource`; `None` when the store
    /// could not tell.
    async fn owns(&self, user: &str, subject: &Entity, resource: &Entity) -> Option<bool> {
        let registered = match &self.service {
            Some(service) => {
                let key = ResourceKey::new(service, &resource.kind, &resource.id);
                match self.api.acl().store().resource(&key).await {
                    Ok(found) => found.map(|record| record.owner),
                    Err(_) => return None,
                }
            }
            None => None,
        };
        let said = || {
            ["ownerID", "owner_id"]
                .iter()
                .find_map(|name| resource.properties.get(*name).and_then(Value::as_str))
                .map(str::to_owned)
        };
        let Some(owner) = registered.or_else(said) else {
            return Some(false);
        };
        if owner == user || owner == subject.id {
            return Some(true);
        }
        if !owner.contains('@') {
            return Some(false);
        }
        match self.api.identity().account(user).await {
            Ok(account) => Some(account.is_some_and(|a| a.email.eq_ignore_ascii_case(&owner))),
            Err(_) => None,
        }
    }

    async fn decide(&self, question: &Evaluation<'_>) -> Verdict {
        let unavailable = || Verdict::deny().with_reason(Reason::Unavailable.code());
        let Some(user) = self.user_of(question.subject).await else {
            return unavailable();
        };
        let mut ctx = UserContext::new(user.clone(), METHOD);
        self.point.admit(&mut ctx);
        let workspace = question
            .context
            .get("workspace_id")
            .and_then(Value::as_str)
            .unwrap_or(&self.workspace);
        let Ok(at) = Scope::tenant(workspace) else {
            return Verdict::deny().with_reason("deny_invalid_workspace");
        };
        let name = question.action.name.as_str();
        let entity_access = match name {
            "view" => Some(Access::View),
            "edit" => Some(Access::Edit),
            _ => None,
        };
        if let (Some(service), Some(access)) = (&self.service, entity_access) {
            let key = ResourceKey::new(service, &question.resource.kind, &question.resource.id);
            return match self.api.acl().can(&ctx, &key, access).await {
                Ok(decision) => verdict(decision.reason()),
                Err(_) => Verdict::deny().with_reason("deny_invalid_resource"),
            };
        }
        let Ok(action) = Action::parse(name) else {
            return Verdict::deny().with_reason("deny_invalid_action");
        };
        let reason = self.ask(&ctx, Requirement::Action(action), &at).await;
        if reason.allows() || reason == Reason::Unavailable {
            return verdict(reason);
        }
        // Granted on what the subject owns only?
        let Ok(own) = Action::parse(&format!("{name}{OWN_SUFFIX}")) else {
            return verdict(reason);
        };
        match self.owns(&user, question.subject, question.resource).await {
            None => unavailable(),
            Some(false) => verdict(reason),
            Some(true) => match self.ask(&ctx, Requirement::Action(own), &at).await {
                Reason::Allow => verdict(Reason::AllowOwner),
                Reason::Unavailable => unavailable(),
                _ => verdict(reason),
            },
        }
    }

    async fn ask(&self, ctx: &UserContext, required: Requirement, at: &Scope) -> Reason {
        self.point.decide(ctx, &required, at).await.reason()
    }
}

fn verdict(reason: Reason) -> Verdict {
    let verdict = if reason.allows() {
        Verdict::allow()
    } else {
        Verdict::deny()
    };
    verdict.with_reason(reason.code())
}

impl<S: SentinelStore + ExternalIdentityStore> Pdp for ModelPdp<S> {
    async fn evaluate(&self, question: &Evaluation<'_>) -> Verdict {
        self.decide(question).await
    }
}
