//! The bookkeeping invariants of a shard's store, checked by the unit, model
//! and fuzz tests of `apply` after every step.

use std::collections::BTreeSet;

use super::*;
use crate::store::MemStore;

/// Panics unless the count records and the expiry index agree exactly with
/// the data records, and nothing but the four known tags is stored.
pub fn check_invariants(store: &MemStore) {
    let mut counts = [0u64; DB_COUNT as usize];
    let mut expected_index = BTreeSet::new();
    // Tombstones, as the age entries their lookups imply, and as stored.
    let mut tombstones = BTreeSet::new();
    let mut tombstone_ages = BTreeSet::new();
    let (mut pop_results, mut pop_result_ages) = (0u64, 0u64);
    // (db, key) of every collection record -> its stored element count.
    let mut collections = std::collections::BTreeMap::new();
    let mut elements = std::collections::BTreeMap::<(u8, Vec<u8>), u64>::new();
    // Sorted sets' rank buckets (boundary, count) and index entries, in order.
    let mut buckets = PerKey::<(Vec<u8>, u64)>::new();
    let mut zset_entries = PerKey::<Vec<u8>>::new();
    for (encoded, value) in &store.map {
        match encoded[0] {
            keys::TAG_DATA => {
                let (db, key) = (encoded[1], &encoded[2..]);
                counts[usize::from(db)] += 1;
                let record = Record::decode(value).expect("data records decode");
                if let Some(deadline) = record.expires_at_ms {
                    expected_index.insert(keys::expiry_key(deadline, db, key));
                }
                if record.kind.has_elements() {
                    let count = keys::decode_count(&record.payload).expect("count decodes");
                    assert!(count > 0, "an empty collection is deleted");
                    collections.insert(
                        (db, key.to_vec()),
                        count * record.kind.elements_per_member(),
                    );
                }
            }
            keys::TAG_ELEMENT => {
                let db = encoded[1];
                let len = u32::from_be_bytes(encoded[2..6].try_into().expect("4 bytes"));
                let key = encoded[6..6 + len as usize].to_vec();
                let (sub, element) = (encoded[6 + len as usize], &encoded[7 + len as usize..]);
                if sub == keys::SUB_ZBUCKET {
                    let count = keys::decode_count(value).expect("bucket count decodes");
                    buckets
                        .entry((db, key))
                        .or_default()
                        .push((element.to_vec(), count));
                    continue;
                }
                if sub == keys::SUB_ZSCORE {
                    zset_entries
                        .entry((db, key.clone()))
                        .or_default()
                        .push(element.to_vec());
                }
                *elements.entry((db, key)).or_default() += 1;
            }
            keys::TAG_EXPIRY => assert!(value.is_empty(), "index entries carry no value"),
            keys::TAG_TOMBSTONE => {
                let index = u64::from_le_bytes(value.as_slice().try_into().expect("8 bytes"));
                tombstones.insert(keys::tombstone_age_key(index, encoded[1], &encoded[2..]));
            }
            keys::TAG_TOMBSTONE_AGE => {
                assert!(value.is_empty());
                tombstone_ages.insert(encoded.clone());
            }
            keys::TAG_TOMBSTONE_META | keys::TAG_POP_RESULT_META => {}
            keys::TAG_POP_RESULT => pop_results += 1,
            keys::TAG_POP_RESULT_AGE => pop_result_ages += 1,
            keys::TAG_COUNT => assert_eq!(encoded.len(), 2),
            keys::TAG_CLOCK => assert_eq!(encoded.as_slice(), &crate::clock::CLOCK_KEY[..]),
            tag => panic!("unknown tag {tag}"),
        }
    }
    for db in 0..DB_COUNT {
        let stored = keys::read_count(store, db).expect("count decodes");
        assert_eq!(stored, counts[usize::from(db)], "count of db {db}");
    }
    let index: BTreeSet<Vec<u8>> = store
        .map
        .keys()
        .filter(|encoded| encoded[0] == keys::TAG_EXPIRY)
        .cloned()
        .collect();
    assert_eq!(index, expected_index, "expiry index");
    check_rank_buckets(&buckets, &zset_entries);
    assert_eq!(
        elements, collections,
        "every collection's elements, and no element without its collection"
    );
    assert_eq!(tombstones, tombstone_ages, "one age entry per tombstone");
    let (count, _) = keys::read_tombstone_meta(store).expect("meta");
    assert_eq!(count, tombstones.len() as u64, "tombstone count");
    assert!(count <= keys::TOMBSTONES_MAX);
    assert_eq!(pop_results, pop_result_ages, "one age entry per pop result");
    assert_eq!(
        keys::read_pop_result_count(store).expect("count"),
        pop_results
    );
    assert!(pop_results <= keys::POP_RESULTS_MAX);
}

/// Per (db, key): what a check collected for that key, in key order.
type PerKey<T> = std::collections::BTreeMap<(u8, Vec<u8>), Vec<T>>;

/// Every sorted set's index is cut into rank buckets that count exactly
/// the entries from their boundary to the next one's, none empty or over
/// `BUCKET_MAX`, with no entry before the first; no buckets elsewhere.
fn check_rank_buckets(buckets: &PerKey<(Vec<u8>, u64)>, entries: &PerKey<Vec<u8>>) {
    assert_eq!(
        buckets.keys().collect::<Vec<_>>(),
        entries.keys().collect::<Vec<_>>(),
        "rank buckets exactly where sorted sets are"
    );
    for (zset, buckets) in buckets {
        let entries = &entries[zset];
        assert!(
            entries[0] >= buckets[0].0,
            "{zset:?}: an entry before the first bucket"
        );
        for (i, (boundary, count)) in buckets.iter().enumerate() {
            let next = buckets.get(i + 1).map(|(b, _)| b);
            let held = entries
                .iter()
                .filter(|e| *e >= boundary && next.is_none_or(|next| *e < next))
                .count() as u64;
            assert_eq!(held, *count, "{zset:?}: bucket {i} of {}", buckets.len());
            assert!(
                (1..=zset::BUCKET_MAX).contains(count),
                "{zset:?}: bucket {i} holds {count}"
            );
        }
    }
}
