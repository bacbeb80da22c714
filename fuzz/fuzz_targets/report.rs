//! A report.json as `aftershock report` and `aftershock compare` load and read it, on
//! arbitrary bytes: see [`aftershock_fuzz::report`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aftershock_fuzz::report(data));
