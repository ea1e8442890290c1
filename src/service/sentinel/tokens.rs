//! The tokens the API issues, in Sentinel's shape.

use serde::Serialize;
use serde_json::Value;

use super::{SentinelApi, SentinelError, SentinelStore};
use crate::token::TokenClaims;

/// `aud` of user tokens for services that verify tokens themselves (the SDK's proxy mode).
pub(super) const ACCESS_AUDIENCE: &str = "sentinel:access";
/// `aud` of user tokens bound to one service (the SDK's authz mode).
pub(super) const AUTHZ_AUDIENCE: &str = "sentinel:authz";
/// `aud` of machine tokens.
pub(super) const M2M_AUDIENCE: &str = "sentinel:m2m";

/// Which user token to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenKind {
    /// `sentinel:access`: any service of the deployment may take it.
    Access,
    /// `sentinel:authz`: only the named service (`svc`) may take it; `idp_sub` is the subject
    /// of the identity provider's token it was issued against (the SDK compares them).
    Authz {
        /// The service (`svc`).
        service: String,
        /// The identity provider's subject (`idp_sub`).
        idp_subject: String,
    },
}

/// A signed token and how long it lives.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl<S: SentinelStore> SentinelApi<S> {
    /// Issues a user token for `user` in `workspace`: the user must have an enabled account and
    /// be a member there. `wrole` is the workspace role they hold now, `groups` their groups
    /// there.
    pub async fn issue(
        &self,
        user: &str,
        workspace: &str,
        kind: TokenKind,
    ) -> Result<IssuedToken, SentinelError> {
        let account = self
            .inner
            .identity
            .account(user)
            .await?
            .filter(|state| !state.disabled)
            .ok_or(SentinelError::NotFound("user"))?;
        let role = self
            .member_role(workspace, user)
            .await?
            .ok_or(SentinelError::NotFound("membership"))?;
        let slug = self.workspace_slug(workspace).await?;
        let groups = self.inner.tenancy.groups_of(workspace, user).await?;
        let mut claims = TokenClaims::new(user)
            .email(account.email.clone())
            .claim("name", Value::from(account.email.clone()))
            .claim("wid", Value::from(workspace))
            .claim("wslug", Value::from(slug))
            .claim("wrole", Value::from(role))
            .claim("groups", Value::from(groups));
        let issuer = match &kind {
            TokenKind::Access => &self.inner.access,
            TokenKind::Authz {
                service,
                idp_subject,
            } => {
                super::keys::check_service_name(service)?;
                claims = claims
                    .claim("svc", Value::from(service.as_str()))
                    .claim("idp_sub", Value::from(idp_subject.as_str()));
                &self.inner.authz
            }
        };
        let token = issuer.issue(&claims).map_err(|_| SentinelError::Signing)?;
        let ttl = self.inner.config.user_token_ttl;
        Ok(IssuedToken {
            token,
            expires_in: ttl.as_secs(),
        })
    }

    /// A machine token for `service` (`sentinel:m2m`, `type` `m2m`, `svc` the service).
    pub(super) fn issue_m2m(&self, service: &str) -> Result<IssuedToken, SentinelError> {
        let claims = TokenClaims::new(service)
            .claim("svc", Value::from(service))
            .claim("type", Value::from("m2m"));
        let token = self
            .inner
            .m2m
            .issue(&claims)
            .map_err(|_| SentinelError::Signing)?;
        Ok(IssuedToken {
            token,
            expires_in: self.inner.config.m2m_token_ttl.as_secs(),
        })
    }
}
