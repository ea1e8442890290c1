//! Parsed permissions (`write:Catalog.Review`) and actions (`reports:export`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::grammar::{self, ActionGrantShape, GrammarError};

/// A checked permission `action:scope`, used both as a grant (what a role gives) and as a
/// requirement (what a route needs).
///
/// As a grant, `*` as the action covers every action, `*` as the scope covers every scope, and a
/// scope covers every deeper scope below it (`read:Catalog` covers `read:Catalog.Review`).
/// As a requirement a `*` is literal: `read:*` is met only by a grant whose scope is `*`.
///
/// ```
/// use portcullis::rbac::Permission;
///
/// let grant: Permission = "read:Catalog".parse()?;
/// assert!(grant.covers(&"read:Catalog.Review".parse()?));
/// assert!(!grant.covers(&"write:Catalog.Review".parse()?));
/// assert!("read:Catalog.*".parse::<Permission>().is_err());
/// # Ok::<(), portcullis::rbac::GrammarError>(())
/// ```
// Derived comparisons see the text first; the other fields follow from it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    text: Box<str>,
    /// Where the `:` is.
    colon: u16,
    /// Where the scope's `.`s are in `text` (the first `dot_count`): found once when parsed,
    /// so a check walks the scope's ancestors without scanning the text again.
    dots: [u16; MAX_DOTS],
    dot_count: u8,
}

/// A scope has at most this many dots.
const MAX_DOTS: usize = grammar::MAX_SCOPE_DEPTH - 1;

// Offsets into the text fit a `u16`.
const _: () = assert!(grammar::MAX_ACTION_LEN + 1 + grammar::MAX_SCOPE_LEN <= u16::MAX as usize);

impl Permission {
    /// Parses and checks a permission string.
    pub fn parse(text: &str) -> Result<Self, GrammarError> {
        let colon = grammar::check_permission(text)?;
        let mut dots = [0u16; MAX_DOTS];
        let mut dot_count = 0u8;
        // The grammar allows no `.` in the action and at most `MAX_DOTS` in the scope, and
        // bounds the text's length, so every offset fits (the `get_mut` never misses).
        for (at, _) in text.match_indices('.') {
            if let (Some(slot), Ok(at)) = (dots.get_mut(usize::from(dot_count)), u16::try_from(at))
            {
                *slot = at;
                dot_count += 1;
            }
        }
        Ok(Self {
            text: text.into(),
            colon: u16::try_from(colon).map_err(|_| GrammarError::ActionTooLong)?,
            dots,
            dot_count,
        })
    }

    /// The action part (`write` in `write:Catalog.Review`), possibly `*`.
    #[inline]
    pub fn action(&self) -> &str {
        &self.text[..usize::from(self.colon)]
    }

    /// The scope part (`Catalog.Review` in `write:Catalog.Review`), possibly `*`.
    #[inline]
    pub fn scope(&self) -> &str {
        &self.text[usize::from(self.colon) + 1..]
    }

    /// The permission as written.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Where the scope's `.`s are in [`as_str`](Self::as_str), in order.
    #[inline]
    pub(crate) fn dots(&self) -> &[u16] {
        &self.dots[..usize::from(self.dot_count)]
    }

    /// Whether the scope is the whole-scope wildcard `*`.
    #[inline]
    pub fn is_any_scope(&self) -> bool {
        self.scope() == "*"
    }

    /// Whether the action is the wildcard `*`.
    #[inline]
    pub fn is_any_action(&self) -> bool {
        self.action() == "*"
    }

    /// The scope's dotted segments (`["Catalog", "Review"]`); empty for `*`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        let scope = if self.is_any_scope() {
            ""
        } else {
            self.scope()
        };
        scope.split('.').filter(|s| !s.is_empty())
    }

    /// Whether this permission, read as a grant, covers `required`.
    ///
    /// This is the reference definition of matching. Request-time checks use the compiled
    /// [`PermissionSet`](super::PermissionSet), which is tested to agree with it.
    pub fn covers(&self, required: &Permission) -> bool {
        let action_ok = self.is_any_action() || self.action() == required.action();
        if !action_ok {
            return false;
        }
        if self.is_any_scope() {
            return true;
        }
        if required.is_any_scope() {
            return false;
        }
        let mut granted = self.segments();
        let mut wanted = required.segments();
        loop {
            match (granted.next(), wanted.next()) {
                (None, _) => return true,
                (Some(_), None) => return false,
                (Some(g), Some(w)) if g == w => continue,
                _ => return false,
            }
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permission({})", self.text)
    }
}

impl FromStr for Permission {
    type Err = GrammarError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Permission::parse(&text)
            .map_err(|e| serde::de::Error::custom(format_args!("permission {text:?}: {e}")))
    }
}

/// A checked action name (Sentinel style, `reports:export`), used as a requirement.
///
/// ```
/// use portcullis::rbac::Action;
///
/// let export = Action::parse("reports:export")?;
/// assert_eq!(export.as_str(), "reports:export");
/// assert!(Action::parse("Reports:Export").is_err());
/// # Ok::<(), portcullis::rbac::GrammarError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Action(Box<str>);

