//! An isolated containerd 1.6 per test, with bulwark as a CRI runtime handler,
//! driven through the CRI gRPC API like a kubelet would.
//!
//! Everything containerd, its shims, CNI and the runtime write lives in one
//! temporary directory `D`, and containerd runs in its own network and mount
//! namespaces, so tests can run in parallel and leave nothing on the host:
//!
//! ```text
//! D/config.toml          containerd's config (see `write_containerd_config`)
//! D/root, D/state        containerd's root and state (CRI netns files too)
//! D/containerd.sock      gRPC (CRI and ctr); D/containerd.sock.ttrpc
//! D/containerd.log       containerd's own log
//! D/base-spec.json       the `bulwark` handler's base_runtime_spec (pids limit)
//! D/cni/net.d, D/cni/ipam  CNI config (bridge, portmap) and its host-local IPAM state
//! D/images/*.tar         the probe and pause images, imported with ctr
//! D/bin/bulwark          runtime wrapper: logs argv, captures config.json, sets
//!                        BULWARK_CONFIG and execs the built bulwark
//! D/bulwark.toml         bulwark's host config (see `bulwark_config`)
//! D/runtime-root/k8s.io  bulwark's --root (the shim appends the namespace)
//! D/runtime-argv.log     every argv the shim handed to the runtime
//! D/captured/<id>.json   config.json of every `create`, as containerd wrote it
//! D/pods/<pod>/          CRI log directories
//! ```
//!
//! In its mount namespace containerd gets a private tmpfs on /run (containerd
//! 1.6 puts shim sockets in /run/containerd/s whatever its state dir is) and on
//! /var/lib/cni (libcni's result cache), so those never touch the host either;
//! and when the last shim exits, every mount it made is gone with it.

use std::fs;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatus, ContainerStatusRequest,
    CreateContainerRequest, ExecSyncRequest, ExecSyncResponse, ImageSpec, ImageStatusRequest,
    LinuxContainerConfig, LinuxContainerResources, LinuxContainerSecurityContext,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, ListContainersRequest,
    ListPodSandboxRequest, NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata,
    PodSandboxStatusRequest, RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// The image app containers run: the static probe as /probe.
pub const PROBE_IMAGE: &str = "localhost/bulwark-probe:test";
/// The sandbox image: catatonit (static) as /probe with cmd `-P`, its pause mode.
pub const PAUSE_IMAGE: &str = "localhost/bulwark-pause:test";
/// The CRI runtime handler (RuntimeClass handler) bulwark is registered as.
pub const HANDLER: &str = "bulwark";
/// The pod bridge's own address in containerd's network namespace: the pods' gateway,
/// and where their hostPorts are published.
pub const BRIDGE_ADDRESS: &str = "10.88.0.1";
/// containerd's namespace for CRI; the shim appends it to the runtime's --root.
const CRI_NAMESPACE: &str = "k8s.io";

/// The pids limit every container of the `bulwark` handler gets from the base
/// spec: CRI v1 has no pids field (kubelet enforces podPidsLimit on the pod
/// cgroup, which the runtime never sees), and bulwark refuses a container
/// without one.
pub const BASE_PIDS_LIMIT: i64 = 64;

/// Upper bound for one CRI call or containerd startup: a runtime that hangs
/// would otherwise hang the test binary until CI's own limit kills it.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// bulwark's host config for every container of these tests, written to
/// `D/bulwark.toml`. This host's kernel has no AppArmor, which bulwark refuses
/// unless the config accepts it; the probe and pause images are approved; the
/// audit log stays in D; the pods' cgroups go below this instance's parent, which
/// stands for kubelet's `/kubepods`. Keep every setting the CRI tests need here.
pub fn bulwark_config(audit_log: &Path, cgroup_parent: &str) -> String {
    format!(
        "[baseline.apparmor]\nallow_missing = true\n\
         [admission.images]\napproved = [\"localhost/bulwark-probe\", \"localhost/bulwark-pause\"]\n\
         # containerd 1.6 names no image in a sandbox's spec: it runs sandbox_image.\n\
         cri_sandbox_image = {PAUSE_IMAGE:?}\n\
         [admission.cgroups]\nparents = [{cgroup_parent:?}]\n\
         [audit]\npath = {audit_log:?}\n"
    )
}

