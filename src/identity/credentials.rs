//! Checking a password: login and password change, with every rule they share (size caps before
//! anything else, throttling reserved before the hash, uniform failures, a dummy hash for unknown
//! users, rehashing weaker stored hashes).

use super::throttle::ThrottleKeys;
use super::*;

impl<S: Store> Identity<S> {
    /// Logs in with e-mail and password; `client` is the peer address for throttling.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<TokenPair, IdentityError> {
        let user = self.verify_credentials(email, password, client).await?;
        self.start_family(&user).await
    }

    /// Checks e-mail and password with every rule of [`login`](Self::login) (size caps,
    /// throttling, uniform failures, dummy hash, rehash) and returns the user; other login kinds
    /// (browser sessions) start their own session from it.
    pub async fn verify_credentials(
        &self,
        email: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<UserRecord, IdentityError> {
        // Oversized input is refused before any hashing; malformed addresses cannot belong to an
        // account, so they get the same answer as a wrong password (after a dummy hash).
        if password.len() > self.config.policy.max_password_bytes() {
            return Err(IdentityError::InvalidInput {
                field: "password",
                message: format!(
                    "must be at most {} bytes",
                    self.config.policy.max_password_bytes()
                ),
            });
        }
        if email.len() > MAX_EMAIL_BYTES {
            return Err(IdentityError::InvalidInput {
                field: "email",
                message: "must be at most 254 bytes".into(),
            });
        }
        let email = email.to_lowercase();
        let keys = ThrottleKeys::new(&email, client);
        let now = self.now();
        // The attempt is counted before the hash, atomically: see `throttle`.
        if let Some(wait) = keys
            .reserve(&self.store, &self.config.throttle, now)
            .await?
        {
            return Err(IdentityError::Throttled(wait));
        }
        let user = self.store.user_by_email(&email).await?;
        let verified = match &user {
            Some(user) => Some(
                self.hasher
                    .verify(password.to_owned(), user.password_hash.clone())
                    .await?,
            ),
            None => {
                self.hasher.verify_dummy(password.to_owned()).await?;
                None
            }
        };
        let (user, verified) = match (user, verified) {
            (Some(user), Some(v)) if v.matched && !user.disabled => (user, v),
            // Already counted by the reservation.
            _ => return Err(IdentityError::BadCredentials),
        };
        keys.succeeded(&self.store).await?;
        if let Some(upgraded) = verified.rehashed {
            // Keep the original change time: a rehash is not a password change.
            self.store
                .set_password_hash(&user.id, &upgraded, user.password_changed_at)
                .await?;
        }
        Ok(user)
    }

    /// Changes the caller's password after checking the current one; ends the user's other
    /// sessions and returns a fresh access token for this one.
    pub async fn change_password(
        &self,
        ctx: &UserContext,
        current: &str,
        new: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<TokenPair, IdentityError> {
        let max = self.config.policy.max_password_bytes();
        if current.len() > max {
            return Err(IdentityError::InvalidInput {
                field: "current_password",
                message: format!("must be at most {max} bytes"),
            });
        }
        self.config
            .policy
            .check_for(new, ctx.email().as_slice())
            .map_err(|e| policy_error(e, "new_password"))?;
        let user = self
            .store
            .user_by_id(ctx.subject())
            .await?
            .ok_or(IdentityError::BadCredentials)?;
        let keys = ThrottleKeys::new(&user.email, client);
        let now = self.now();
        if let Some(wait) = keys
            .reserve(&self.store, &self.config.throttle, now)
            .await?
        {
            return Err(IdentityError::Throttled(wait));
        }
        let verified = self
            .hasher
            .verify(current.to_owned(), user.password_hash.clone())
            .await?;
        if !verified.matched || user.disabled {
            return Err(IdentityError::BadCredentials);
        }
        keys.succeeded(&self.store).await?;
        let hash = self.hasher.hash(new.to_owned()).await?;
        self.store.set_password_hash(&user.id, &hash, now).await?;
        let session = ctx.claims().get(SESSION_CLAIM).and_then(|v| v.as_str());
        self.store.revoke_user_families(&user.id, session).await?;
        // Ends every other credential made before now: access tokens, browser sessions and API
        // keys (keys made after the change keep working).
        self.revocation
            .revoke_before(&user.id, clock::system_now_us())
            .await?;
        let mut fresh = self.access_token(&user, session.unwrap_or(""))?;
        fresh.refresh_token = None;
        Ok(fresh)
    }
}
