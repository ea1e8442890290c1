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
        Self::of_owned(roles.into_iter().map(|r| r.as_ref().to_owned()).collect())
    }

    /// [`Held::of`] for names already owned (no copy of each).
    pub(crate) fn of_owned(mut roles: Vec<String>) -> Self {
        roles.sort_unstable();
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

impl Held {
    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Held::Roles(roles) => {
                out.push(0);
                put_len(out, roles.len());
                for role in roles {
                    put_text(out, role);
                }
            }
            Held::Digest { count, sha256 } => {
                out.push(1);
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(&unhex32(sha256));
            }
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
            // One spelling per digest: any other text would map to the same bytes.
            Held::Digest { sha256, .. } if crate::secret::unhex32(sha256).is_none() => {
                Err(FieldTooLong("held"))
            }
            _ => Ok(()),
        }
    }

    /// The record's canonical bytes (format version 1, see the module docs).
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.canonical_into(&mut out);
        out
    }

    /// Appends the record's canonical bytes to `out`.
    pub(crate) fn canonical_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(RECORD_FORMAT);
        put_text(out, &self.id);
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        put_text(out, &self.trace_id);
        put_text(out, &self.subject);
        put_opt(out, self.tenant.as_deref());
        put_opt(out, self.namespace.as_deref());
        put_text(out, &self.required);
        self.held.encode_into(out);
        out.push(self.outcome.byte());
        put_text(out, &self.reason);
        put_opt(out, self.matched.as_deref());
        put_opt(out, self.route.as_deref());
        put_opt(out, self.method.as_deref());
        put_opt(out, self.client.as_deref());
        put_text(out, &self.auth_method);
    }
}

/// Writes a record's canonical bytes straight from borrowed parts, field by field in the
/// layout's order, for the trail's request path: one allocation per record, where an
/// [`AuditRecord`] takes one per field (each then freed on the writer's thread, which costs
/// glibc more than the allocation did). Text longer than [`MAX_FIELD_BYTES`] is written as
/// `sha256:<hex>` of itself, as the trail records it; [`AuditRecord::from_canonical`] reads the
/// result back.
pub(crate) struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    /// Starts a record: the magic, its id (16 bytes, written as 32 hex digits) and its time.
    pub(crate) fn new(id: &[u8; 16], time_ms: i64) -> Self {
        let mut out = Vec::with_capacity(320);
        out.extend_from_slice(RECORD_FORMAT);
        put_len(&mut out, 32);
        put_hex(&mut out, id);
        out.extend_from_slice(&time_ms.to_be_bytes());
        Self { out }
    }

    /// A text field, from 16 bytes written as 32 hex digits (a generated trace id).
    pub(crate) fn hex16(&mut self, bytes: &[u8; 16]) {
        put_len(&mut self.out, 32);
        put_hex(&mut self.out, bytes);
    }

    pub(crate) fn text(&mut self, text: &str) {
        if text.len() <= MAX_FIELD_BYTES {
            put_text(&mut self.out, text);
        } else {
            put_text(&mut self.out, &digest_text(text));
        }
    }

    pub(crate) fn opt(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                self.out.push(1);
                self.text(text);
            }
            None => self.out.push(0),
        }
    }

    /// A text field from `value`'s `Display`, formatted in place.
    pub(crate) fn display(&mut self, value: &dyn std::fmt::Display) {
        use std::fmt::Write as _;
        struct Bytes<'a>(&'a mut Vec<u8>);
        impl std::fmt::Write for Bytes<'_> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0.extend_from_slice(s.as_bytes());
                Ok(())
            }
        }
        let at = self.out.len();
        put_len(&mut self.out, 0);
        // Writing into a Vec cannot fail; a Display that fails leaves what it wrote.
        let _ = write!(Bytes(&mut self.out), "{value}");
        let len = self.out.len() - at - 4;
        if len <= MAX_FIELD_BYTES {
            self.out[at..at + 4].copy_from_slice(&u32::try_from(len).unwrap_or(0).to_be_bytes());
        } else {
            let digest = digest_text_of(&self.out[at + 4..]);
            self.out.truncate(at);
            put_text(&mut self.out, &digest);
        }
    }

    /// An optional text field from a `Display`.
    pub(crate) fn opt_display(&mut self, value: Option<&dyn std::fmt::Display>) {
        match value {
            Some(value) => {
                self.out.push(1);
                self.display(value);
            }
            None => self.out.push(0),
        }
    }

    /// The roles held, as [`Held::of`] records them.
    pub(crate) fn held(&mut self, roles: &[String]) {
        let plain =
            roles.len() <= MAX_LISTED_ROLES && roles.iter().all(|r| r.len() <= MAX_FIELD_BYTES);
        if !plain {
            return Held::of_owned(roles.iter().map(|r| bounded_text(r)).collect())
                .encode_into(&mut self.out);
        }
        // Sorted and deduplicated on the stack: at most MAX_LISTED_ROLES names.
        let mut names = [""; MAX_LISTED_ROLES];
        for (slot, role) in names.iter_mut().zip(roles) {
            *slot = role;
        }
        let names = &mut names[..roles.len()];
        names.sort_unstable();
        let mut count = 0;
        for i in 0..names.len() {
            if i == 0 || names[i] != names[i - 1] {
                names[count] = names[i];
                count += 1;
            }
        }
        self.out.push(0);
        put_len(&mut self.out, count);
        for name in &names[..count] {
            put_text(&mut self.out, name);
        }
    }

    pub(crate) fn outcome(&mut self, outcome: Outcome) {
        self.out.push(outcome.byte());
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.out
    }
}