pub struct Containerd {
    /// `None` only while Drop tears the directory down.
    dir: Option<tempfile::TempDir>,
    base: PathBuf,
    /// `unshare … sh -c 'exec containerd'`: one process, containerd's pid.
    daemon: Option<Child>,
    /// A pod cgroup parent of this instance only, so its cgroups can be found
    /// and removed: `/<parent>/<container id>` in every v1 hierarchy.
    cgroup_parent: String,
    rt: tokio::runtime::Runtime,
    runtime: Option<RuntimeServiceClient<Channel>>,
    images: Option<ImageServiceClient<Channel>>,
}

impl Containerd {
    /// Starts a fresh containerd with the probe and pause images imported.
    ///
    /// Panics with a readable message when the host lacks something; the
    /// struct exists before containerd starts, so Drop cleans up even when
    /// setup fails halfway.
    pub fn new() -> Containerd {
        static INSTANCE: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::Builder::new()
            .prefix("bulwark-cri-")
            .tempdir()
            .expect("create the per-test containerd directory");
        let base = dir.path().to_path_buf();
        // The paths go into TOML strings and a shell script unescaped.
        let base_str = base.to_str().expect("temp dir path is UTF-8");
        assert!(
            !base_str.contains(['"', '\'', '\\', ' ', '\n']),
            "temp dir path {base_str:?} needs quoting; set TMPDIR to a plain path"
        );
        // containerd's mount namespace gets its own /run and /var/lib/cni.
        assert!(
            !base.starts_with("/run") && !base.starts_with("/var/lib/cni"),
            "temp dir {base_str} would be hidden from containerd; set TMPDIR elsewhere"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut containerd = Containerd {
            dir: Some(dir),
            base,
            daemon: None,
            cgroup_parent: format!(
                "/bulwark-cri-{}-{}",
                std::process::id(),
                INSTANCE.fetch_add(1, Ordering::Relaxed)
            ),
            rt,
            runtime: None,
            images: None,
        };
        containerd.write_files();
        containerd.start();
        containerd.import_images();
        containerd
    }

    /// Appends `extra` (TOML tables) to bulwark's host config for the following
    /// creates: bulwark reads it at every invocation.
    pub fn add_bulwark_config(&self, extra: &str) {
        let path = self.path("bulwark.toml");
        let mut config = fs::read_to_string(&path).expect("read bulwark.toml");
        config.push_str(extra);
        fs::write(&path, config).expect("write bulwark.toml");
    }

    /// `D/<rel>`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    /// A volume directory kubelet would make for the pod of `config` (`kind` is
    /// kubelet's plugin directory, e.g. `kubernetes.io~secret`), created; bulwark admits
    /// binds from a pod's own kubelet directory only.
    pub fn kubelet_volume(&self, config: &PodSandboxConfig, kind: &str, name: &str) -> PathBuf {
        let pod_uid = &config.metadata.as_ref().unwrap().uid;
        let volume = self.path(&format!("kubelet/pods/{pod_uid}/volumes/{kind}/{name}"));
        std::fs::create_dir_all(&volume).unwrap();
        volume
    }

    fn path_str(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }

    /// bulwark's state root as the shim passes it (`Root` + namespace).
    pub fn runtime_root(&self) -> PathBuf {
        self.path("runtime-root").join(CRI_NAMESPACE)
    }

    fn write_files(&self) {
        for sub in [
            "root",
            "state",
            "cni/net.d",
            "cni/ipam",
            "images",
            "bin",
            "runtime-root",
            "captured",
            "pods",
        ] {
            fs::create_dir_all(self.path(sub)).expect("create containerd dirs");
        }
        fs::write(
            self.path("bulwark.toml"),
            bulwark_config(&self.path("audit.jsonl"), &self.cgroup_parent),
        )
        .expect("write bulwark.toml");
        self.write_runtime_wrapper();
        self.write_base_spec();
        self.write_cni_config();
        self.write_containerd_config();
    }

    /// The shim's BinaryName. It records how the shim calls the runtime and
    /// the spec containerd generated, then becomes bulwark.
    fn write_runtime_wrapper(&self) {
        let bulwark = env!("CARGO_BIN_EXE_bulwark");
        assert!(
            !bulwark.contains('\''),
            "{bulwark} cannot go into the wrapper script"
        );
        let script = format!(
            r#"#!/bin/sh
# Generated by integration/containerd/harness.rs for one test.
printf '%s\n' "$*" >>'{argv_log}'
# `create --bundle B … ID`: keep containerd's config.json as captured/ID.json.
bundle= prev=
for arg; do
	[ "$prev" = --bundle ] && bundle=$arg
	prev=$arg
done
if [ -n "$bundle" ]; then
	cp -- "$bundle/config.json" '{captured}'/"$prev.json"
fi
export BULWARK_CONFIG='{config}'
exec '{bulwark}' "$@"
"#,
            argv_log = self.path_str("runtime-argv.log"),
            captured = self.path_str("captured"),
            config = self.path_str("bulwark.toml"),
        );
        let wrapper = self.path("bin/bulwark");
        fs::write(&wrapper, script).expect("write runtime wrapper");
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))
            .expect("chmod runtime wrapper");
    }

    /// containerd's own default spec (`ctr oci spec`, what CRI starts from
    /// without a base spec) plus a pids limit, since CRI cannot express one.
    fn write_base_spec(&self) {
        let out = Command::new("ctr")
            .args(["oci", "spec"])
            .stdin(Stdio::null())
            .output()
            .expect("run `ctr oci spec` (is containerd installed?)");
        assert!(out.status.success(), "ctr oci spec: {out:?}");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("ctr oci spec prints JSON");
        spec["linux"]["resources"]["pids"] = serde_json::json!({ "limit": BASE_PIDS_LIMIT });
        fs::write(
            self.path("base-spec.json"),
            serde_json::to_vec_pretty(&spec).expect("serialize base spec"),
        )
        .expect("write base spec");
    }

    /// A bridge network. It exists only in containerd's network namespace, which
    /// reaches the pods through the bridge's address [`BRIDGE_ADDRESS`] (also where
    /// the portmap plugin's DNAT rules publish a pod's hostPorts): no masquerading, no
    /// traffic beyond that namespace.
    fn write_cni_config(&self) {
        let conf = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "bulwark-cri",
            "plugins": [{
                "type": "bridge",
                "bridge": "bulwark0",
                "isGateway": true,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.88.0.0/24", "gateway": BRIDGE_ADDRESS}]],
                    "dataDir": self.path_str("cni/ipam"),
                },
            }, {
                "type": "portmap",
                "capabilities": {"portMappings": true},
            }],
        });
        fs::write(
            self.path("cni/net.d/10-bulwark.conflist"),
            serde_json::to_vec_pretty(&conf).expect("serialize CNI config"),
        )
        .expect("write CNI config");
    }

    fn write_containerd_config(&self) {
        let config = format!(
            r#"# Generated by integration/containerd/harness.rs for one test.
version = 2
root = "{root}"
state = "{state}"
# Snapshotters other than overlayfs are unused; opt would create /opt/containerd.
# (runtime.v1.linux stays: containerd 1.6's tasks service, which CRI needs,
# requires it.)
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.native",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.internal.v1.opt",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # Pod netns files under D/state instead of the host's /var/run/netns.
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  # The streaming server (exec/attach URLs) binds inside containerd's netns.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni_conf}"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  # The only runtime: a pod without a handler goes to bulwark as well.
  default_runtime_name = "{handler}"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{handler}]
  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "{base_spec}"
  # The orchestrator's signed agent token (crate::identity) is the one bulwark.io/
  # annotation a pod author may pass on: they can copy a token, never forge one.
  pod_annotations = ["bulwark.io/agent-token"]

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{handler}.options]
  BinaryName = "{wrapper}"
  Root = "{runtime_root}"
