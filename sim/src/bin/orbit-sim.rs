//! `orbit-sim`: run one seed (`--seed N`) or sweep many (`--seeds A..B`) of
//! the whole cluster under faults, and print how to replay any failure.
//! Build it with `RUSTFLAGS="--cfg madsim"` into its own target directory;
//! see docs/SIMULATION.md.

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "orbit-sim runs only in the simulator build:\n  RUSTFLAGS=\"--cfg madsim\" cargo run --release -p orbit-sim --target-dir target/sim -- --seed 1"
    );
    std::process::exit(2);
}

#[cfg(madsim)]
fn main() {
    std::process::exit(cli::main());
}

#[cfg(madsim)]
mod cli {
    use std::time::Instant;

    use clap::Parser;
    use orbit_sim::params::{Fault, Params};
    use orbit_sim::runner::{run, Report};

    #[derive(Parser, Debug)]
    #[command(
        name = "orbit-sim",
        about = "Orbit's deterministic whole-cluster simulator"
    )]
    struct Flags {
        /// Run this one seed.
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        /// Run the seeds A..B (B excluded).
        #[arg(long, value_name = "A..B")]
        seeds: Option<String>,
        /// Restrict faults to these classes (comma-separated).
        #[arg(long, value_delimiter = ',')]
        faults: Option<Vec<String>>,
        /// Plant a bug by name (repeatable); see --list-bugs.
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Simulated seconds of workload under faults.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Force the cluster size (otherwise the seed picks 3 or 5).
        #[arg(long)]
        nodes: Option<u64>,
        /// Seeds run at once in a sweep (each in its own process).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run each seed this many times in this process (a determinism probe).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Print the whole trace with simulated timestamps.
        #[arg(long)]
        verbose: bool,
        /// List the planted bugs, fault classes and scripted scenarios.
        #[arg(long)]
        list_bugs: bool,
        /// Play a scripted scenario (see --list-bugs) instead of a seed;
        /// --bug plants bugs in it.
        #[arg(long, conflicts_with_all = ["seed", "seeds"])]
        scenario: Option<String>,
    }

    fn parse_range(text: &str) -> Result<std::ops::Range<u64>, String> {
        let (a, b) = text.split_once("..").ok_or("expected A..B")?;
        let a = a.parse::<u64>().map_err(|_| "A is not a number")?;
        let b = b.parse::<u64>().map_err(|_| "B is not a number")?;
        if a >= b {
            return Err("A must be below B".into());
        }
        Ok(a..b)
    }

    fn replay_line(flags: &Flags, seed: u64) -> String {
        let mut line = format!(
            "RUSTFLAGS=\"--cfg madsim\" cargo run --release -p orbit-sim --target-dir target/sim -- --seed {seed} --duration {}",
            flags.duration
        );
        if let Some(faults) = &flags.faults {
            line.push_str(&format!(" --faults {}", faults.join(",")));
        }
        if let Some(nodes) = flags.nodes {
            line.push_str(&format!(" --nodes {nodes}"));
        }
        for bug in &flags.bugs {
            line.push_str(&format!(" --bug {bug}"));
        }
        line
    }

    fn print_report(flags: &Flags, report: &Report) {
        if flags.verbose {
            for line in &report.trace {
                println!("{line}");
            }
        }
        let verdict = if report.failures.is_empty() {
            "PASS"
        } else {
            "FAIL"
        };
        println!(
            "{verdict} seed={} trace_hash={:016x} ops={} ok={} fail={} unknown={} simulated={}ms",
            report.params.seed,
            report.trace_hash,
            report.operations,
            report.ok,
            report.failed,
            report.unknown,
            report.simulated_ms
        );
        println!("  params: {}", report.params);
        for failure in &report.failures {
            println!("  failure: {failure}");
        }
        if !report.failures.is_empty() {
            println!("  replay: {}", replay_line(flags, report.params.seed));
        }
    }

    /// One seed's outcome, parsed from its own process's report.
    struct SeedResult {
        seed: u64,
        passed: bool,
        simulated_ms: u64,
        operations: usize,
        output: String,
    }

    fn field(line: &str, name: &str) -> u64 {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(name))
            .and_then(|v| v.trim_end_matches("ms").parse().ok())
            .unwrap_or(0)
    }

    fn seed_command(flags: &Flags, seed: u64) -> std::process::Command {
        let exe = std::env::current_exe().expect("the path of this program");
        let mut command = std::process::Command::new(exe);
        command
            .arg("--seed")
            .arg(seed.to_string())
            .arg("--duration")
            .arg(flags.duration.to_string());
        if let Some(faults) = &flags.faults {
            command.arg("--faults").arg(faults.join(","));
        }
        for bug in &flags.bugs {
            command.arg("--bug").arg(bug);
        }
        if let Some(nodes) = flags.nodes {
            command.arg("--nodes").arg(nodes.to_string());
        }
        if flags.verbose {
            command.arg("--verbose");
        }
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        command
    }

    fn collect(seed: u64, child: std::process::Child) -> SeedResult {
        let output = child
            .wait_with_output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let verdict = output
            .lines()
            .find(|l| l.starts_with("PASS ") || l.starts_with("FAIL "))
            .unwrap_or("")
            .to_string();
        SeedResult {
            seed,
            passed: verdict.starts_with("PASS "),
            simulated_ms: field(&verdict, "simulated="),
            operations: usize::try_from(field(&verdict, "ops=")).unwrap_or(0),
            output: if output.is_empty() {
                format!("FAIL seed={seed}: the run's process died without a report\n")
            } else {
                output
            },
        }
    }

    /// Runs every seed in its own process, `--jobs` at a time, so each run
    /// starts from a fresh process exactly as its replay line does.
    fn sweep_in_processes(flags: &Flags, seeds: std::ops::Range<u64>) -> (Vec<u64>, u64, usize) {
        let jobs = flags
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let total = seeds.end - seeds.start;
        let mut running: std::collections::VecDeque<(u64, std::process::Child)> =
            std::collections::VecDeque::new();
        let mut next = seeds.start;
        let (mut failed, mut simulated_ms, mut operations, mut done) =
            (Vec::new(), 0u64, 0usize, 0u64);
        while next < seeds.end || !running.is_empty() {
            while running.len() < jobs && next < seeds.end {
                match seed_command(flags, next).spawn() {
                    Ok(child) => running.push_back((next, child)),
                    Err(e) => {
                        eprintln!("cannot start seed {next}: {e}");
                        failed.push(next);
                    }
                }
                next += 1;
            }
            let Some((seed, child)) = running.pop_front() else {
                break;
            };
            let result = collect(seed, child);
            done += 1;
            simulated_ms += result.simulated_ms;
            operations += result.operations;
            if !result.passed {
                failed.push(result.seed);
            }
            if result.passed && !flags.verbose {
                let width = 40usize;
                let filled = usize::try_from(done).unwrap_or(0) * width
                    / usize::try_from(total).unwrap_or(1).max(1);
                eprint!(
                    "\r[{}{}] {}/{} seeds, {} failed",
                    "#".repeat(filled),
                    ".".repeat(width - filled),
                    done,
                    total,
                    failed.len()
                );
            } else {
                eprintln!();
                print!("{}", result.output);
            }
        }
        (failed, simulated_ms, operations)
    }

    pub fn main() -> i32 {
        let flags = Flags::parse();
        if let Ok(filter) = std::env::var("RUST_LOG") {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .init();
        }
        if flags.list_bugs {
            for (name, what) in orbit_core::fault::PLANTED_BUGS {
                println!("bug   {name:<28} {what}");
            }
            for fault in Fault::ALL {
                println!("fault {}", fault.name());
            }
            for (name, what) in orbit_sim::scenario::SCENARIOS {
                println!("scenario {name:<25} {what}");
            }
            return 0;
        }
        for bug in &flags.bugs {
            if !orbit_core::fault::PLANTED_BUGS
                .iter()
                .any(|(name, _)| name == bug)
            {
                eprintln!("unknown bug {bug:?}; see --list-bugs");
                return 2;
            }
        }
        if let Some(name) = &flags.scenario {
            return match orbit_sim::scenario::run_planted(name, &flags.bugs) {
                Ok(()) => {
                    println!("scenario {name}: passed");
                    0
                }
                Err(why) => {
                    println!("scenario {name}: FAILED: {why}");
                    1
                }
            };
        }
        let faults: Option<Vec<Fault>> = match &flags.faults {
            None => None,
            Some(names) => {
                let mut parsed = Vec::new();
                for name in names {
                    match Fault::parse(name) {
                        Some(fault) => parsed.push(fault),
                        None => {
                            eprintln!("unknown fault class {name:?}; see --list-bugs");
                            return 2;
                        }
                    }
                }
                Some(parsed)
            }
        };
        let seeds = match (&flags.seed, &flags.seeds) {
            (Some(seed), _) => *seed..seed + 1,
            (None, Some(range)) => match parse_range(range) {
                Ok(range) => range,
                Err(e) => {
                    eprintln!("--seeds {range}: {e}");
                    return 2;
                }
            },
            (None, None) => 1..2,
        };
        let sweep = seeds.end - seeds.start > 1;
        if !sweep {
            let mut params =
                Params::from_seed(seeds.start, faults.as_deref(), &flags.bugs, flags.duration);
            if let Some(nodes) = flags.nodes {
                params.nodes = nodes.clamp(1, 9);
            }
            let mut report = run(&params);
            for _ in 1..flags.repeat {
                let again = run(&params);
                if again.trace_hash != report.trace_hash {
                    let first_difference = report
                        .trace
                        .iter()
                        .zip(&again.trace)
                        .find(|(a, b)| a != b)
                        .map(|(a, b)| format!("first difference:\n    {a}\n    {b}"))
                        .unwrap_or_default();
                    report.failures.push(format!(
                        "determinism: the same seed gave trace hash {:016x}, then {:016x}, in one process; {first_difference}",
                        report.trace_hash, again.trace_hash
                    ));
                    break;
                }
            }
            print_report(&flags, &report);
            return i32::from(!report.failures.is_empty());
        }
        let started = Instant::now();
        let (failed, simulated_ms, operations) = sweep_in_processes(&flags, seeds.clone());
        let total = seeds.end - seeds.start;
        if sweep {
            eprintln!();
            let wall = started.elapsed().as_secs_f64().max(1e-9);
            println!("| seeds | passed | failed | operations | simulated s | wall s | seeds/min | simulated s per wall s |");
            println!("|---|---|---|---|---|---|---|---|");
            println!(
                "| {total} | {} | {} | {operations} | {:.1} | {wall:.1} | {:.1} | {:.1} |",
                total - failed.len() as u64,
                failed.len(),
                simulated_ms as f64 / 1000.0,
                total as f64 * 60.0 / wall,
                simulated_ms as f64 / 1000.0 / wall
            );
            if !failed.is_empty() {
                println!("failed seeds: {failed:?}");
                for seed in &failed {
                    println!("  replay: {}", replay_line(&flags, *seed));
                }
            }
        }
        i32::from(!failed.is_empty())
    }
}
