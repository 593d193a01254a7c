#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mta_sts_fuzz::tlsa_text(data));
