//! The grammar of permissions (`action:scope`) and actions (`reports:export`).
//!
//! The rules are written once, as `const fn`s over bytes, so that the [`permission!`] and
//! [`action!`] macros reject a malformed string at compile time with exactly the rules that
//! [`Permission::parse`](super::Permission::parse) applies at run time: there is no second
//! grammar to drift out of step.
//!
//! ```text
//! permission := action ":" scope
//! action     := "*" | letter (letter | digit | "_" | "-")*          at most 64 bytes
//! scope      := "*" | segment ("." segment)*                        at most 8 segments, 256 bytes
//! segment    := (letter | "_") (letter | digit | "_" | "-")*
//!
//! action name (Sentinel) := [a-z] [a-z0-9_.:-]*                     at most 128 bytes
//! action grant           := "*" | name | name ":*"
//! ```
//!
//! A wildcard is only ever a whole action or a whole scope (`read:Catalog.*` is refused: `read:Catalog`
//! already covers everything below `Catalog`, and one spelling per meaning keeps audits simple).
//!
//! [`permission!`]: crate::permission
//! [`action!`]: crate::action

use std::fmt;

/// Longest accepted permission action (the part before `:`), in bytes.
pub const MAX_ACTION_LEN: usize = 64;
/// Longest accepted permission scope (the part after `:`), in bytes.
pub const MAX_SCOPE_LEN: usize = 256;
/// Most segments a dotted scope may have (`Domain.Entity.Field…`).
pub const MAX_SCOPE_DEPTH: usize = 8;
/// Longest accepted action name (`reports:export`), in bytes.
pub const MAX_ACTION_NAME_LEN: usize = 128;

/// Why a permission or action string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrammarError {
    /// The string is empty.
    Empty,
    /// A permission has no `:` separating action and scope.
    MissingColon,
    /// The action part is empty.
    EmptyAction,
    /// The action part is longer than [`MAX_ACTION_LEN`].
    ActionTooLong,
    /// The action part has a character outside `[A-Za-z0-9_-]` or does not start with a letter.
    InvalidAction,
    /// The scope part is empty.
    EmptyScope,
    /// The scope part is longer than [`MAX_SCOPE_LEN`].
    ScopeTooLong,
    /// The scope has more than [`MAX_SCOPE_DEPTH`] segments.
    ScopeTooDeep,
    /// A scope segment is empty (`Catalog..Review`, a leading or trailing dot).
    EmptySegment,
    /// A scope segment has a character outside `[A-Za-z0-9_-]` or starts with a digit or `-`.
    InvalidSegment,
    /// A `*` appears somewhere other than as the whole action or the whole scope.
    MisplacedWildcard,
    /// An action name does not match `^[a-z][a-z0-9_.:-]*$`.
    InvalidActionName,
    /// An action name is longer than [`MAX_ACTION_NAME_LEN`].
    ActionNameTooLong,
}

impl GrammarError {
    /// A one-line description, also usable in `const` panics.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Empty => "the string is empty",
            Self::MissingColon => "a permission is `action:scope`; the `:` is missing",
            Self::EmptyAction => "the action before `:` is empty",
            Self::ActionTooLong => "the action is longer than 64 bytes",
            Self::InvalidAction => {
                "the action must be `*` or start with a letter followed by letters, digits, `_` or `-`"
            }
            Self::EmptyScope => "the scope after `:` is empty",
            Self::ScopeTooLong => "the scope is longer than 256 bytes",
            Self::ScopeTooDeep => "the scope has more than 8 dotted segments",
            Self::EmptySegment => {
                "the scope has an empty segment (two dots, or a leading or trailing dot)"
            }
            Self::InvalidSegment => {
                "a scope segment must start with a letter or `_` followed by letters, digits, `_` or `-`"
            }
            Self::MisplacedWildcard => {
                "`*` may only be the whole action or the whole scope (a domain already covers everything below it)"
            }
            Self::InvalidActionName => "an action name must match ^[a-z][a-z0-9_.:-]*$",
            Self::ActionNameTooLong => "the action name is longer than 128 bytes",
        }
    }
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for GrammarError {}

const fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic()
}

const fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Checks a permission string; on success returns the index of its `:`.
///
/// This is the single source of truth for the permission grammar; it runs at compile time inside
/// [`permission!`](crate::permission) and at run time inside
/// [`Permission::parse`](super::Permission::parse).
pub const fn check_permission(text: &str) -> Result<usize, GrammarError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(GrammarError::Empty);
    }
    // Find the first ':'.
    let mut colon = 0;
    while colon < bytes.len() && bytes[colon] != b':' {
        colon += 1;
    }
    if colon == bytes.len() {
        return Err(GrammarError::MissingColon);
    }
    if let Err(e) = check_permission_action(bytes, 0, colon) {
        return Err(e);
    }
    match check_scope(bytes, colon + 1, bytes.len()) {
        Ok(()) => Ok(colon),
        Err(e) => Err(e),
    }
}

const fn check_permission_action(
    bytes: &[u8],
    start: usize,
    end: usize,
) -> Result<(), GrammarError> {
    let len = end - start;
    if len == 0 {
        return Err(GrammarError::EmptyAction);
    }
    if len > MAX_ACTION_LEN {
        return Err(GrammarError::ActionTooLong);
    }
    if len == 1 && bytes[start] == b'*' {
        return Ok(());
    }
    let mut i = start;
    while i < end {
        let b = bytes[i];
        if b == b'*' {
            return Err(GrammarError::MisplacedWildcard);
        }
        let ok = if i == start { is_letter(b) } else { is_word(b) };
        if !ok {
            return Err(GrammarError::InvalidAction);
        }
        i += 1;
    }
    Ok(())
}

const fn check_scope(bytes: &[u8], start: usize, end: usize) -> Result<(), GrammarError> {
    let len = end - start;
    if len == 0 {
        return Err(GrammarError::EmptyScope);
    }
    if len > MAX_SCOPE_LEN {
        return Err(GrammarError::ScopeTooLong);
    }
    if len == 1 && bytes[start] == b'*' {
        return Ok(());
    }
    let mut segments = 1;
    let mut segment_start = true;
    let mut i = start;
    while i < end {
        let b = bytes[i];
        if b == b'.' {
            if segment_start {
                return Err(GrammarError::EmptySegment);
            }
            segments += 1;
            if segments > MAX_SCOPE_DEPTH {
                return Err(GrammarError::ScopeTooDeep);
            }
            segment_start = true;
        } else if b == b'*' {
            return Err(GrammarError::MisplacedWildcard);
        } else {
            let ok = if segment_start {
                is_letter(b) || b == b'_'
            } else {
                is_word(b)
            };
            if !ok {
                return Err(GrammarError::InvalidSegment);
            }
            segment_start = false;
        }
        i += 1;
    }
    if segment_start {
        return Err(GrammarError::EmptySegment);
    }
    Ok(())
}

/// Checks an action name (`reports:export`) against `^[a-z][a-z0-9_.:-]*$` and the length cap.
pub const fn check_action_name(text: &str) -> Result<(), GrammarError> {
    check_action_name_bytes(text.as_bytes(), text.len())
}

const fn check_action_name_bytes(bytes: &[u8], end: usize) -> Result<(), GrammarError> {
    if end == 0 {
        return Err(GrammarError::Empty);
    }
    if end > MAX_ACTION_NAME_LEN {
        return Err(GrammarError::ActionNameTooLong);
    }
    let mut i = 0;
    while i < end {
        let b = bytes[i];
        let ok = if i == 0 {
            b.is_ascii_lowercase()
        } else {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'_'
                || b == b'.'
                || b == b':'
                || b == b'-'
        };
        if !ok {
            return Err(if b == b'*' {
                GrammarError::MisplacedWildcard
            } else {
                GrammarError::InvalidActionName
            });
        }
        i += 1;
    }
    Ok(())
}

