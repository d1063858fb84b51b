//! Fuzz target: see `mq::fuzz::frame_decoder`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mq::fuzz::frame_decoder(data));
