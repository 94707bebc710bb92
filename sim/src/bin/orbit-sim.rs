//! `orbit-sim`: run one seed or sweep many. Only meaningful when built with
//! `--cfg madsim`; see docs/SIMULATION.md.

fn main() {
    eprintln!("orbit-sim must be built with RUSTFLAGS=\"--cfg madsim\"; see docs/SIMULATION.md");
    std::process::exit(2);
}
