//! Fuzzes the shard state machine: arbitrary command sequences, with
//! arbitrary numbers and lengths, through `apply` against the reference
//! model (see `orbit_core::redis::apply::fuzz`). The inputs it keeps go in
//! `fuzz/corpus/apply`, which a unit test of `orbit-core` replays in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| orbit_core::redis::apply::fuzz::check(data));
