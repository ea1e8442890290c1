//! Small sets of role indexes: which roles grant a text ([`RoleIds`]), and which roles a subject
//! holds ([`Holder`]).
//!
//! A policy numbers its roles from 0. The two sides have different shapes because they have
//! different sizes: a text is granted by one role or a few, so its set is one machine word for
//! the first 64 roles plus a short list beside it, two words in all (it sits beside the text in
//! one cache line); a subject's set is a bitset over the policy's roles, so "does the subject
//! hold role 93?" is one bit test however many roles the policy has.

/// The roles that grant one text.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub(crate) struct RoleIds {
    /// Bit `i` set: role `i` (for `i` < 64) grants it.
    low: u64,
    /// Indexes 64 and up, sorted, distinct and never empty; behind one thin pointer.
    // A `Box<[u32]>` or a `Vec` would be two or three words; the extra allocation is paid only
    // by texts that roles past the 64th grant, and only when the index is compiled.
    #[allow(clippy::box_collection)]
    high: Option<Box<Vec<u32>>>,
}

impl RoleIds {
    /// The set of one role.
    pub(crate) fn one(id: u32) -> Self {
        let mut ids = Self::default();
        ids.insert(id);
        ids
    }

    /// Adds a role (used while compiling, never on a request).
    pub(crate) fn insert(&mut self, id: u32) {
        if id < 64 {
            self.low |= 1 << id;
        } else {
            let high = self.high.get_or_insert_with(Box::default);
            if let Err(at) = high.binary_search(&id) {
                high.insert(at, id);
            }
        }
    }

    /// Whether the subject holds one of these roles.
    #[inline]
    pub(crate) fn meets(&self, who: &Holder) -> bool {
        self.low & who.first != 0
            || self
                .high
                .as_deref()
                .is_some_and(|high| !who.rest.is_empty() && high.iter().any(|&id| who.has(id)))
    }

    /// The lowest of these roles that the subject holds.
    pub(crate) fn first_in(&self, who: &Holder) -> Option<u32> {
        let both = self.low & who.first;
        if both != 0 {
            return Some(both.trailing_zeros());
        }
        self.high
            .as_deref()?
            .iter()
            .copied()
            .find(|&id| who.has(id))
    }
}

/// The roles a subject holds: a bitset over the policy's role indexes.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub(crate) struct Holder {
    /// Roles 0 to 63.
    first: u64,
    /// Roles 64 and up, 64 a word; no trailing zero word.
    rest: Box<[u64]>,
}

impl Holder {
    /// A subject holding these roles, in any order, duplicates allowed.
    pub(crate) fn of(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut first = 0u64;
        let mut rest: Vec<u64> = Vec::new();
        for id in ids {
            if id < 64 {
                first |= 1 << id;
            } else {
                let word = (id / 64 - 1) as usize;
                if rest.len() <= word {
                    rest.resize(word + 1, 0);
                }
                rest[word] |= 1 << (id % 64);
            }
        }
        Self {
            first,
            rest: rest.into(),
        }
    }

    /// Whether the subject holds role `id`.
    #[inline]
    pub(crate) fn has(&self, id: u32) -> bool {
        let bit = 1u64 << (id % 64);
        match id / 64 {
            0 => self.first & bit != 0,
            word => self
                .rest
                .get(word as usize - 1)
                .is_some_and(|w| w & bit != 0),
        }
    }

    /// Whether the subject holds no role.
    pub(crate) fn is_empty(&self) -> bool {
        self.first == 0 && self.rest.is_empty()
    }

    /// The one role of a subject holding exactly one.
    pub(crate) fn only(&self) -> Option<u32> {
        let mut held = self.iter();
        match (held.next(), held.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// The roles held, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.first)
            .chain(self.rest.iter().copied())
            .zip(0u32..)
            .flat_map(|(word, n)| {
                (0..64u32)
                    .filter(move |bit| word & (1 << bit) != 0)
                    .map(move |bit| n * 64 + bit)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(ids: &[u32]) -> RoleIds {
        let mut set = RoleIds::default();
        for &id in ids {
            set.insert(id);
        }
        set
    }

    #[test]
    fn a_granted_set_is_two_words() {
        assert_eq!(std::mem::size_of::<RoleIds>(), 16);
    }

    #[test]
    fn low_and_high_indexes_meet() {
        let granted = granted(&[3, 70, 200, 70]);
        assert!(granted.meets(&Holder::of([3])));
        assert!(granted.meets(&Holder::of([1, 200])));
        assert!(granted.meets(&Holder::of([70])));
        assert!(!granted.meets(&Holder::of([4, 71, 199])));
        assert!(!granted.meets(&Holder::of([4, 64 * 5])));
        assert!(!granted.meets(&Holder::default()));
        assert_eq!(granted.first_in(&Holder::of([200, 70])), Some(70));
        assert_eq!(granted.first_in(&Holder::of([200, 3])), Some(3));
        assert_eq!(granted.first_in(&Holder::of([5, 64])), None);
    }

    #[test]
    fn a_holder_is_a_bitset() {
        let held = Holder::of([1000, 63, 64, 2, 90, 2]);
        assert_eq!(held.iter().collect::<Vec<_>>(), [2, 63, 64, 90, 1000]);
        assert!(held.has(1000) && held.has(64) && !held.has(65) && !held.has(5000));
        assert!(!held.is_empty() && Holder::of([]).is_empty());
        assert_eq!(Holder::of([5]).only(), Some(5));
        assert_eq!(Holder::of([500, 500]).only(), Some(500));
        assert_eq!(held.only(), None);
        assert_eq!(Holder::default().only(), None);
    }
}
