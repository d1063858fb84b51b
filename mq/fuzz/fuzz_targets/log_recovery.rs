//! Fuzz target: see `mq::fuzz::damaged_log_recovery`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mq::fuzz::damaged_log_recovery(data));
