#![no_main]
//! See bulwark_fuzz::exec_process for the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::exec_process(data);
});
