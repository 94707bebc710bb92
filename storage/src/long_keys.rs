//! Keys of any length over an engine whose keys are short.
//!
//! fjall refuses keys over 65,535 bytes (it panics on them inside a write
//! batch), while a Redis key, hash field or set member may be up to 512 MB.
//! [`LongKeys`] wraps an engine and stores a key longer than its inline
//! limit `T` by indirection:
//!
//! | logical key        | physical key                 | physical value                          |
//! |--------------------|------------------------------|-----------------------------------------|
//! | `len <= T`         | the key itself               | the value                               |
//! | `len > T`          | `key[..T]`, SHA-256(key)     | `[key len u32 LE][key][value]`          |
//!
//! Order stays exact. A physical key longer than `T` is always a long
//! key's; the long keys that share their first `T` bytes (a *group*) sit
//! next to each other physically, where no short key can come between
//! them, and compare with every key outside the group as their logical
//! keys do. So a scan walks the physical order and, at each group, reads
//! the whole group and visits it sorted by logical key. A group is as big
//! as the keys in it: only keys over `T` bytes that also agree on their
//! first `T` bytes share one, and a scan holds one group in memory at once.
//!
//! `T` is recorded in the engine's meta space when a store is made and read
//! back ever after, so a store keeps the layout it was written with. A store
//! written before this layout existed (it has data but no record) gets
//! [`INLINE_KEY_LEN_LEGACY`]: every key it can hold is inline there.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::engine::{BatchOp, KvEngine, KvView, Space};
use orbit_core::StoreError;

/// The largest key fjall accepts.
pub const ENGINE_KEY_LEN_MAX: usize = 65_535;
const DIGEST_LEN: usize = 32;
/// The inline limit of a new store: keys up to this length are stored as
/// they are. Small enough that fjall's blocks and indexes stay small.
pub const INLINE_KEY_LEN_DEFAULT: usize = 16 * 1024;
/// The inline limit of a store made before long keys existed: any key such
/// a store could hold is inline.
pub const INLINE_KEY_LEN_LEGACY: usize = ENGINE_KEY_LEN_MAX - DIGEST_LEN;
/// Where the inline limit is recorded, in the meta space.
const META_INLINE_KEY_LEN: &[u8] = b"inline-key-len-max";

/// An engine that takes keys of any length (see the module docs).
pub struct LongKeys {
    inner: Arc<dyn KvEngine>,
    inline_len_max: usize,
}

impl LongKeys {
    /// Wraps `inner`. A store without a recorded inline limit gets
    /// `inline_len_new` when it is empty, and the legacy limit when it holds
    /// data; the limit is recorded and persisted before anything else.
    pub fn open(
        inner: Arc<dyn KvEngine>,
        inline_len_new: usize,
    ) -> Result<Arc<LongKeys>, StoreError> {
        assert!((1..=INLINE_KEY_LEN_LEGACY).contains(&inline_len_new));
        let view = inner.view();
        let inline_len_max = match view.get(Space::Meta, META_INLINE_KEY_LEN)? {
            Some(bytes) => decode_inline_len(&bytes)?,
            None => {
                let inline_len = if is_empty(&*view)? {
                    inline_len_new
                } else {
                    INLINE_KEY_LEN_LEGACY
                };
                let record = (inline_len as u64).to_le_bytes().to_vec();
                inner.write(vec![(
                    Space::Meta,
                    META_INLINE_KEY_LEN.to_vec(),
                    Some(record),
                )])?;
                inner.persist()?;
                inline_len
            }
        };
        assert!(inline_len_max + DIGEST_LEN <= ENGINE_KEY_LEN_MAX);
        Ok(Arc::new(LongKeys {
            inner,
            inline_len_max,
        }))
    }

    /// Keys up to this length are stored as they are.
    pub fn inline_len_max(&self) -> usize {
        self.inline_len_max
    }
}

