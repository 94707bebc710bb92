//! Keyspace commands beyond the basics: SCAN, TOUCH, RANDOMKEY, COPY and
//! OBJECT ENCODING, with Redis 7.0's replies.

use super::numbers;
use super::picks::SplitMix;
use super::scan::{scan_elements, scan_reply};
use super::{int_output, scan_suffixes, Shard, View};
use crate::ids::DB_COUNT;
use crate::redis::command::Key;
use crate::redis::keys::{self, Kind, Record};
use crate::redis::output::Output;
use crate::store::{Store, StoreError};

/// Redis 7.0's encoding thresholds (its defaults).
const LISTPACK_ENTRIES_MAX: u64 = 128;
const LISTPACK_VALUE_MAX_BYTES: usize = 64;
const INTSET_ENTRIES_MAX: u64 = 512;
/// Longest string Redis keeps as "embstr".
const EMBSTR_MAX_BYTES: usize = 44;
/// RANDOMKEY probes at most this many keys past an expired one.
const RANDOMKEY_TRIES: usize = 100;

impl<S: Store> View<'_, S> {
    /// SCAN over this db's keys: live ones matching `pattern` and of kind
    /// `kind` (a type name, as TYPE reports it).
    pub(super) fn scan_keys(
        &self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: u64,
        kind: Option<&[u8]>,
    ) -> Result<Output, StoreError> {
        let prefix = keys::data_prefix(self.db);
        let (next, entries) = scan_elements(self.store, &prefix, cursor, count, pattern)?;
        let mut items = Vec::new();
        for (name, value) in entries {
            let record = Record::decode(&value)?;
            if record.is_expired(self.now_ms)
                || kind.is_some_and(|k| !k.eq_ignore_ascii_case(record.kind.name().as_bytes()))
            {
                continue;
            }
            items.push(Output::Bytes(name));
        }
        Ok(scan_reply(next, items))
    }

    /// TOUCH: how many of `names` exist (each counted as often as named).
    pub(super) fn touch(&self, names: &[Key]) -> Result<Output, StoreError> {
        let mut count = 0u64;
        for name in names {
            count += u64::from(self.live(name)?.is_some());
        }
        Ok(int_output(count))
    }

    /// RANDOMKEY: the first live key at or after a point drawn from `seed`
    /// (wrapping around), or nil when the db holds none. Like Redis's, the
    /// choice is not exactly uniform.
    pub(super) fn random_key(&self, seed: u64) -> Result<Output, StoreError> {
        let prefix = keys::data_prefix(self.db);
        let mut probe = prefix.to_vec();
        probe.extend_from_slice(&SplitMix(seed).next().to_be_bytes());
        for from in [probe, prefix.to_vec()] {
            let mut found = None;
            let mut tries = 0;
            let mut failure = None;
            self.store
                .scan_from(&prefix, &from, &mut |encoded, value| {
                    tries += 1;
                    match Record::decode(value) {
                        Ok(record) if !record.is_expired(self.now_ms) => {
                            found = Some(encoded[prefix.len()..].to_vec());
                            false
                        }
                        Ok(_) => tries < RANDOMKEY_TRIES,
                        Err(e) => {
                            failure = Some(e);
                            false
                        }
                    }
                })?;
            if let Some(e) = failure {
                return Err(e);
            }
            if let Some(name) = found {
                return Ok(Output::Bytes(name));
            }
        }
        Ok(Output::Nil)
    }

    /// OBJECT ENCODING: the encoding Redis 7.0 would give this value (Orbit
    /// stores every kind its own way; clients and tests look at Redis's).
    pub(super) fn object_encoding(&self, key: &[u8]) -> Result<Output, StoreError> {
        let Some(record) = self.live(key)? else {
            return Ok(Output::Nil);
        };
        let elements = || scan_suffixes(self.store, &keys::elements_prefix(self.db, key));
        let name = match record.kind {
            Kind::String => {
                let is_int =
                    record.payload.len() <= 20 && numbers::parse_i64(&record.payload).is_some();
                if is_int {
                    "int"
                } else if record.payload.len() <= EMBSTR_MAX_BYTES {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Kind::List => "quicklist",
            Kind::Set => {
                let count = keys::decode_count(&record.payload)?;
                let all_ints = elements()?
                    .iter()
                    .all(|(member, _)| numbers::parse_i64(&member[1..]).is_some());
                if count <= INTSET_ENTRIES_MAX && all_ints {
                    "intset"
                } else {
                    "hashtable"
                }
            }
            Kind::Hash => {
                let count = keys::decode_count(&record.payload)?;
                let small = elements()?.iter().all(|(field, value)| {
                    field.len() - 1 <= LISTPACK_VALUE_MAX_BYTES
                        && value.len() <= LISTPACK_VALUE_MAX_BYTES
                });
                if count <= LISTPACK_ENTRIES_MAX && small {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Kind::ZSet => {
                let count = keys::decode_count(&record.payload)?;
                let small = elements()?
                    .iter()
                    .filter(|(element, _)| element.first() == Some(&keys::SUB_ZMEMBER))
                    .all(|(member, _)| member.len() - 1 <= LISTPACK_VALUE_MAX_BYTES);
                if count <= LISTPACK_ENTRIES_MAX && small {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
        };
        Ok(Output::Bytes(name.as_bytes().to_vec()))
    }
}

impl<S: Store> Shard<'_, S> {
    /// COPY: `source` (with its deadline and elements) to `destination` in
    /// `destination_db`; 0 if the source is missing or the destination
    /// exists and `replace` is false.
    pub(super) fn copy(
        &mut self,
        source: &[u8],
        destination: &[u8],
        destination_db: Option<u8>,
        replace: bool,
    ) -> Result<Output, StoreError> {
        let to_db = destination_db.unwrap_or(self.db);
        if to_db >= DB_COUNT {
            return Ok(Output::err("ERR DB index is out of range"));
        }
        if to_db == self.db && source == destination {
            return Ok(Output::err(
                "ERR source and destination objects are the same",
            ));
        }
        let Some(record) = self.view().live(source)? else {
            return Ok(Output::Int(0));
        };
        let elements = scan_suffixes(&*self.store, &keys::elements_prefix(self.db, source))?;
        let mut target = self.in_db(to_db);
        target.purge_if_expired(destination)?;
        if target.view().live(destination)?.is_some() {
            if !replace {
                return Ok(Output::Int(0));
            }
            target.remove(destination)?;
        }
        target.put_kind(
            destination,
            record.kind,
            record.payload,
            record.expires_at_ms,
        )?;
        let prefix = keys::elements_prefix(to_db, destination);
        for (element, value) in elements {
            let mut encoded = prefix.clone();
            encoded.extend_from_slice(&element);
            target.store.put(&encoded, &value)?;
        }
        Ok(Output::Int(1))
    }
}
