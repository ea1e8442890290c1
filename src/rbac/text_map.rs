//! A hash table from grant texts to the roles that grant them, laid out for the one question a
//! check asks: is this text, or one of its prefixes ending before a `.`, in the table?
//!
//! Two choices make that cheap, and both are ours rather than a general map's:
//! - **A text's hash is chained over its `.`-separated pieces**: the hash of `a.b.c` extends the
//!   hash of `a.b` by the piece `c`. Probing every ancestor of a text therefore hashes each byte
//!   once, where a general map rehashes each prefix from its first byte (at 8 levels, 8 times).
//! - **Short texts live inside the table's slots** (one 64-byte slot each, cache-line aligned):
//!   a hit compares bytes already in the line it read, instead of following a pointer to a string
//!   elsewhere in memory. With a large policy checked over many permissions, that pointer is a
//!   cache miss on every hit.
//!
//! The hashing is foldhash, seeded per table at random, as for any map keyed by outside text.

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::role_ids::{Holder, RoleIds};

/// Longest text kept inside a slot.
const INLINE: usize = 38;

/// A grant text, inside its slot when short.
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Text {
    fn new(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(text.into()),
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(text) => text.as_bytes(),
        }
    }
}

/// One slot: a text, its hash and the roles that grant it.
#[repr(align(64))]
struct Slot {
    hash: u64,
    roles: RoleIds,
    text: Text,
}

/// Grant texts → the roles that grant them.
#[derive(Default)]
pub(crate) struct TextMap {
    table: HashTable<Slot>,
    hashing: RandomState,
    /// The longest text's length: no probe longer than it can match.
    longest: usize,
    /// The most `.`-separated pieces of a text: no probe with more can match.
    deepest: usize,
}

impl TextMap {
    /// The hash of `piece` following the pieces hashed into `state`.
    #[inline]
    fn extend(&self, state: u64, piece: &[u8]) -> u64 {
        let mut hasher = self.hashing.build_hasher();
        hasher.write_u64(state);
        hasher.write(piece);
        hasher.finish()
    }

    /// The chained hash of a whole text.
    fn hash_of(&self, text: &str) -> u64 {
        text.as_bytes()
            .split(|&b| b == b'.')
            .fold(0, |state, piece| self.extend(state, piece))
    }

    /// Records that `role` grants `text`.
    pub(crate) fn add(&mut self, text: &str, role: u32) {
        self.longest = self.longest.max(text.len());
        self.deepest = self
            .deepest
            .max(1 + memchr::memchr_iter(b'.', text.as_bytes()).count());
        let hash = self.hash_of(text);
        let same = |slot: &Slot| slot.hash == hash && slot.text.as_bytes() == text.as_bytes();
        if let Some(slot) = self.table.find_mut(hash, same) {
            slot.roles.insert(role);
        } else {
            let slot = Slot {
                hash,
                roles: RoleIds::one(role),
                text: Text::new(text),
            };
            self.table.insert_unique(hash, slot, |slot| slot.hash);
        }
    }

    /// The roles that grant exactly `text`, whose chained hash is `hash`.
    #[inline]
    fn roles_of(&self, text: &[u8], hash: u64) -> Option<&RoleIds> {
        self.table
            .find(hash, |slot| {
                slot.hash == hash && slot.text.as_bytes() == text
            })
            .map(|slot| &slot.roles)
    }

    /// Whether the table holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Whether one of `who` grants `text` itself.
    #[inline]
    pub(crate) fn grants(&self, text: &str, who: &Holder) -> bool {
        !self.table.is_empty()
            && text.len() <= self.longest
            && self
                .roles_of(text.as_bytes(), self.hash_of(text))
                .is_some_and(|ids| ids.meets(who))
    }

