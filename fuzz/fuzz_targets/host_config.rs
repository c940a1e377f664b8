#![no_main]
//! See bulwark_fuzz::host_config for the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::host_config(data);
});
