#![no_main]
//! See bulwark_fuzz::opa_response for the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::opa_response(data);
});
