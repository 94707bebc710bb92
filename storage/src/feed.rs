//! A reader of one shard's change log that waits for what comes next.
//!
//! [`ChangeFeed`] keeps a cursor (the next log index to read) and hands out
//! pages of [`EntryChanges`](crate::changes::EntryChanges) as the replica
//! applies entries. A feed that falls behind retention gets
//! [`FeedError::Lagged`] and chooses where to resume ([`ChangeFeed::seek`]);
//! nothing is skipped without it knowing.

use std::sync::Arc;

use crate::changes::{FeedError, FeedPage, PageLimit};
use crate::state::ShardState;
use crate::watch;

pub struct ChangeFeed {
    state: Arc<ShardState>,
    applied: watch::Receiver<u64>,
    cursor: u64,
}

impl ChangeFeed {
    /// A feed of what `state` applies from index `from` on.
    pub fn from(state: Arc<ShardState>, from: u64) -> ChangeFeed {
        let applied = state.subscribe_applied();
        ChangeFeed {
            state,
            applied,
            cursor: from,
        }
    }

    /// A feed of what `state` applies from now on.
    pub fn now(state: Arc<ShardState>) -> Result<ChangeFeed, orbit_core::StoreError> {
        let from = state.changes_cursor_now()?;
        Ok(ChangeFeed::from(state, from))
    }

    /// The next index this feed reads.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Moves the cursor (to resume after [`FeedError::Lagged`], or from a
    /// stored position).
    pub fn seek(&mut self, cursor: u64) {
        self.cursor = cursor;
    }

    /// Waits until the entry at the cursor is applied, then reads a page
    /// from it and moves the cursor past it. A page may be empty: the
    /// entries applied changed and published nothing. Fails with
    /// [`FeedError::Lagged`] (the cursor stays) or [`FeedError::Closed`]
    /// once the shard is gone.
    pub async fn next(&mut self, limit: PageLimit) -> Result<FeedPage, FeedError> {
        loop {
            // Marked seen before reading: an entry applied after the read
            // wakes the next wait.
            let applied = *self.applied.borrow_and_update();
            if applied >= self.cursor {
                let page = self.state.read_changes(self.cursor, limit)?;
                assert!(page.next >= self.cursor, "a change feed moved back");
                self.cursor = page.next;
                return Ok(page);
            }
            if self.applied.changed().await.is_err() {
                return Err(FeedError::Closed);
            }
        }
    }
}