fn put_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.extend_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]]);
    }
}

/// `text` kept as is within [`MAX_FIELD_BYTES`], else as `sha256:<hex>` of itself (so an
/// oversized value is still evidence, never a reason to lose the record).
pub(crate) fn bounded_text(text: &str) -> String {
    if text.len() <= MAX_FIELD_BYTES {
        text.to_owned()
    } else {
        digest_text(text)
    }
}

fn digest_text(text: &str) -> String {
    digest_text_of(text.as_bytes())
}

fn digest_text_of(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    format!("sha256:{}", hex(digest.as_ref()))
}

/// Reads canonical bytes back, strictly: every length in bounds, every tag known, nothing
/// left over.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_be_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.take(8)?.try_into().ok().map(i64::from_be_bytes)
    }

    fn text(&mut self) -> Option<String> {
        let len = usize::try_from(self.u32()?).ok()?;
        if len > MAX_FIELD_BYTES {
            return None;
        }
        std::str::from_utf8(self.take(len)?).ok().map(str::to_owned)
    }

    fn opt(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => self.text().map(Some),
            _ => None,
        }
    }

    fn held(&mut self) -> Option<Held> {
        match self.u8()? {
            0 => {
                let count = usize::try_from(self.u32()?).ok()?;
                if count > MAX_LISTED_ROLES {
                    return None;
                }
                (0..count)
                    .map(|_| self.text())
                    .collect::<Option<_>>()
                    .map(Held::Roles)
            }
            1 => {
                let count = self.u32()?;
                let digest = self.take(32)?;
                Some(Held::Digest {
                    count,
                    sha256: hex(digest),
                })
            }
            _ => None,
        }
    }

    fn outcome(&mut self) -> Option<Outcome> {
        match self.u8()? {
            0 => Some(Outcome::Allow),
            1 => Some(Outcome::Deny),
            2 => Some(Outcome::Error),
            _ => None,
        }
    }
}

impl AuditRecord {
    /// The record whose canonical bytes (format version 1) are `bytes`: `None` unless they are
    /// exactly one record, every field within its bounds. Strict about framing and bounds; the
    /// roles listed are read in the order written (the trail writes them sorted). `from_canonical(&r.canonical())` is
    /// `r` for every record that passes [`check`](Self::check).
    ///
    /// ```
    /// use portcullis::audit::{AuditRecord, Held, Outcome};
    ///
    /// let record = AuditRecord {
    ///     id: "0123456789abcdef0123456789abcdef".into(),
    ///     time_ms: 1_700_000_000_000,
    ///     trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
    ///     subject: "ada".into(),
    ///     tenant: None,
    ///     namespace: None,
    ///     required: "read:Books".into(),
    ///     held: Held::of(["viewer"]),
    ///     outcome: Outcome::Allow,
    ///     reason: "allow".into(),
    ///     matched: None,
    ///     route: Some("/books".into()),
    ///     method: Some("GET".into()),
    ///     client: None,
    ///     auth_method: "bearer".into(),
    /// };
    /// assert_eq!(AuditRecord::from_canonical(&record.canonical()), Some(record.clone()));
    /// let mut extra = record.canonical();
    /// extra.push(0);
    /// assert_eq!(AuditRecord::from_canonical(&extra), None);
    /// ```
    pub fn from_canonical(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader { bytes };
        if r.take(RECORD_FORMAT.len())? != RECORD_FORMAT {
            return None;
        }
        let record = AuditRecord {
            id: r.text()?,
            time_ms: r.i64()?,
            trace_id: r.text()?,
            subject: r.text()?,
            tenant: r.opt()?,
            namespace: r.opt()?,
            required: r.text()?,
            held: r.held()?,
            outcome: r.outcome()?,
            reason: r.text()?,
            matched: r.opt()?,
            route: r.opt()?,
            method: r.opt()?,
            client: r.opt()?,
            auth_method: r.text()?,
        };
        r.bytes.is_empty().then_some(record)
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

/// 32 bytes from 64 lowercase hex digits; zeros where the text is not that (a record whose
/// digest is malformed then fails its signature rather than panicking; `check` refuses it
/// before that).
pub(crate) fn unhex32(text: &str) -> [u8; 32] {
    crate::secret::unhex32(text).unwrap_or([0u8; 32])
}

#[cfg(test)]
pub(crate) mod tests {
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
