//! The key-value interface the state machine writes through.
//!
//! The storage crate implements it over an fjall write batch with an overlay,
//! so that later entries in one batch see earlier ones; tests use [`MemStore`].

use std::collections::BTreeMap;
use std::ops::Bound;

/// A failure of the underlying store (I/O, corruption). It is not a command
/// error: the state machine stops applying and the node treats it as fatal.
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(pub String);

/// Ordered key-value access. All keys are the encoded keys of [`crate::redis::keys`].
pub trait Store {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// `put` for a caller that owns the bytes: a store that keeps them
    /// takes them as they are instead of copying.
    fn put_owned(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        self.put(&key, &value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError>;

    /// Starts one op: the writes from here until the next `begin_op` can
    /// be undone by `rollback_op`. Apply calls it before each op.
    fn begin_op(&mut self);

    /// Undoes every write since `begin_op`: the store reads as it did
    /// then. Apply calls it when an op could not be carried out.
    fn rollback_op(&mut self);

    /// Visits every key that starts with `prefix`, in ascending byte order,
    /// until `visit` returns false.
    fn scan(
        &self,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.scan_from(prefix, prefix, visit)
    }

    /// Like `scan`, but starts at the first key at or after `from` (a key
    /// that itself starts with `prefix`), without visiting the ones before.
    fn scan_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;

    /// Visits every key that starts with `prefix` and sorts before `below`
    /// (every one of them when `below` is None), in descending byte order,
    /// until `visit` returns false.
    fn scan_rev(
        &self,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
}

/// A range of keys, as `BTreeMap::range` and fjall take it.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The key range a reverse scan of `prefix` below `below` covers: from
/// `prefix` (included) to the smaller of `below` and the first key past
/// every key with `prefix` (excluded), so each key in it has `prefix`.
/// None when it is empty (`below` is at or before `prefix`).
pub fn rev_range(prefix: &[u8], below: Option<&[u8]>) -> Option<KeyRange> {
    if below.is_some_and(|below| below <= prefix) {
        return None;
    }
    let end = prefix_end(prefix);
    let upper = match (below, end) {
        (Some(below), Some(end)) => Bound::Excluded(below.min(&end).to_vec()),
        (Some(below), None) => Bound::Excluded(below.to_vec()),
        (None, Some(end)) => Bound::Excluded(end),
        (None, None) => Bound::Unbounded,
    };
    Some((Bound::Included(prefix.to_vec()), upper))
}

/// The first key after every key that starts with `prefix`; None when
/// there is none (`prefix` is empty or all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

/// An in-memory store: the model in tests and benchmarks.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Each key's value before the current op first wrote it.
    undo: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Two stores are equal when they hold the same data.
impl PartialEq for MemStore {
    fn eq(&self, other: &MemStore) -> bool {
        self.map == other.map
    }
}

impl Eq for MemStore {}

impl MemStore {
    fn remember(&mut self, key: &[u8], previous: Option<Vec<u8>>) {
        self.undo.push((key.to_vec(), previous));
    }
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let previous = self.map.insert(key.to_vec(), value.to_vec());
        self.remember(key, previous);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let previous = self.map.remove(key);
        self.remember(key, previous);
        Ok(())
    }

    fn begin_op(&mut self) {
        self.undo.clear();
    }

    fn rollback_op(&mut self) {
        // Newest first, so a key written twice gets its oldest value back.
        while let Some((key, previous)) = self.undo.pop() {
            match previous {
                Some(value) => self.map.insert(key, value),
                None => self.map.remove(&key),
            };
        }
    }

    fn scan_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        for (k, v) in self.map.range(from.max(prefix).to_vec()..) {
            if !k.starts_with(prefix) || !visit(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn scan_rev(
        &self,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let Some(range) = rev_range(prefix, below) else {
            return Ok(());
        };
        for (k, v) in self.map.range(range).rev() {
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
        assert_eq!(prefix_end(&[]), None);
    }

    #[test]
    fn scan_rev_visits_the_prefix_below_the_bound_in_descending_order() {
        let mut store = MemStore::default();
        for key in [
            &b"a"[..],
            b"b",
            b"b\x00",
            b"b1",
            b"b2",
            b"b\xff",
            b"c",
            &[b'b', 0xFF, 0xFF],
        ] {
            store.put(key, key).expect("put");
        }
        let collect = |prefix: &[u8], below: Option<&[u8]>| {
            let mut seen = Vec::new();
            store
                .scan_rev(prefix, below, &mut |k, _| {
                    seen.push(k.to_vec());
                    true
                })
                .expect("scan");
            seen
        };
        assert_eq!(
            collect(b"b", None),
            [
                &[b'b', 0xFF, 0xFF][..],
                b"b\xff",
                b"b2",
                b"b1",
                b"b\x00",
                b"b"
            ]
        );
        assert_eq!(collect(b"b", Some(b"b2")), [&b"b1"[..], b"b\x00", b"b"]);
        assert_eq!(collect(b"b", Some(b"b")), Vec::<Vec<u8>>::new());
        assert_eq!(collect(b"b", Some(b"a")), Vec::<Vec<u8>>::new());
        assert_eq!(collect(b"", Some(b"b1")), [&b"b\x00"[..], b"b", b"a"]);
        let mut first = Vec::new();
        store
            .scan_rev(b"b", None, &mut |k, _| {
                first.push(k.to_vec());
                false
            })
            .expect("scan");
        assert_eq!(first.len(), 1, "a visit returning false stops the scan");
    }
}
