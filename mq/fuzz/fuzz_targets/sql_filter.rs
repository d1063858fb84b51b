//! Fuzz target: see `mq::fuzz::sql_filter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mq::fuzz::sql_filter(data));
