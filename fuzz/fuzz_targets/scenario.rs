//! `aftershock validate` (and `run --dry-run`'s plan) on arbitrary bytes: see
//! [`aftershock_fuzz::scenario`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aftershock_fuzz::scenario(data));
