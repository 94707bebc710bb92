//! The wall-clock seam. Production reads the system clock; the simulator
//! supplies simulated time. Only proposers and readers consult it: the state
//! machine sees time solely as the stamp in each entry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// Hands out timestamps that never go backwards on this node, whatever the
/// clock does, and never fall below any time a read was judged at.
pub struct Stamper {
    clock: Arc<dyn Clock>,
    floor_ms: AtomicU64,
}

impl Stamper {
    pub fn new(clock: Arc<dyn Clock>) -> Stamper {
        Stamper {
            clock,
            floor_ms: AtomicU64::new(0),
        }
    }

    /// A stamp at least `at_least_ms`, the clock, and every earlier stamp.
    pub fn stamp(&self, at_least_ms: u64) -> u64 {
        let candidate = self.clock.now_ms().max(at_least_ms);
        let previous = self.floor_ms.fetch_max(candidate, Ordering::SeqCst);
        previous.max(candidate)
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}
