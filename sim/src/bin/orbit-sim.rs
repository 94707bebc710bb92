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
        /// Print the whole trace with simulated timestamps.
        #[arg(long)]
        verbose: bool,
        /// List the planted bugs and fault classes.
        #[arg(long)]
        list_bugs: bool,
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
        let started = Instant::now();
        let (mut failed, mut simulated_ms, mut operations) = (Vec::new(), 0u64, 0usize);
        let total = seeds.end - seeds.start;
        for (done, seed) in seeds.clone().enumerate() {
            let mut params =
                Params::from_seed(seed, faults.as_deref(), &flags.bugs, flags.duration);
            if let Some(nodes) = flags.nodes {
                params.nodes = nodes.clamp(1, 9);
            }
            let report = run(&params);
            simulated_ms += report.simulated_ms;
            operations += report.operations;
            if sweep && report.failures.is_empty() && !flags.verbose {
                let width = 40usize;
                let filled = (done + 1) * width / usize::try_from(total).unwrap_or(1);
                eprint!(
                    "\r[{}{}] {}/{} seeds, {} failed",
                    "#".repeat(filled),
                    ".".repeat(width - filled),
                    done + 1,
                    total,
                    failed.len()
                );
            } else {
                if sweep {
                    eprintln!();
                }
                print_report(&flags, &report);
            }
            if !report.failures.is_empty() {
                failed.push(seed);
            }
        }
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
