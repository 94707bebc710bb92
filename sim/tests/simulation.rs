//! The simulator checks itself: determinism, regression seeds, a sweep, and
//! the planted bugs it must catch. Built only with `--cfg madsim`:
//! `RUSTFLAGS="--cfg madsim" cargo test -p orbit-sim --release --target-dir target/sim --test simulation`.

#![cfg(madsim)]

use std::process::Command;

use orbit_sim::params::{Fault, Params};
use orbit_sim::runner::{check_determinism, run};

fn run_binary(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_orbit-sim"))
        .args(args)
        .output()
        .expect("run orbit-sim");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn trace_hash(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find_map(|word| word.strip_prefix("trace_hash="))
        .unwrap_or_else(|| panic!("no trace hash in {stdout}"))
        .to_string()
}

#[test]
fn the_same_seed_replays_the_same_run_in_another_process() {
    // Goal: two processes running seed 3 print the same trace hash; seed 4
    // prints another.
    let first = run_binary(&["--seed", "3", "--duration", "10"]);
    let second = run_binary(&["--seed", "3", "--duration", "10"]);
    let other = run_binary(&["--seed", "4", "--duration", "10"]);
    assert_eq!(trace_hash(&first), trace_hash(&second), "{first}\n{second}");
    assert_ne!(trace_hash(&first), trace_hash(&other));
}

#[test]
fn the_same_seed_replays_the_same_run_in_one_process() {
    // Goal: no process-wide state leaks into a run. Seed 1 with leader
    // transfers once diverged on its second run in a process (tokio's
    // watch woke waiters in an order drawn from a counter-seeded rng; the
    // node's watches are `orbit_storage::watch` now); the others cover every
    // fault class. Each runs twice, one after the other, and the traces
    // (every operation, fault, leader and final state hash, with simulated
    // times) must match line by line.
    let mut leader_transfer = Params::from_seed(1, Some(&[Fault::LeaderTransfer]), &[], 30);
    leader_transfer.nodes = 3;
    let runs = [
        leader_transfer,
        Params::from_seed(2, None, &[], 20),
        Params::from_seed(5, None, &[], 20),
        Params::from_seed(8, None, &[], 20),
    ];
    for params in runs {
        let first = run(&params);
        let second = run(&params);
        if let Some((a, b)) = first.trace.iter().zip(&second.trace).find(|(a, b)| a != b) {
            panic!(
                "seed {} diverged on its second run:\n  {a}\n  {b}",
                params.seed
            );
        }
        assert_eq!(
            first.trace.len(),
            second.trace.len(),
            "seed {}",
            params.seed
        );
        assert_eq!(first.trace_hash, second.trace_hash, "seed {}", params.seed);
        assert!(
            first.operations > 100,
            "seed {} ran no workload",
            params.seed
        );
    }
}

#[test]
fn madsim_s_determinism_check_passes() {
    // Goal: madsim's own check (the seed run twice in this process, every
    // random draw of the second run compared with the first's) passes for a
    // run with leader transfers and one with every fault class. Seed 1 with
    // leader transfers failed it while the node used tokio's watch, whose
    // wake order came from a rng tokio seeds from a process-wide counter.
    let mut leader_transfer = Params::from_seed(1, Some(&[Fault::LeaderTransfer]), &[], 30);
    leader_transfer.nodes = 3;
    for params in [leader_transfer, Params::from_seed(2, None, &[], 20)] {
        let report = check_determinism(&params);
        assert!(
            report.failures.is_empty(),
            "seed {}: {:?}",
            params.seed,
            report.failures
        );
        assert!(
            report.operations > 100,
            "seed {} ran no workload",
            params.seed
        );
    }
}

#[test]
fn a_sweep_reports_each_seed_as_it_runs_alone() {
    // Goal: a sweep runs seeds in fresh processes, so its verdict and trace
    // hash for a seed equal that seed's own run (its replay line).
    let sweep = run_binary(&["--seeds", "20..23", "--duration", "10", "--verbose"]);
    for seed in 20..23 {
        let alone = run_binary(&["--seed", &seed.to_string(), "--duration", "10"]);
        let line = sweep
            .lines()
            .find(|l| {
                l.contains(&format!("seed={seed} "))
                    && (l.starts_with("PASS") || l.starts_with("FAIL"))
            })
            .unwrap_or_else(|| panic!("seed {seed} missing from the sweep: {sweep}"));
        assert_eq!(trace_hash(line), trace_hash(&alone), "seed {seed}");
    }
}

/// Seeds that once found bugs, kept so the bugs stay fixed.
/// (seed, simulated seconds, what it once exposed).
const REGRESSION_SEEDS: &[(u64, u64, &str)] = &[
    (
        14,
        30,
        "a leader that resumed its term after a full-cluster crash served stale reads",
    ),
    (12, 30, "the same stale read, on a counter; later, a restarted replica reported an applied index its store had not made durable, openraft purged the log up to it, and after a power loss the state fell back behind the purge"),
    (18, 30, "two voters restarted together split every election (openraft draws one election timeout per process)"),
    (
        1063,
        20,
        "a follower restarted after failed syncs trusted its unsynced log tail; after a power loss its log resumed at 305 after 260 and it never started again",
    ),
    (
        1065,
        20,
        "a snapshot in 256-byte pieces never reached a follower: one lost answer among them restarted the whole transfer",
    ),
    (
        1115,
        20,
        "the last piece of a snapshot installed, its answer was lost, and the piece sent again was refused: every new transfer lost an answer too, so a joint membership never committed",
    ),
];

#[test]
fn full_cluster_crashes_do_not_cause_stale_reads() {
    // Goal: no stale read after full-cluster crashes, the fault that exposed
    // seeds 12 and 14, for many seeds. (Restarted leaders win a new term;
    // the cluster test checks that directly.)
    for seed in 1..=40 {
        let report = run(&Params::from_seed(seed, Some(&[Fault::CrashAll]), &[], 20));
        assert!(
            report.failures.is_empty(),
            "seed {seed} with crash-all fails: {:?}",
            report.failures
        );
    }
}

#[test]
fn regression_seeds_pass() {
    // Goal: every seed that once exposed a bug now passes.
    for (seed, seconds, what) in REGRESSION_SEEDS {
        let report = run(&Params::from_seed(*seed, None, &[], *seconds));
        assert!(
            report.failures.is_empty(),
            "seed {seed} ({what}) fails again: {:?}",
            report.failures
        );
    }
}

#[test]
fn a_sweep_over_all_fault_classes_passes() {
    // Goal: 200 seeds, every fault class enabled, all pass.
    let mut failed = Vec::new();
    for seed in 1000..1200 {
        let report = run(&Params::from_seed(seed, None, &[], 20));
        if !report.failures.is_empty() {
            failed.push((seed, report.failures));
        }
    }
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}

/// The faults each planted bug needs to show itself.
fn faults_for(bug: &str) -> Option<Vec<Fault>> {
    match bug {
        "skip-fsync" => Some(vec![Fault::CrashAll, Fault::Kill]),
        "stale-read" => Some(vec![Fault::Partition, Fault::Clog, Fault::Bridge]),
        "apply-twice-after-restart" | "drop-applied-index" => {
            Some(vec![Fault::Kill, Fault::CrashAll])
        }
        _ => None,
    }
}

/// The scripted scenario that guards a planted bug whose failure needs a
/// sequence seeded runs line up too rarely to search for.
fn scenario_for(bug: &str) -> Option<&'static str> {
    match bug {
        // Syncs that fail, a restart, then a power loss before the
        // restarted node synced that segment again. Seed 1063 found it;
        // 2,200 other seeds did not line it up, and a change of scheduling
        // made 1063 stop lining it up too.
        "skip-recovery-sync" => Some("recovered-tail-power-loss"),
        _ => None,
    }
}