fn decode_inline_len(bytes: &[u8]) -> Result<usize, StoreError> {
    let raw: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError(format!("inline key limit record of {} bytes", bytes.len())))?;
    let inline_len = usize::try_from(u64::from_le_bytes(raw)).unwrap_or(usize::MAX);
    if !(1..=INLINE_KEY_LEN_LEGACY).contains(&inline_len) {
        return Err(StoreError(format!(
            "inline key limit {inline_len} out of range"
        )));
    }
    Ok(inline_len)
}

fn is_empty(view: &dyn KvView) -> Result<bool, StoreError> {
    let mut empty = true;
    for space in [Space::Data, Space::Meta, Space::Changes] {
        view.scan(space, &[], &mut |_, _| {
            empty = false;
            false
        })?;
    }
    Ok(empty)
}

/// The physical key of a key longer than `inline_len_max`.
fn physical_key(key: &[u8], inline_len_max: usize) -> Vec<u8> {
    assert!(key.len() > inline_len_max);
    let mut out = Vec::with_capacity(inline_len_max + DIGEST_LEN);
    out.extend_from_slice(&key[..inline_len_max]);
    out.extend_from_slice(&Sha256::digest(key));
    assert!(out.len() > inline_len_max && out.len() <= ENGINE_KEY_LEN_MAX);
    out
}

