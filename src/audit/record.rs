//! One audit record's content and its canonical bytes (format version 1).
//!
//! The bytes a signature covers must not depend on a serialiser's whims (JSON key order, number
//! formats, escapes), so a record is written in one fixed, documented binary layout:
//!
//! ```text
//! record   = "PCAUDIT1"                      ; magic and format version (8 bytes)
//!            text(id) i64(time_ms) text(trace_id) text(subject)
//!            opt(tenant) opt(namespace) text(required)
//!            held u8(outcome) text(reason) opt(matched)
//!            opt(route) opt(method) opt(client) text(auth_method)
//! text     = u32(length) UTF-8 bytes         ; big-endian length, at most MAX_FIELD_BYTES
//! opt      = 0x00 | 0x01 text
//! held     = 0x00 u32(count) text*           ; the roles themselves
//!          | 0x01 u32(count) 32 bytes        ; their SHA-256 (see Held::of)
//! outcome  = 0x00 allow | 0x01 deny | 0x02 error
//! i64, u32 = big-endian
//! ```
//!
//! Every field is length-prefixed, so no two records share bytes (no separator to smuggle).

use serde::{Deserialize, Serialize};

/// The magic and version that start a record's canonical bytes.
pub const RECORD_FORMAT: &[u8; 8] = b"PCAUDIT1";

/// Longest text field, in bytes: longer input is refused when a record is made, never cut.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Most roles a record lists by name; more are recorded as their count and digest.
pub const MAX_LISTED_ROLES: usize = 32;

/// What the subject held when the decision was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// The roles, sorted.
    Roles(Vec<String>),
    /// Too many to list: how many, and the SHA-256 (hex) of their sorted names, each
    /// length-prefixed as in the record format.
    Digest {
        /// How many roles.
        count: u32,
        /// The digest, 64 lowercase hex digits.
        sha256: String,
    },
}

impl Held {
    /// `roles` as a record holds them: sorted and listed, or digested beyond
    /// [`MAX_LISTED_ROLES`].
    ///
    /// ```
    /// use portcullis::audit::Held;
    ///
    /// assert_eq!(Held::of(["b", "a"]), Held::Roles(vec!["a".into(), "b".into()]));
    /// let many: Vec<String> = (0..100).map(|n| format!("r{n}")).collect();
    /// assert!(matches!(Held::of(&many), Held::Digest { count: 100, .. }));
    /// ```
    pub fn of<I, R>(roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: AsRef<str>,
    {
        let mut roles: Vec<String> = roles.into_iter().map(|r| r.as_ref().to_owned()).collect();
        roles.sort();
        roles.dedup();
        if roles.len() <= MAX_LISTED_ROLES {
            return Self::Roles(roles);
        }
        let mut bytes = Vec::new();
        for role in &roles {
            put_text(&mut bytes, role);
        }
        Self::Digest {
            count: u32::try_from(roles.len()).unwrap_or(u32::MAX),
            sha256: hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref()),
        }
    }
}

/// How the decision came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed.
    Allow,
    /// Refused.
    Deny,
    /// Not decided: a store or key source the answer needed failed (refused, fail closed).
    Error,
}

impl Outcome {
    /// `allow`, `deny` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Error => "error",
        }
    }

    const fn byte(self) -> u8 {
        match self {
            Self::Allow => 0,
            Self::Deny => 1,
            Self::Error => 2,
        }
    }
}

/// One decision as the trail keeps it. No secret is ever part of it: subjects, roles, reason
/// codes and request facts only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// A random id (32 hex digits).
    pub id: String,
    /// When it was decided, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The W3C trace id of the request (32 hex digits), or one generated for it.
    pub trace_id: String,
    /// Who asked.
    pub subject: String,
    /// The tenant the decision was made in.
    pub tenant: Option<String>,
    /// The namespace within the tenant.
    pub namespace: Option<String>,
    /// What was required (`write:Books`, `action:docs.publish`, `edit docs/document/42`).
    pub required: String,
    /// What the subject held.
    pub held: Held,
    /// How it came out.
    pub outcome: Outcome,
    /// The reason code (`allow_owner`, `deny_no_permission`, …).
    pub reason: String,
    /// What matched, when something did (a grant, a role, a share).
    pub matched: Option<String>,
    /// The route template (axum's `MatchedPath`), for a decision made for a request.
    pub route: Option<String>,
    /// The request's method.
    pub method: Option<String>,
    /// The client's address.
    pub client: Option<String>,
    /// How the subject authenticated (`bearer`, `api_key`, `session`, …).
    pub auth_method: String,
}

