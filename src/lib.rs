//! bulwark: a hardened, runc-compatible OCI container runtime on youki's libcontainer.
//!
//! The runtime is the `bulwark` binary (`src/main.rs`); this library holds every module
//! it is built from, so the benchmarks (`benches/`) can time the pipeline's stages
//! (admission, baseline, policy decision, audit) in-process, without a container.

pub mod admission;
pub mod atomic_file;
pub mod audit;
pub mod baseline;
pub mod binds;
pub mod bounded_read;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod config;
pub mod container_state;
pub mod containers_storage;
pub mod devices;
pub mod engine;
pub mod exec_process;
pub mod executor;
pub mod failpoint;
pub mod hooks;
pub mod host;
pub mod id_mapping;
pub mod identity;
pub mod image_approval;
pub mod image_groups;
pub mod image_identity;
pub mod image_reference;
pub mod layout;
pub mod libpod_state;
pub mod library_backtraces;
pub mod logging;
pub mod namespace_paths;
pub mod network_prejoin;
pub mod output;
pub mod pipeline;
pub mod podman_secret_store;
pub mod policy;
pub mod rootfs_idmap;
pub mod sandboxes;
pub mod scratch;
pub mod sealed_exe;
pub mod seccomp_filter;
pub mod seccomp_profiles;
pub mod secrets;
pub mod stragglers;
pub mod user_namespace_join;
pub mod user_namespace_pool;
pub mod user_namespace_share;
pub mod user_namespace_staging;
