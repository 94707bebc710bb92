//! The key-value interface the state machine writes through.
//!
//! The storage crate implements it over an fjall write batch with an overlay,
//! so that later entries in one batch see earlier ones; tests use [`MemStore`].

use std::collections::BTreeMap;

/// A failure of the underlying store (I/O, corruption). It is not a command
/// error: the state machine stops applying and the node treats it as fatal.
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(pub String);

/// Ordered key-value access. All keys are the encoded keys of [`crate::keys`].
pub trait Store {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// `put` for a caller that owns the bytes: a store that keeps them
    /// takes them as they are instead of copying.
    fn put_owned(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        self.put(&key, &value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError>;
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
}

/// An in-memory store: the model in tests and benchmarks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemStore {
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn put_owned(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        self.map.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.map.remove(key);
        Ok(())
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
}