/// Why a record cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit record field {0} is longer than {MAX_FIELD_BYTES} bytes")]
pub struct FieldTooLong(pub &'static str);

impl AuditRecord {
    /// Refuses a record with a field longer than [`MAX_FIELD_BYTES`] (named).
    pub fn check(&self) -> Result<(), FieldTooLong> {
        let texts: [(&'static str, Option<&str>); 13] = [
            ("id", Some(&self.id)),
            ("trace_id", Some(&self.trace_id)),
            ("subject", Some(&self.subject)),
            ("tenant", self.tenant.as_deref()),
            ("namespace", self.namespace.as_deref()),
            ("required", Some(&self.required)),
            ("reason", Some(&self.reason)),
            ("matched", self.matched.as_deref()),
            ("route", self.route.as_deref()),
            ("method", self.method.as_deref()),
            ("client", self.client.as_deref()),
            ("auth_method", Some(&self.auth_method)),
            ("held", None),
        ];
        for (name, text) in texts {
            if text.is_some_and(|t| t.len() > MAX_FIELD_BYTES) {
                return Err(FieldTooLong(name));
            }
        }
        match &self.held {
            Held::Roles(roles)
                if roles.len() > MAX_LISTED_ROLES
                    || roles.iter().any(|r| r.len() > MAX_FIELD_BYTES) =>
            {
                Err(FieldTooLong("held"))
            }
            Held::Digest { sha256, .. } if sha256.len() != 64 => Err(FieldTooLong("held")),
            _ => Ok(()),
        }
    }

    /// The record's canonical bytes (format version 1, see the module docs).
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(RECORD_FORMAT);
        put_text(&mut out, &self.id);
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        put_text(&mut out, &self.trace_id);
        put_text(&mut out, &self.subject);
        put_opt(&mut out, self.tenant.as_deref());
        put_opt(&mut out, self.namespace.as_deref());
        put_text(&mut out, &self.required);
        match &self.held {
            Held::Roles(roles) => {
                out.push(0);
                put_len(&mut out, roles.len());
                for role in roles {
                    put_text(&mut out, role);
                }
            }
            Held::Digest { count, sha256 } => {
                out.push(1);
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(&unhex32(sha256));
            }
        }
        out.push(self.outcome.byte());
        put_text(&mut out, &self.reason);
        put_opt(&mut out, self.matched.as_deref());
        put_opt(&mut out, self.route.as_deref());
        put_opt(&mut out, self.method.as_deref());
        put_opt(&mut out, self.client.as_deref());
        put_text(&mut out, &self.auth_method);
        out
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Fields are bounded (`check`) far below 4 GiB; saturate rather than wrap all the same.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

pub(crate) fn put_text(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            out.push(1);
            put_text(out, text);
        }
        None => out.push(0),
    }
}

pub(crate) use crate::secret::hex;

/// 32 bytes from 64 hex digits; zeros where the text is not that (a record whose digest is
/// malformed then fails its signature rather than panicking).
pub(crate) fn unhex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return out;
    }
    let value = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        match (value(pair[0]), value(pair[1])) {
            (Some(hi), Some(lo)) => out[i] = (hi << 4) | lo,
            _ => return [0u8; 32],
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> AuditRecord {
        AuditRecord {
            id: "0123456789abcdef0123456789abcdef".into(),
            time_ms: 1_700_000_000_000,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            subject: "ada".into(),
            tenant: Some("acme".into()),
            namespace: None,
            required: "write:Books".into(),
            held: Held::of(["editor"]),
            outcome: Outcome::Allow,
            reason: "allow_role".into(),
            matched: Some("editor".into()),
            route: Some("/books/{id}".into()),
            method: Some("PUT".into()),
            client: Some("10.0.0.1".into()),
            auth_method: "bearer".into(),
        }
    }

    #[test]
    fn every_field_changes_the_bytes() {
        let base = sample().canonical();
        let edits: Vec<fn(&mut AuditRecord)> = vec![
            |r| r.id.push('0'),
            |r| r.time_ms += 1,
            |r| r.trace_id.push('0'),
            |r| r.subject = "bob".into(),
            |r| r.tenant = None,
            |r| r.namespace = Some(String::new()),
            |r| r.required = "read:Books".into(),
            |r| r.held = Held::of(["admin"]),
            |r| r.outcome = Outcome::Deny,
            |r| r.reason = "deny".into(),
            |r| r.matched = None,
            |r| r.route = None,
            |r| r.method = Some("GET".into()),
            |r| r.client = None,
            |r| r.auth_method = "session".into(),
        ];
        for (n, edit) in edits.iter().enumerate() {
            let mut record = sample();
            edit(&mut record);
            assert_ne!(record.canonical(), base, "edit {n} left the bytes alone");
        }
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        // Without length prefixes "ab" + "c" and "a" + "bc" would write the same bytes.
        let mut a = sample();
        a.subject = "ab".into();
        a.required = "c".into();
        let mut b = sample();
        b.subject = "a".into();
        b.required = "bc".into();
        assert_ne!(a.canonical(), b.canonical());
        let mut none = sample();
        none.namespace = None;
        let mut empty = sample();
        empty.namespace = Some(String::new());
        assert_ne!(none.canonical(), empty.canonical());
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let mut record = sample();
        record.held = Held::Roles(Vec::new());
        record.tenant = None;
        record.matched = None;
        record.route = None;
        record.method = None;
        record.client = None;
        let bytes = record.canonical();
        assert_eq!(&bytes[..8], b"PCAUDIT1");
        assert_eq!(&bytes[8..12], &32u32.to_be_bytes());
        let mut expected = b"PCAUDIT1".to_vec();
        for part in [
            &[0, 0, 0, 32][..],
            record.id.as_bytes(),
            &1_700_000_000_000i64.to_be_bytes(),
            &[0, 0, 0, 32],
            record.trace_id.as_bytes(),
            &[0, 0, 0, 3],
            b"ada",
            &[0],
            &[0],
            &[0, 0, 0, 11],
            b"write:Books",
            &[0, 0, 0, 0, 0],
            &[0],
            &[0, 0, 0, 10],
            b"allow_role",
            &[0, 0, 0, 0],
            &[0, 0, 0, 6],
            b"bearer",
        ] {
            expected.extend_from_slice(part);
        }
        assert_eq!(bytes, expected);
    }

    #[test]
    fn oversized_fields_are_refused_not_cut() {
        let mut record = sample();
        record.subject = "x".repeat(MAX_FIELD_BYTES + 1);
        assert_eq!(record.check(), Err(FieldTooLong("subject")));
        let mut record = sample();
        record.held = Held::Roles((0..=MAX_LISTED_ROLES).map(|n| n.to_string()).collect());
        assert_eq!(record.check(), Err(FieldTooLong("held")));
        assert_eq!(sample().check(), Ok(()));
    }

    #[test]
    fn many_roles_are_digested_in_order_independently_of_input_order() {
        let forward: Vec<String> = (0..100).map(|n| format!("r{n}")).collect();
        let backward: Vec<String> = forward.iter().rev().cloned().collect();
        assert_eq!(Held::of(&forward), Held::of(&backward));
        let Held::Digest { sha256, .. } = Held::of(&forward) else {
            panic!("not digested");
        };
        assert_eq!(unhex32(&sha256).to_vec().len(), 32);
        assert_eq!(hex(&unhex32(&sha256)), sha256);
    }
}