fn physical_value(key: &[u8], value: &[u8]) -> Vec<u8> {
    let key_len =
        u32::try_from(key.len()).expect("a key is bounded by the entry size, under 4 GiB");
    let mut out = Vec::with_capacity(4 + key.len() + value.len());
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

/// Splits a long key's physical value into its logical key and value.
fn split_physical_value(stored: &[u8]) -> Result<(&[u8], &[u8]), StoreError> {
    let corrupt = || {
        StoreError(format!(
            "long key record of {} bytes is cut short",
            stored.len()
        ))
    };
    let len_bytes: [u8; 4] = stored
        .get(..4)
        .ok_or_else(corrupt)?
        .try_into()
        .expect("4 bytes");
    let key_len = usize::try_from(u32::from_le_bytes(len_bytes)).expect("u32 fits usize");
    let key = stored.get(4..4 + key_len).ok_or_else(corrupt)?;
    Ok((key, &stored[4 + key_len..]))
}

impl KvEngine for LongKeys {
    fn view(&self) -> Box<dyn KvView> {
        Box::new(LongKeysView {
            inner: self.inner.view(),
            inline_len_max: self.inline_len_max,
        })
    }

    fn write(&self, batch: Vec<BatchOp>) -> Result<(), StoreError> {
        let inline_len_max = self.inline_len_max;
        let batch = batch
            .into_iter()
            .map(|(space, key, value)| {
                if key.len() <= inline_len_max {
                    return (space, key, value);
                }
                let value = value.map(|value| physical_value(&key, &value));
                (space, physical_key(&key, inline_len_max), value)
            })
            .collect();
        self.inner.write(batch)
    }

    fn persist(&self) -> Result<(), StoreError> {
        self.inner.persist()
    }
}

struct LongKeysView {
    inner: Box<dyn KvView>,
    inline_len_max: usize,
}

impl LongKeysView {
    fn cut<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        &key[..key.len().min(self.inline_len_max)]
    }

    /// Walks the inner scan `inner_scan` in its order, visiting short keys
    /// as they come and each group sorted (descending when `descending`),
    /// every key filtered by `wanted`.
    fn walk(
        &self,
        descending: bool,
        wanted: &dyn Fn(&[u8]) -> bool,
        inner_scan: impl FnOnce(&mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let inline_len_max = self.inline_len_max;
        let mut group = Group::default();
        let mut stopped = false;
        let mut failed = None;
        inner_scan(&mut |key, value| {
            let long = key.len() > inline_len_max;
            let in_group = long && group.holds(&key[..inline_len_max]);
            if !in_group && !group.flush(descending, wanted, visit) {
                stopped = true;
                return false;
            }
            if !long {
                return !wanted(key) || visit(key, value);
            }
            match split_physical_value(value) {
                Ok((logical, value)) => {
                    group.push(&key[..inline_len_max], logical, value);
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if !stopped {
            group.flush(descending, wanted, visit);
        }
        Ok(())
    }
}

/// The long keys sharing their first `inline_len_max` bytes, gathered
/// during a scan.
#[derive(Default)]
struct Group {
    head: Vec<u8>,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Group {
    fn holds(&self, head: &[u8]) -> bool {
        !self.pairs.is_empty() && self.head == head
    }

    fn push(&mut self, head: &[u8], key: &[u8], value: &[u8]) {
        if self.pairs.is_empty() {
            self.head = head.to_vec();
        }
        assert!(
            key.starts_with(&self.head),
            "a long key starts with its group's head"
        );
        self.pairs.push((key.to_vec(), value.to_vec()));
    }

    /// Visits the group in logical order and empties it; false when
    /// `visit` asked to stop.
    fn flush(
        &mut self,
        descending: bool,
        wanted: &dyn Fn(&[u8]) -> bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> bool {
        let mut pairs = std::mem::take(&mut self.pairs);
        pairs.sort_unstable_by(|a, b| {
            if descending {
                b.0.cmp(&a.0)
            } else {
                a.0.cmp(&b.0)
            }
        });
        pairs
            .iter()
            .filter(|(key, _)| wanted(key))
            .all(|(key, value)| visit(key, value))
    }
}

impl KvView for LongKeysView {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if key.len() <= self.inline_len_max {
            return self.inner.get(space, key);
        }
        let Some(stored) = self
            .inner
            .get(space, &physical_key(key, self.inline_len_max))?
        else {
            return Ok(None);
        };
        let (stored_key, value) = split_physical_value(&stored)?;
        if stored_key != key {
            return Err(StoreError("two long keys share one SHA-256 digest".into()));
        }
        Ok(Some(value.to_vec()))
    }

    fn scan_from(
        &self,
        space: Space,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let from = from.max(prefix);
        let wanted = |key: &[u8]| key.starts_with(prefix) && key >= from;
        // A long `from` starts inside its group: the walk starts at the
        // group's head and the filter drops what sorts before `from`.
        let (inner_prefix, inner_from) = (self.cut(prefix), self.cut(from));
        self.walk(
            false,
            &wanted,
            |inner_visit| {
                self.inner
                    .scan_from(space, inner_prefix, inner_from, inner_visit)
            },
            visit,
        )
    }

    fn scan_rev(
        &self,
        space: Space,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let wanted = |key: &[u8]| key.starts_with(prefix) && below.is_none_or(|below| key < below);
        // A short bound is exact in physical order too (see the module
        // docs); a long one covers its whole group, which the filter cuts.
        let inner_below = match below {
            Some(below) if below.len() > self.inline_len_max => {
                orbit_core::store::prefix_end(self.cut(below))
            }
            other => other.map(<[u8]>::to_vec),
        };
        let inner_prefix = self.cut(prefix);
        self.walk(
            true,
            &wanted,
            |inner_visit| {
                self.inner
                    .scan_rev(space, inner_prefix, inner_below.as_deref(), inner_visit)
            },
            visit,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FjallEngine, MemEngine};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Keys over a tiny alphabet with lengths around the inline limit, so
    /// that groups, heads equal to short keys and bounds inside groups are
    /// all common.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8)], 0..9)
    }

    fn collect_from(view: &dyn KvView, prefix: &[u8], from: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut seen = Vec::new();
        view.scan_from(Space::Data, prefix, from, &mut |k, v| {
            seen.push((k.to_vec(), v.to_vec()));
            true
        })
        .expect("scan");
        seen
    }

    fn collect_rev(
        view: &dyn KvView,
        prefix: &[u8],
        below: Option<&[u8]>,
        stop_after: usize,
    ) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        view.scan_rev(Space::Data, prefix, below, &mut |k, _| {
            seen.push(k.to_vec());
            seen.len() < stop_after
        })
        .expect("scan");
        seen
    }

    proptest! {
        /// Goal: with a tiny inline limit, gets and scans in both
        /// directions (bounds and early stops included) see exactly the
        /// model's keys in the model's order, on both engines.
        #[test]
        fn long_keys_match_an_ordered_model(
            inline_len in 1usize..4,
            writes in proptest::collection::vec((key(), proptest::option::of(key())), 0..40),
            prefix in key(),
            bound in key(),
            stop_after in 1usize..6,
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let inners: Vec<Arc<dyn KvEngine>> =
                vec![Arc::new(MemEngine::new()), FjallEngine::open(dir.path()).expect("fjall")];
            for inner in inners {
                let engine = LongKeys::open(inner, inline_len).expect("open");
                let mut model = BTreeMap::new();
                for (key, value) in &writes {
                    let mut key = key.clone();
                    key.insert(0, 7); // no empty keys, as in the shard's keyspace
                    match value {
                        Some(value) => model.insert(key.clone(), value.clone()),
                        None => model.remove(&key),
                    };
                    engine.write(vec![(Space::Data, key, value.clone())]).expect("write");
                }
                let view = engine.view();
                for (key, value) in &model {
                    prop_assert_eq!(view.get(Space::Data, key).expect("get"), Some(value.clone()));
                }
                let mut prefix = prefix.clone();
                prefix.insert(0, 7);
                let from = [prefix.clone(), bound.clone()].concat();
                let expected: Vec<_> = model
                    .range(from.clone()..)
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(collect_from(&*view, &prefix, &from), expected);
                let below = [vec![7], bound.clone()].concat();
                let expected: Vec<_> = model
                    .range(..below.clone())
                    .rev()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, _)| k.clone())
                    .take(stop_after)
                    .collect();
                prop_assert_eq!(collect_rev(&*view, &prefix, Some(&below), stop_after), expected);
                let all: Vec<_> = model.keys().rev().take(stop_after).cloned().collect();
                prop_assert_eq!(collect_rev(&*view, &[], None, stop_after), all);
            }
        }
    }

    /// Goal: a key far over fjall's limit is written, read, scanned and
    /// deleted through fjall, and the layout survives reopening.
    #[test]
    fn a_key_over_the_engine_limit_round_trips_through_fjall() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = vec![b'k'; 200_000];
        {
            let engine =
                LongKeys::open(FjallEngine::open(dir.path()).expect("fjall"), 1024).expect("open");
            engine
                .write(vec![(Space::Data, key.clone(), Some(b"v".to_vec()))])
                .expect("write");
            engine.persist().expect("persist");
        }
        let engine =
            LongKeys::open(FjallEngine::open(dir.path()).expect("fjall"), 4096).expect("reopen");
        assert_eq!(engine.inline_len_max(), 1024, "the recorded limit wins");
        let view = engine.view();
        assert_eq!(
            view.get(Space::Data, &key).expect("get"),
            Some(b"v".to_vec())
        );
        assert_eq!(
            collect_from(&*view, b"k", b"k"),
            vec![(key.clone(), b"v".to_vec())]
        );
        engine
            .write(vec![(Space::Data, key.clone(), None)])
            .expect("delete");
        assert_eq!(engine.view().get(Space::Data, &key).expect("get"), None);
    }

    /// Goal: a store that holds data but no recorded limit (written before
    /// long keys) keeps every key it has inline.
    #[test]
    fn a_store_from_before_long_keys_gets_the_legacy_limit() {
        let inner = Arc::new(MemEngine::new());
        let old_key = vec![b'o'; 40_000];
        inner
            .write(vec![(Space::Data, old_key.clone(), Some(b"x".to_vec()))])
            .expect("write");
        let engine = LongKeys::open(inner, 16).expect("open");
        assert_eq!(engine.inline_len_max(), INLINE_KEY_LEN_LEGACY);
        assert_eq!(
            engine.view().get(Space::Data, &old_key).expect("get"),
            Some(b"x".to_vec())
        );
    }
}
