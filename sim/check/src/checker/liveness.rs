//! Liveness: once every fault has healed, the cluster makes progress within
//! a bound, and its replicas converge within a bound.
//!
//! Raft guarantees progress only when a majority can communicate and timing
//! is good (Ongaro & Ousterhout, §5.6, "Timing and availability"). The
//! simulator heals every fault, then measures when the first write commits
//! and when every replica holds the same state at the same applied index;
//! this checker judges those measurements against the bound. It catches
//! stuck elections, lost leadership that is never regained, and replicas
//! that never catch up.

/// What the runner measured after healing, in simulated nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub healed_at_ns: u64,
    /// When a write first committed after healing, if one did.
    pub first_commit_at_ns: Option<u64>,
    /// When all replicas first agreed, if they did; measured from a later
    /// start (after in-flight operations ended).
    pub converged_at_ns: Option<u64>,
    pub convergence_started_at_ns: u64,
    /// The last replica states seen, for the failure message.
    pub last_states: String,
}

pub fn check(progress: &Progress, bound_ns: u64) -> Vec<String> {
    let mut failures = Vec::new();
    match progress.first_commit_at_ns {
        Some(at) if at.saturating_sub(progress.healed_at_ns) <= bound_ns => {}
        _ => failures.push(format!(
            "liveness: no write committed within {}ms after the faults healed",
            bound_ns / 1_000_000
        )),
    }
    match progress.converged_at_ns {
        Some(at) if at.saturating_sub(progress.convergence_started_at_ns) <= bound_ns => {}
        _ => failures.push(format!(
            "liveness: replicas did not converge within {}ms after healing: {}",
            bound_ns / 1_000_000,
            progress.last_states
        )),
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_within_the_bound_passes_and_beyond_it_fails() {
        // Goal: timely progress passes; no commit, a late commit, or no
        // convergence each fail.
        let good = Progress {
            healed_at_ns: 100,
            first_commit_at_ns: Some(150),
            converged_at_ns: Some(300),
            convergence_started_at_ns: 200,
            last_states: String::new(),
        };
        assert!(check(&good, 100).is_empty());
        assert_eq!(
            check(
                &Progress {
                    first_commit_at_ns: None,
                    ..good.clone()
                },
                100
            )
            .len(),
            1
        );
        assert_eq!(
            check(
                &Progress {
                    first_commit_at_ns: Some(1_000),
                    ..good.clone()
                },
                100
            )
            .len(),
            1
        );
        assert_eq!(
            check(
                &Progress {
                    converged_at_ns: None,
                    ..good
                },
                100
            )
            .len(),
            1
        );
    }
}
