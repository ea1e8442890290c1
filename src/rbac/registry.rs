//! The action registry: the actions a service declares (Sentinel's `register_actions`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::grammar::GrammarError;
use super::permission::{Action, ActionGrant};

/// One registered action with its optional description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredAction {
    /// The action name.
    pub action: Action,
    /// What the action lets a user do, for UIs and audits.
    pub description: Option<String>,
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The actions a service declares.
///
/// Registration is idempotent; registering a known action again updates its description.
/// The registry is not on the request path (a check asks the compiled
/// [`PermissionSet`](super::PermissionSet)); it is what a UI lists, and what start-up
/// uses to warn about role grants that match no declared action.
///
/// ```
/// use portcullis::rbac::ActionRegistry;
///
/// let registry = ActionRegistry::new();
/// registry.register([("reports:export", Some("Export reports as CSV")), ("reports:delete", None)])?;
/// registry.register([("reports:export", Some("Export reports"))])?; // updates the description
/// assert_eq!(registry.list().len(), 2);
/// assert!(registry.register([("Reports", None)]).is_err());
/// # Ok::<(), portcullis::rbac::GrammarError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ActionRegistry {
    actions: Arc<RwLock<BTreeMap<Action, Option<String>>>>,
}

impl ActionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers actions with optional descriptions. All names are checked first: one bad name
    /// registers nothing.
    pub fn register<'a>(
        &self,
        actions: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<(), GrammarError> {
        let parsed: Vec<(Action, Option<String>)> = actions
            .into_iter()
            .map(|(name, description)| Ok((Action::parse(name)?, description.map(str::to_owned))))
            .collect::<Result<_, GrammarError>>()?;
        let mut map = self
            .actions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (action, description) in parsed {
            match (map.get_mut(&action), description) {
                (Some(existing), Some(d)) => *existing = Some(d),
                (Some(_), None) => {}
                (None, d) => {
                    map.insert(action, d);
                }
            }
        }
        Ok(())
    }

    /// Whether the action is registered.
    pub fn contains(&self, action: &Action) -> bool {
        self.read().contains_key(action)
    }

    /// Every registered action, sorted by name.
    pub fn list(&self) -> Vec<RegisteredAction> {
        self.read()
            .iter()
            .map(|(action, description)| RegisteredAction {
                action: action.clone(),
                description: description.clone(),
            })
            .collect()
    }

    /// Whether the grant matches at least one registered action.
    pub fn matches_any(&self, grant: &ActionGrant) -> bool {
        self.read().keys().any(|a| grant.covers(a))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Action, Option<String>>> {
        self.actions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bad_name_registers_nothing() {
        let registry = ActionRegistry::new();
        assert!(
            registry
                .register([("ok:one", None), ("Bad", None)])
                .is_err()
        );
        assert!(registry.list().is_empty());
    }

    #[test]
    fn idempotent_and_updates() {
        let registry = ActionRegistry::new();
        registry
            .register([("a:b", Some("first"))])
            .unwrap_or_else(|e| panic!("{e}"));
        registry
            .register([("a:b", None)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(registry.list()[0].description.as_deref(), Some("first"));
        registry
            .register([("a:b", Some("second"))])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(registry.list()[0].description.as_deref(), Some("second"));
        let grant = ActionGrant::parse("a:*").unwrap_or_else(|e| panic!("{e}"));
        assert!(registry.matches_any(&grant));
    }
}