impl Action {
    /// Parses and checks an action name against `^[a-z][a-z0-9_.:-]*$`.
    pub fn parse(text: &str) -> Result<Self, GrammarError> {
        grammar::check_action_name(text)?;
        Ok(Self(text.into()))
    }

    /// The action name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Action({})", self.0)
    }
}

impl FromStr for Action {
    type Err = GrammarError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What a role grants of actions: `*`, one action exactly, or every action under a prefix
/// (`reports:*`).
///
/// ```
/// use portcullis::rbac::{Action, ActionGrant};
///
/// let grant: ActionGrant = "reports:*".parse()?;
/// assert!(grant.covers(&Action::parse("reports:export")?));
/// assert!(!grant.covers(&Action::parse("settings:manage")?));
/// # Ok::<(), portcullis::rbac::GrammarError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionGrant {
    text: Box<str>,
    shape: ActionGrantKind,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub(crate) enum ActionGrantKind {
    Everything,
    Exact,
    /// Length of the prefix including its trailing `:`.
    Prefix(usize),
}

impl ActionGrant {
    /// Parses and checks an action grant: `*`, `name`, or `name:*`.
    pub fn parse(text: &str) -> Result<Self, GrammarError> {
        let shape = match grammar::check_action_grant(text)? {
            ActionGrantShape::Everything => ActionGrantKind::Everything,
            ActionGrantShape::Exact => ActionGrantKind::Exact,
            ActionGrantShape::Prefix(n) => ActionGrantKind::Prefix(n),
        };
        Ok(Self {
            text: text.into(),
            shape,
        })
    }

    /// The grant as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn kind(&self) -> ActionGrantKind {
        self.shape
    }

    /// For a prefix grant `reports:*`, the prefix `reports:`.
    pub(crate) fn prefix(&self) -> Option<&str> {
        match self.shape {
            ActionGrantKind::Prefix(n) => Some(&self.text[..n]),
            _ => None,
        }
    }

    /// Whether this grant covers `action` (the reference definition; see
    /// [`PermissionSet::allows_action`](super::PermissionSet::allows_action)).
    pub fn covers(&self, action: &Action) -> bool {
        match self.shape {
            ActionGrantKind::Everything => true,
            ActionGrantKind::Exact => *self.text == *action.as_str(),
            ActionGrantKind::Prefix(n) => action.as_str().starts_with(&self.text[..n]),
        }
    }
}

impl fmt::Display for ActionGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ActionGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActionGrant({})", self.text)
    }
}

impl FromStr for ActionGrant {
    type Err = GrammarError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ActionGrant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ActionGrant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ActionGrant::parse(&text)
            .map_err(|e| serde::de::Error::custom(format_args!("action {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permission {
        Permission::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Which grant covers which requirement: the reference table of the grammar.
    #[test]
    fn coverage_table() {
        let table = [
            ("*:*", "delete:Catalog.Book", true),
            ("*:*", "read:*", true),
            ("*:*", "*:*", true),
            ("read:*", "read:Catalog", true),
            ("read:*", "read:Catalog.Review", true),
            ("read:*", "write:Catalog", false),
            ("read:*", "read:*", true),
            ("read:Catalog", "read:Catalog", true),
            ("read:Catalog", "read:Catalog.Review", true),
            ("read:Catalog", "read:Catalog.Review.Body", true),
            ("read:Catalog", "read:Catalogue", false),
            ("read:Catalog", "read:Commerce.Order", false),
            ("read:Catalog", "read:*", false),
            ("write:Catalog.Review", "write:Catalog.Review", true),
            ("write:Catalog.Review", "write:Catalog", false),
            ("write:Catalog.Review", "write:Catalog.Book", false),
            ("write:Catalog.Review", "read:Catalog.Review", false),
            ("*:Catalog", "delete:Catalog.Book", true),
            ("*:Catalog", "delete:Commerce", false),
            ("*:Catalog", "*:Catalog", true),
            ("delete:Catalog", "*:Catalog", false),
            ("read:catalog", "read:Catalog", false),
        ];
        for (grant, required, want) in table {
            assert_eq!(
                p(grant).covers(&p(required)),
                want,
                "{grant} covers {required}"
            );
        }
    }

    #[test]
    fn accessors() {
        let perm = p("write:Catalog.Review");
        assert_eq!(perm.action(), "write");
        assert_eq!(perm.scope(), "Catalog.Review");
        assert_eq!(perm.segments().collect::<Vec<_>>(), ["Catalog", "Review"]);
        assert_eq!(p("read:*").segments().count(), 0);
        assert_eq!(perm.to_string(), "write:Catalog.Review");
    }

    #[test]
    fn serde_refuses_malformed() {
        let ok: Vec<Permission> = serde_json::from_str(r#"["read:Catalog"]"#).unwrap_or_default();
        assert_eq!(ok, vec![p("read:Catalog")]);
        let err = serde_json::from_str::<Vec<Permission>>(r#"["read:"]"#);
        assert!(err.is_err());
    }
}