    /// Calls `found` with `text` and each prefix of it that ends before one of `dots` (the
    /// offsets of its `.`s, ascending; shortest first) and that the table holds, with the roles
    /// that grant it, until `found` answers `Some`.
    #[inline]
    fn each_held_prefix<T>(
        &self,
        text: &str,
        dots: impl Iterator<Item = usize>,
        mut found: impl FnMut(&str, &RoleIds) -> Option<T>,
    ) -> Option<T> {
        if self.table.is_empty() {
            return None;
        }
        let bytes = text.as_bytes();
        // The hash so far, where its next piece starts, and how many pieces it holds.
        let (mut state, mut start, mut pieces) = (0, 0, 0);
        for end in dots {
            pieces += 1;
            if end > self.longest || pieces > self.deepest {
                return None;
            }
            let (Some(piece), Some(prefix)) = (bytes.get(start..end), text.get(..end)) else {
                return None; // not a `.` of this text: nothing to find
            };
            state = self.extend(state, piece);
            if let Some(ids) = self.roles_of(prefix.as_bytes(), state)
                && let Some(answer) = found(prefix, ids)
            {
                return Some(answer);
            }
            start = end + 1;
        }
        if bytes.len() > self.longest || pieces + 1 > self.deepest {
            return None;
        }
        state = self.extend(state, bytes.get(start..)?);
        self.roles_of(bytes, state).and_then(|ids| found(text, ids))
    }

    /// Whether one of `who` grants `text`, or a prefix of it that ends before one of `dots`
    /// (the offsets of its `.`s, ascending).
    #[inline]
    pub(crate) fn grants_text_or_ancestor(
        &self,
        text: &str,
        dots: impl Iterator<Item = usize>,
        who: &Holder,
    ) -> bool {
        self.each_held_prefix(text, dots, |_, ids| ids.meets(who).then_some(()))
            .is_some()
    }

    /// The lowest role of `who` that grants exactly `text` (hashed whole, as `add` hashed it:
    /// for action names, whose `.`s are not levels).
    pub(crate) fn holder_of(&self, text: &str, who: &Holder) -> Option<u32> {
        if self.table.is_empty() || text.len() > self.longest {
            return None;
        }
        self.roles_of(text.as_bytes(), self.hash_of(text))?
            .first_in(who)
    }

    /// The first text (shortest first) of `text` and its ancestors that one of `who` grants,
    /// and the lowest such role.
    pub(crate) fn first_match<'t>(
        &self,
        text: &'t str,
        dots: impl Iterator<Item = usize>,
        who: &Holder,
    ) -> Option<(&'t str, u32)> {
        let mut first = None;
        self.each_held_prefix(text, dots, |t, ids| {
            let role = ids.first_in(who)?;
            first = Some((t.len(), role));
            Some(())
        })?;
        first.map(|(len, role)| (&text[..len], role))
    }

    /// How many texts the table holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
        assert_eq!(std::mem::align_of::<Slot>(), 64);
    }

    /// Whether one of `who` grants `text` or one of its ancestors below `read:`.
    fn finds(map: &TextMap, text: &str, who: &Holder) -> bool {
        let dots = text.match_indices('.').map(|(at, _)| at);
        map.grants_text_or_ancestor(text, dots, who)
    }

    #[test]
    fn prefixes_short_and_long_texts_are_found() {
        let long = format!("read:{}", ["Segment"; 8].join("."));
        let mut map = TextMap::default();
        map.add("read:A.B", 1);
        map.add(&long, 2);
        map.add("read:A.B", 70);
        let (one, two, both) = (Holder::of([1]), Holder::of([2]), Holder::of([70]));
        assert!(finds(&map, "read:A.B.C.D", &one));
        assert!(finds(&map, "read:A.B", &both));
        assert!(!finds(&map, "read:A", &one));
        assert!(!finds(&map, "read:A.BC", &one));
        assert!(!finds(&map, "read:A.B.C", &two));
        assert!(finds(&map, &long, &two));
        assert!(finds(&map, &format!("{long}.Deeper"), &two));
        assert!(!finds(&map, &long[..long.len() - 1], &two));
        assert!(map.grants("read:A.B", &one) && !map.grants("read:A.B.C", &one));
        assert_eq!(
            map.first_match("read:A.B.C", [6, 8].into_iter(), &Holder::of([2, 70])),
            Some(("read:A.B", 70))
        );
        assert_eq!(map.len(), 2);
    }
}