#[test]
fn every_planted_bug_is_caught_within_200_seeds() {
    // Goal: a checker that never fails proves nothing: each planted bug must
    // make some seed fail within 200 seeds.
    for (bug, what) in orbit_core::fault::PLANTED_BUGS {
        if let Some(scenario) = scenario_for(bug) {
            let outcome = orbit_sim::scenario::run_planted(scenario, &[bug.to_string()]);
            assert!(
                outcome.is_err(),
                "planted bug {bug} ({what}) went unnoticed by scenario {scenario}"
            );
            println!("planted bug {bug} caught by scenario {scenario}");
            continue;
        }
        let faults = faults_for(bug);
        let caught = (1..=200).find(|seed| {
            let params = Params::from_seed(*seed, faults.as_deref(), &[bug.to_string()], 20);
            !run(&params).failures.is_empty()
        });
        assert!(
            caught.is_some(),
            "planted bug {bug} ({what}) went unnoticed for 200 seeds"
        );
        println!("planted bug {bug} caught by seed {}", caught.unwrap_or(0));
    }
}

#[test]
fn every_scripted_scenario_passes_without_planted_bugs() {
    // Goal: the scenarios that guard planted bugs fail for the bug, not
    // on their own.
    for (name, _) in orbit_sim::scenario::SCENARIOS {
        assert_eq!(
            orbit_sim::scenario::run_planted(name, &[]),
            Ok(()),
            "scenario {name}"
        );
    }
}