/// What an action grant string means, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionGrantShape {
    /// `*`: every action.
    Everything,
    /// `reports:export`: exactly this action.
    Exact,
    /// `reports:*`: every action whose name starts with `reports:`; the payload is the length of
    /// the prefix including the trailing `:`.
    Prefix(usize),
}

/// Checks an action grant (`*`, `reports:export` or `reports:*`).
pub const fn check_action_grant(text: &str) -> Result<ActionGrantShape, GrammarError> {
    let bytes = text.as_bytes();
    let len = bytes.len();
    if len == 1 && bytes[0] == b'*' {
        return Ok(ActionGrantShape::Everything);
    }
    if len >= 3 && bytes[len - 1] == b'*' && bytes[len - 2] == b':' {
        return match check_action_name_bytes(bytes, len - 2) {
            Ok(()) => Ok(ActionGrantShape::Prefix(len - 1)),
            Err(e) => Err(e),
        };
    }
    match check_action_name_bytes(bytes, len) {
        Ok(()) => Ok(ActionGrantShape::Exact),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_table() {
        let valid = [
            "read:Catalog",
            "write:Catalog.Review",
            "read:Catalog.Review.Body.Text",
            "*:*",
            "read:*",
            "*:Catalog",
            "delete:_internal",
            "export-csv:Reports.Q1-2026",
        ];
        for text in valid {
            assert!(check_permission(text).is_ok(), "{text} should be valid");
        }
        let invalid = [
            ("", GrammarError::Empty),
            ("read", GrammarError::MissingColon),
            (":Catalog", GrammarError::EmptyAction),
            ("read:", GrammarError::EmptyScope),
            ("1read:Catalog", GrammarError::InvalidAction),
            ("re ad:Catalog", GrammarError::InvalidAction),
            ("read:Catalog.*", GrammarError::MisplacedWildcard),
            ("re*:Catalog", GrammarError::MisplacedWildcard),
            ("read:**", GrammarError::MisplacedWildcard),
            ("read:Catalog..Review", GrammarError::EmptySegment),
            ("read:.Catalog", GrammarError::EmptySegment),
            ("read:Catalog.", GrammarError::EmptySegment),
            ("read:Cata log", GrammarError::InvalidSegment),
            ("read:9Catalog", GrammarError::InvalidSegment),
            ("read:Catalog:Review", GrammarError::InvalidSegment),
            ("read:a.b.c.d.e.f.g.h.i", GrammarError::ScopeTooDeep),
            ("read:Catalög", GrammarError::InvalidSegment),
        ];
        for (text, want) in invalid {
            assert_eq!(check_permission(text), Err(want), "{text:?}");
        }
        let long_action = format!("{}:Catalog", "a".repeat(65));
        assert_eq!(
            check_permission(&long_action),
            Err(GrammarError::ActionTooLong)
        );
        let long_scope = format!("read:{}", "a".repeat(257));
        assert_eq!(
            check_permission(&long_scope),
            Err(GrammarError::ScopeTooLong)
        );
    }

    #[test]
    fn action_table() {
        for ok in ["reports:export", "settings:manage", "a", "a.b:c_d-e9"] {
            assert_eq!(check_action_grant(ok), Ok(ActionGrantShape::Exact), "{ok}");
        }
        assert_eq!(check_action_grant("*"), Ok(ActionGrantShape::Everything));
        assert_eq!(
            check_action_grant("reports:*"),
            Ok(ActionGrantShape::Prefix(8))
        );
        for bad in [
            "",
            "Reports:export",
            "9reports",
            "reports export",
            ":*",
            "reports*",
            "rep*rts:x",
            "*:export",
        ] {
            assert!(
                check_action_grant(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert_eq!(
            check_action_name("reports:*"),
            Err(GrammarError::MisplacedWildcard)
        );
        assert_eq!(
            check_action_name(&"a".repeat(129)),
            Err(GrammarError::ActionNameTooLong)
        );
    }
}
