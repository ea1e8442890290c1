//! Refresh families: what one sign-in holds. A login starts a family (its id is the `sid` claim of
//! every access token it is issued); each refresh spends one opaque refresh token and issues the
//! next; reusing a spent one, logout, logout-all, a password change and disabling end families.
//!
//! "Family" is this module's word for a sign-in with refresh tokens; browser cookie sessions are
//! [`crate::session`]'s, and are a different thing.

use super::*;

impl<S: Store> Identity<S> {
    pub(super) async fn start_family(&self, user: &UserRecord) -> Result<TokenPair, IdentityError> {
        let family = secret::random_id::<16>()?;
        let now = self.now();
        let expires_at = now.saturating_add(self.config.refresh_ttl.as_secs() as i64);
        let refresh = self.new_refresh(&family, &user.id, now, expires_at).await?;
        let access = self.access_token(user, &family)?;
        Ok(TokenPair {
            refresh_token: Some(refresh),
            ..access
        })
    }

    async fn new_refresh(
        &self,
        family: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<String, IdentityError> {
        let issued = secret::issue(REFRESH_PREFIX)?;
        let record = RefreshRecord {
            digest: issued.digest,
            family: family.to_owned(),
            user_id: user_id.to_owned(),
            issued_at: now,
            expires_at,
        };
        self.store.insert_refresh(&record).await?;
        Ok(issued.secret)
    }

    pub(super) fn access_token(
        &self,
        user: &UserRecord,
        family: &str,
    ) -> Result<TokenPair, IdentityError> {
        let claims = TokenClaims::new(user.id.clone())
            .email(user.email.clone())
            .roles(user.roles.clone())
            .claim(SESSION_CLAIM, family.into());
        Ok(TokenPair {
            access_token: self.issuer.issue(&claims)?,
            token_type: "Bearer",
            expires_in: self.config.access_ttl.as_secs(),
            refresh_token: None,
        })
    }

    /// Trades a refresh token for a new pair; the old one is spent. Reusing a spent token revokes
    /// its whole family (the legitimate holder and the thief both lose the session).
    ///
    /// `client` is the peer address: with [`IdentityConfig::refresh_reuse_grace`] set, the same
    /// client spending the same token again within the grace gets the same new pair instead of
    /// ending the family (see `grace`).
    pub async fn refresh(
        &self,
        token: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<TokenPair, IdentityError> {
        if !secret::has_shape(token, REFRESH_PREFIX) {
            return Err(IdentityError::BadRefreshToken);
        }
        let digest = secret::digest(token);
        let Some(grace) = &self.grace else {
            return self.rotate(&digest).await;
        };
        let slot = grace.slot(digest);
        let mut spent = slot.lock().await;
        if let Some(pair) = grace::pair_for(&spent, client) {
            return Ok(pair);
        }
        let pair = self.rotate(&digest).await?;
        if let Some(client) = client {
            *spent = Some((client, pair.clone()));
        }
        Ok(pair)
    }

    /// Spends the refresh token with `digest` and issues the next pair; reuse of a spent one
    /// ends its family.
    async fn rotate(&self, digest: &secret::Digest) -> Result<TokenPair, IdentityError> {
        let now = self.now();
        let record = match self.store.consume_refresh(digest, now).await? {
            Consumed::Fresh(record) => record,
            Consumed::Reused(record) => {
                tracing::warn!(family = %record.family, "refresh token reused: ending its family");
                self.end_family(&record.family).await?;
                return Err(IdentityError::BadRefreshToken);
            }
            Consumed::Revoked | Consumed::Expired | Consumed::Unknown => {
                return Err(IdentityError::BadRefreshToken);
            }
        };
        let user = match self.store.user_by_id(&record.user_id).await? {
            Some(user) if !user.disabled => user,
            _ => return Err(IdentityError::BadRefreshToken),
        };
        let refresh = self
            .new_refresh(&record.family, &user.id, now, record.expires_at)
            .await?;
        let access = self.access_token(&user, &record.family)?;
        Ok(TokenPair {
            refresh_token: Some(refresh),
            ..access
        })
    }

    /// Ends the caller's session: its access token and its refresh family.
    pub async fn logout(&self, ctx: &UserContext) -> Result<(), IdentityError> {
        if let Some(jti) = ctx.token_id() {
            let expires = ctx
                .expires_at()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
            // Until the token expires; a token whose expiry cannot be told (none, or one past
            // what a time can hold) stays denied for good rather than for a guessed while.
            let expires_at = expires
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .unwrap_or(i64::MAX);
            self.revocation.revoke_token(jti, expires_at).await?;
        }
        if let Some(sid) = ctx.claims().get(SESSION_CLAIM).and_then(|v| v.as_str()) {
            self.end_family(sid).await?;
        }
        Ok(())
    }

    /// Ends one family: its refresh tokens, and every access token it was issued (each carries
    /// the family as its `sid`), refused from the next request on in this process.
    async fn end_family(&self, sid: &str) -> Result<(), IdentityError> {
        self.revocation
            .revoke_family(sid, self.now(), self.config.access_ttl)
            .await?;
        self.store.revoke_family(sid).await?;
        Ok(())
    }

    /// Ends every session of the user: all refresh families, and every access token issued
    /// before now.
    pub async fn logout_all(&self, user_id: &str) -> Result<(), IdentityError> {
        self.store.revoke_user_families(user_id, None).await?;
        self.revocation
            .revoke_before(user_id, clock::system_now_us())
            .await?;
        Ok(())
    }
}
