#![no_main]
//! See bulwark_fuzz::spec_admission for the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::spec_admission(data);
});
