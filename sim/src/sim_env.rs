//! The simulator's fillings for the node's seams that are not storage:
//! work on its own runs as a madsim task, random numbers come from madsim's
//! seeded rng.

use madsim::rand::Rng;
use orbit_net::Random;
use orbit_storage::spawn::{Spawner, Work};

/// Runs work as a madsim task (madsim allows no threads; simulated disks
/// do not block).
pub struct TaskSpawner;

impl Spawner for TaskSpawner {
    fn spawn_worker(&self, _name: &str, work: Work) -> std::io::Result<()> {
        madsim::task::spawn(work);
        Ok(())
    }
}

/// madsim's seeded rng: every number a node draws comes from the run's seed.
pub struct SeededRandom;

impl Random for SeededRandom {
    fn next_u64(&self) -> u64 {
        madsim::rand::thread_rng().gen::<u64>().max(1)
    }
}