"#,
            root = self.path_str("root"),
            state = self.path_str("state"),
            sock = self.path_str("containerd.sock"),
            pause = PAUSE_IMAGE,
            cni_conf = self.path_str("cni/net.d"),
            handler = HANDLER,
            base_spec = self.path_str("base-spec.json"),
            wrapper = self.path_str("bin/bulwark"),
            runtime_root = self.path_str("runtime-root"),
        );
        fs::write(self.path("config.toml"), config).expect("write config.toml");
    }

    /// containerd in new network and mount namespaces: lo up (the streaming
    /// server binds 127.0.0.1), private /run and /var/lib/cni (see the module
    /// doc). `unshare` and `sh` exec, so the child is containerd itself.
    fn start(&mut self) {
        let log = fs::File::create(self.path("containerd.log")).expect("create containerd.log");
        let prelude = r#"set -e
mount -t tmpfs -o mode=0755 bulwark-cri-run /run
if [ -d /var/lib/cni ]; then mount -t tmpfs -o mode=0700 bulwark-cri-cni /var/lib/cni; fi
ip link set lo up
exec containerd --config "$1""#;
        let mut command = Command::new("unshare");
        command
            .args(["--net", "--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", prelude, "sh"])
            .arg(self.path("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        // A test binary that aborts (a panic during unwinding) skips Drop;
        // containerd then dies with the test thread instead of living on.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = command.spawn().expect("spawn unshare … containerd");
        self.daemon = Some(child);

        let sock = self.path("containerd.sock");
        let deadline = Instant::now() + CALL_TIMEOUT;
        // The socket exists from bind(), before containerd listens on it: wait until a
        // connection is accepted (one refused in between failed CI).
        while let Err(err) = std::os::unix::net::UnixStream::connect(&sock) {
            if let Some(status) = self.daemon.as_mut().and_then(|c| c.try_wait().ok()?) {
                panic!("containerd exited with {status}\n{}", self.containerd_log());
            }
            assert!(
                Instant::now() < deadline,
                "containerd does not accept connections on its socket: {err}\n{}",
                self.containerd_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }

        let channel = self
            .rt
            .block_on(async {
                Endpoint::try_from("http://containerd.invalid")?
                    // grpc-go's (the kubelet's) limit. hyper's 16 KiB default
                    // cannot take the grpc-message of a refusal that lists
                    // every host device of a privileged container.
                    .http2_max_header_list_size(16 << 20)
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let sock = sock.clone();
                        async move {
                            Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(sock).await?))
                        }
                    }))
                    .await
            })
            .unwrap_or_else(|e| panic!("connect to containerd: {e}\n{}", self.containerd_log()));
        self.runtime = Some(RuntimeServiceClient::new(channel.clone()));
        self.images = Some(ImageServiceClient::new(channel));
    }

    /// Builds both images with integration/build-image.sh and imports them,
    /// then waits until CRI lists them: CRI learns of images imported through
    /// containerd's API from events, and a sandbox image it does not know yet
    /// would make RunPodSandbox try to pull it.
    fn import_images(&self) {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let probe = crate::common::probe_path();
        let images = [
            (PROBE_IMAGE, probe.as_path(), "probe.tar", "report"),
            (
                PAUSE_IMAGE,
                Path::new("/usr/bin/catatonit"),
                "pause.tar",
                "-P",
            ),
        ];
        for (name, binary, tar, cmd) in images {
            let tar = self.path(&format!("images/{tar}"));
            let out = Command::new(manifest.join("integration/build-image.sh"))
                .arg(binary)
                .arg(&tar)
                .args([name, "--cmd", cmd])
                .env("TMPDIR", self.path("images"))
                .stdin(Stdio::null())
                .output()
                .expect("run integration/build-image.sh");
            assert!(out.status.success(), "build-image.sh {name}: {out:?}");
            let out = self
                .ctr()
                .args(["images", "import"])
                .arg(&tar)
                .output()
                .expect("run ctr images import");
            assert!(
                out.status.success(),
                "ctr images import {name}: {out:?}\n{}",
                self.containerd_log()
            );
        }
        let deadline = Instant::now() + CALL_TIMEOUT;
        for (name, ..) in images {
            loop {
                let status = self
                    .call(|mut c| async move {
                        c.image_status(ImageStatusRequest {
                            image: Some(image_spec(name)),
                            verbose: false,
                        })
                        .await
                    })
                    .unwrap_or_else(|e| panic!("ImageStatus {name}: {e}"));
                if status.image.is_some() {
                    break;
                }
                assert!(Instant::now() < deadline, "CRI never listed {name}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `ctr --address D/containerd.sock -n k8s.io`.
    pub fn ctr(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.path("containerd.sock"))
            .args(["-n", CRI_NAMESPACE])
            .stdin(Stdio::null());
        cmd
    }

    /// Runs one CRI RuntimeService call with a timeout.
    pub fn cri<T, F>(
        &self,
        call: impl FnOnce(RuntimeServiceClient<Channel>) -> F,
    ) -> Result<T, tonic::Status>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let client = self.runtime.clone().expect("connected to containerd");
        self.block_on(call(client))
    }

    /// Runs one CRI ImageService call with a timeout.
    fn call<T, F>(
        &self,
        call: impl FnOnce(ImageServiceClient<Channel>) -> F,
    ) -> Result<T, tonic::Status>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let client = self.images.clone().expect("connected to containerd");
        self.block_on(call(client))
    }

    fn block_on<T, F>(&self, call: F) -> Result<T, tonic::Status>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        // The timer must be created inside the runtime.
        match self
            .rt
            .block_on(async { tokio::time::timeout(CALL_TIMEOUT, call).await })
        {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no answer from containerd within {CALL_TIMEOUT:?}"
            ))),
        }
    }

    /// A compliant pod of the `bulwark` handler: its own network, IPC and
    /// (per container) PID namespaces, logs under D/pods/<name>, cgroups
    /// under this instance's parent.
    pub fn pod_config(&self, name: &str) -> PodSandboxConfig {
        let log_directory = self.path(&format!("pods/{name}"));
        fs::create_dir_all(&log_directory).expect("create pod log directory");
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.to_owned(),
                uid: format!("uid-{name}"),
                namespace: "bulwark-test".to_owned(),
                attempt: 0,
            }),
            hostname: name.to_owned(),
            log_directory: log_directory.to_string_lossy().into_owned(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(pod_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// RunPodSandbox with the `bulwark` handler; the sandbox id.
    pub fn run_pod(&self, config: &PodSandboxConfig) -> Result<String, tonic::Status> {
        let request = RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: HANDLER.to_owned(),
        };
        self.cri(|mut c| async move { c.run_pod_sandbox(request).await })
            .map(|r| r.pod_sandbox_id)
    }

    /// An app container running the probe with `args`, with the limits
    /// bulwark requires (memory, CPU quota; pids come from the base spec),
    /// logging to `<pod log dir>/<name>.log`.
    pub fn container_config(name: &str, args: &[&str]) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.to_owned(),
                attempt: 0,
            }),
            image: Some(image_spec(PROBE_IMAGE)),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                resources: Some(LinuxContainerResources {
                    cpu_period: 100_000,
                    cpu_quota: 50_000,
                    memory_limit_in_bytes: 128 << 20,
                    ..Default::default()
                }),
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(pod_namespaces()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    /// CreateContainer; the container id. (containerd creates the runtime
    /// container only at StartContainer.)
    pub fn create_container(
        &self,
        pod_id: &str,
        pod: &PodSandboxConfig,
        config: ContainerConfig,
    ) -> Result<String, tonic::Status> {
        let request = CreateContainerRequest {
            pod_sandbox_id: pod_id.to_owned(),
            config: Some(config),
            sandbox_config: Some(pod.clone()),
        };
        self.cri(|mut c| async move { c.create_container(request).await })
            .map(|r| r.container_id)
    }

    /// CreateContainer then StartContainer, each of which must succeed; the container id.
    pub fn create_and_start(
        &self,
        pod_id: &str,
        pod: &PodSandboxConfig,
        config: ContainerConfig,
    ) -> String {
        let id = self
            .create_container(pod_id, pod, config)
            .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", self.describe()));
        self.start_container(&id)
            .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", self.describe()));
        id
    }

    pub fn start_container(&self, id: &str) -> Result<(), tonic::Status> {
        let request = StartContainerRequest {
            container_id: id.to_owned(),
        };
        self.cri(|mut c| async move { c.start_container(request).await })
            .map(drop)
    }

    pub fn container_status(&self, id: &str) -> ContainerStatus {
        let request = ContainerStatusRequest {
            container_id: id.to_owned(),
            verbose: false,
        };
        self.cri(|mut c| async move { c.container_status(request).await })
            .unwrap_or_else(|e| panic!("ContainerStatus {id}: {e}"))
            .status
            .unwrap_or_else(|| panic!("ContainerStatus {id}: no status"))
    }

    /// Polls ContainerStatus until the container has exited (CRI has no wait).
    pub fn wait_exited(&self, id: &str) -> ContainerStatus {
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let status = self.container_status(id);
            if status.state == ContainerState::ContainerExited as i32 {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} never exited: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pid of a pod's sandbox (pause) process, from containerd's verbose
    /// PodSandboxStatus.
    pub fn sandbox_pid(&self, pod_id: &str) -> i64 {
        let request = PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.to_owned(),
            verbose: true,
        };
        let response = self
            .cri(|mut c| async move { c.pod_sandbox_status(request).await })
            .unwrap_or_else(|e| panic!("PodSandboxStatus {pod_id}: {e}"));
        pid_in_verbose_info(&response.info)
    }

    /// The pod's IP address on the harness's bridge, from PodSandboxStatus.
    pub fn pod_ip(&self, pod_id: &str) -> String {
        let request = PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.to_owned(),
            verbose: false,
        };
        self.cri(|mut c| async move { c.pod_sandbox_status(request).await })
            .unwrap_or_else(|e| panic!("PodSandboxStatus {pod_id}: {e}"))
            .status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .filter(|ip| !ip.is_empty())
            .unwrap_or_else(|| panic!("pod {pod_id} has no IP\n{}", self.describe()))
    }

    /// containerd's network namespace, where the pods' bridge is: the only place a
    /// pod IP is reached from.
    pub fn network_namespace(&self) -> PathBuf {
        let pid = self.daemon.as_ref().expect("containerd runs").id();
        PathBuf::from(format!("/proc/{pid}/ns/net"))
    }

    /// The pid of a running container's init process, from containerd's
    /// verbose ContainerStatus.
    pub fn container_pid(&self, id: &str) -> i64 {
        let request = ContainerStatusRequest {
            container_id: id.to_owned(),
            verbose: true,
        };
        let response = self
            .cri(|mut c| async move { c.container_status(request).await })
            .unwrap_or_else(|e| panic!("ContainerStatus {id}: {e}"));
        pid_in_verbose_info(&response.info)
    }

    pub fn exec_sync(&self, id: &str, cmd: &[&str]) -> Result<ExecSyncResponse, tonic::Status> {
        let request = ExecSyncRequest {
            container_id: id.to_owned(),
            cmd: cmd.iter().map(|a| (*a).to_owned()).collect(),
            timeout: 60,
        };
        self.cri(|mut c| async move { c.exec_sync(request).await })
    }

    pub fn stop_container(&self, id: &str) -> Result<(), tonic::Status> {
        let request = StopContainerRequest {
            container_id: id.to_owned(),
            timeout: 10,
        };
        self.cri(|mut c| async move { c.stop_container(request).await })
            .map(drop)
    }

    pub fn remove_container(&self, id: &str) -> Result<(), tonic::Status> {
        let request = RemoveContainerRequest {
            container_id: id.to_owned(),
        };
        self.cri(|mut c| async move { c.remove_container(request).await })
            .map(drop)
    }

    pub fn stop_pod(&self, id: &str) -> Result<(), tonic::Status> {
        let request = StopPodSandboxRequest {
            pod_sandbox_id: id.to_owned(),
        };
        self.cri(|mut c| async move { c.stop_pod_sandbox(request).await })
            .map(drop)
    }

    pub fn remove_pod(&self, id: &str) -> Result<(), tonic::Status> {
        let request = RemovePodSandboxRequest {
            pod_sandbox_id: id.to_owned(),
        };
        self.cri(|mut c| async move { c.remove_pod_sandbox(request).await })
            .map(drop)
    }

    /// The CRI log of a container, reassembled: each line is
    /// `<time> <stream> <P|F> <text>`, and containerd splits lines longer than
    /// its max_container_log_line_size into partial (P) pieces.
    pub fn container_log(&self, status: &ContainerStatus) -> String {
        let raw = fs::read_to_string(&status.log_path)
            .unwrap_or_else(|e| panic!("read CRI log {}: {e}", status.log_path));
        let mut text = String::new();
        for line in raw.lines() {
            let mut fields = line.splitn(4, ' ');
            let (_time, _stream, tag) = (fields.next(), fields.next(), fields.next());
            text.push_str(fields.next().unwrap_or_default());
            if tag != Some("P") {
                text.push('\n');
            }
        }
        text
    }

    /// containerd's log, for failure messages.
    pub fn containerd_log(&self) -> String {
        let log = fs::read_to_string(self.path("containerd.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("--- containerd.log (tail) ---\n{}", tail.join("\n"))
    }

    /// Every argv the shim passed to the runtime, one call a line.
    pub fn runtime_argv_log(&self) -> String {
        fs::read_to_string(self.path("runtime-argv.log")).unwrap_or_default()
    }

    /// The config.json containerd generated for runtime container `id`.
    pub fn captured_spec(&self, id: &str) -> serde_json::Value {
        let path = self.path(&format!("captured/{id}.json"));
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no captured spec {}: {e}", path.display()));
        serde_json::from_str(&text).expect("captured config.json is JSON")
    }

    /// The runtime calls and containerd's log, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "--- runtime argv log ---\n{}\n{}",
            self.runtime_argv_log().trim_end(),
            self.containerd_log()
        )
    }

    /// What bulwark and containerd left of this instance's containers:
    /// entries in bulwark's state root, cgroups below this instance's parent,
    /// mounts at or below D in containerd's mount namespace and in ours.
    /// Empty once every pod is removed.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        // bulwark's own directories start with `@`: its compiled seccomp programs
        // (`@seccomp`) are one cache for every container and stay; its private
        // directories (`@bulwark`) and range leases (`@userns`) must be empty.
        if let Ok(entries) = fs::read_dir(self.runtime_root()) {
            for entry in entries
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('@'))
            {
                left.push(format!("runtime state {}", entry.path().display()));
            }
        }
        for shared in ["@bulwark", "@userns"] {
            if let Ok(entries) = fs::read_dir(self.runtime_root().join(shared)) {
                for entry in entries.flatten() {
                    left.push(format!("bulwark state {}", entry.path().display()));
                }
            }
        }
        for cgroup in self.cgroups() {
            if cgroup.file_name().is_some_and(|n| n != self.parent_name()) {
                left.push(format!("cgroup {}", cgroup.display()));
            }
        }
        let daemon = self.daemon.as_ref().map(Child::id);
        let mut namespaces = vec![String::from("self")];
        namespaces.extend(daemon.map(|pid| pid.to_string()));
        for ns in namespaces {
            // Only live pods have mounts under D: rootfs overlays, the
            // sandbox's shm, its netns file.
            for mount in self.mounts_below(&ns) {
                left.push(format!("mount {mount} (seen from {ns})"));
            }
        }
        left
    }

    /// The pod cgroup parent, `/bulwark-cri-<pid>-<n>`.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    fn parent_name(&self) -> &str {
        self.cgroup_parent.trim_start_matches('/')
    }

    /// This instance's cgroup parent and everything below it, in every v1
    /// hierarchy (and the v2 root), deepest first.
    fn cgroups(&self) -> Vec<PathBuf> {
        let mut hierarchies = vec![PathBuf::from("/sys/fs/cgroup")];
        if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
            hierarchies.extend(entries.flatten().map(|e| e.path()));
        }
        let mut found = Vec::new();
        for hierarchy in hierarchies {
            let parent = hierarchy.join(self.parent_name());
            if parent.is_dir() {
                collect_dirs(&parent, &mut found);
            }
        }
        found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        found
    }

    /// Mount points at or below D in the mount namespace of `pid` ("self" for
    /// ours), deepest first.
    fn mounts_below(&self, pid: &str) -> Vec<String> {
        let base = self.base.to_string_lossy().into_owned();
        let prefix = format!("{base}/");
        let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        let mut mounts: Vec<String> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|m| *m == base || m.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        mounts.dedup();
        mounts
    }

    /// Removes every pod (and with it every container) through CRI, as a
    /// kubelet draining the node would. Reports instead of panicking: it runs
    /// in Drop, possibly while a failed test unwinds.
    fn remove_all_pods(&self) {
        let containers = self
            .cri(|mut c| async move {
                c.list_containers(ListContainersRequest { filter: None })
                    .await
            })
            .map(|r| r.containers)
            .unwrap_or_default();
        for container in containers {
            if let Err(e) = self.remove_container(&container.id) {
                eprintln!("containerd harness: RemoveContainer {}: {e}", container.id);
            }
        }
        let pods = self
            .cri(|mut c| async move {
                c.list_pod_sandbox(ListPodSandboxRequest { filter: None })
                    .await
            })
            .map(|r| r.items)
            .unwrap_or_default();
        for pod in pods {
            for result in [self.stop_pod(&pod.id), self.remove_pod(&pod.id)] {
                if let Err(e) = result {
                    eprintln!("containerd harness: removing pod {}: {e}", pod.id);
                }
            }
        }
    }

    /// SIGTERM to containerd, SIGKILL if it lingers.
    fn stop_daemon(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + crate::stragglers::STRAGGLER_TIMEOUT;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                eprintln!("containerd harness: containerd ignored SIGTERM; killing it");
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for this instance's processes that are not our children.
    fn wait_for_stragglers(&self) {
        crate::stragglers::wait_for(&self.base, "containerd");
    }

    /// Removes what a failed test or a misbehaving runtime left: bulwark
    /// state (through `bulwark delete --force`, which kills the container and
    /// removes its cgroup), then this instance's cgroups (rmdir only succeeds
    /// on a cgroup without tasks).
    fn remove_runtime_leftovers(&self) {
        if let Ok(entries) = fs::read_dir(self.runtime_root()) {
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                // Not containers: bulwark's own directories (`@` is in no container id).
                if id.starts_with('@') {
                    continue;
                }
                eprintln!(
                    "containerd harness: runtime state for {id} outlived its pod; deleting it"
                );
                let _ = Command::new(env!("CARGO_BIN_EXE_bulwark"))
                    .arg("--root")
                    .arg(self.runtime_root())
                    .args(["delete", "--force", &id])
                    .env("BULWARK_CONFIG", self.path("bulwark.toml"))
                    .stdin(Stdio::null())
                    .output();
            }
        }
        for cgroup in self.cgroups() {
            if let Err(e) = fs::remove_dir(&cgroup) {
                eprintln!(
                    "containerd harness: cannot remove cgroup {}: {e}",
                    cgroup.display()
                );
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        if self.runtime.is_some() {
            self.remove_all_pods();
        }
        self.stop_daemon();
        self.wait_for_stragglers();
        self.remove_runtime_leftovers();
        // containerd's mounts die with its mount namespace (its last process
        // is gone now); one visible here would have propagated to the host.
        let left = self.mounts_below("self");
        if left.is_empty() {
            if let Err(e) = dir.close() {
                eprintln!(
                    "containerd harness: cannot remove {}: {e}",
                    self.base.display()
                );
            }
        } else {
            // Deleting through a mount would delete whatever it shows.
            let kept = dir.keep();
            eprintln!(
                "containerd harness: keeping {} because mounts remain: {left:?}",
                kept.display()
            );
        }
    }
}

/// Network and IPC shared by the pod, PID per container: what a kubelet
/// sends for a pod without hostNetwork/hostPID/hostIPC/shareProcessNamespace.
pub fn pod_namespaces() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Pod as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// containerd puts its verbose status, pid included, as JSON under "info".
fn pid_in_verbose_info(info: &std::collections::HashMap<String, String>) -> i64 {
    let text = info
        .get("info")
        .unwrap_or_else(|| panic!("no verbose info in {info:?}"));
    let value: serde_json::Value = serde_json::from_str(text).expect("verbose info is JSON");
    value["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in verbose info {value}"))
}

fn image_spec(name: &str) -> ImageSpec {
    ImageSpec {
        image: name.to_owned(),
        ..Default::default()
    }
}

fn collect_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    found.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), found);
            }
        }
    }
}
