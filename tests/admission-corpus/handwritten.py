#!/usr/bin/env python3
"""Writes the hand-written corpus files (see README.md). Re-run after editing:
   python3 tests/admission-corpus/handwritten.py
Placeholders are substituted by tests/admission_corpus.rs."""
import copy, json, os

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
RUNC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

# `runc spec` plus limits: compliant; each case breaks exactly one thing.
BASE = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/probe", "report"],
        "env": PROBE_ENV, "cwd": "/",
        "capabilities": {k: RUNC_CAPS for k in ["bounding", "effective", "permitted"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "@ROOTFS@", "readonly": True},
    "hostname": "corpus",
    # What an orchestrator that unpacked the image names it (tests trust the annotation).
    "annotations": {"bulwark.io/image": "localhost/bulwark-probe:test"},
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {
            "devices": [{"allow": False, "access": "rwm"}],
            "memory": {"limit": 134217728},
            "cpu": {"quota": 50000, "period": 100000},
            "pids": {"limit": 64},
        },
        "namespaces": [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount"]],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}

CASES = {}  # name -> (spec, expected rule ids)


def case(name, ids, edit, base=BASE):
    spec = copy.deepcopy(base)
    edit(spec)
    CASES[name] = (spec, ids)


def ptr(spec, path, value):
    *parents, last = path.split("/")
    for key in parents:
        spec = spec.setdefault(key, {})
    if value is DELETE:
        spec.pop(last, None)
    else:
        spec[last] = value


DELETE = object()
L = "linux/resources/"

# resources
case("resources.memory-limit--unset", ["resources.memory-limit"], lambda s: ptr(s, L + "memory", DELETE))
case("resources.memory-limit--above-max", ["resources.memory-limit"], lambda s: ptr(s, L + "memory/limit", 17179869184))
case("resources.memory-limit--unlimited", ["resources.memory-limit"], lambda s: ptr(s, L + "memory/limit", -1))
case("resources.cpu-limit--unset", ["resources.cpu-limit"], lambda s: ptr(s, L + "cpu", DELETE))
case("resources.cpu-limit--shares-only", ["resources.cpu-limit"], lambda s: ptr(s, L + "cpu", {"shares": 1024}))
case("resources.cpu-limit--five-cpus", ["resources.cpu-limit"], lambda s: ptr(s, L + "cpu", {"quota": 500000, "period": 100000}))
case("resources.cpu-limit--unlimited-quota", ["resources.cpu-limit"], lambda s: ptr(s, L + "cpu/quota", -1))
case("resources.pids-limit--unset", ["resources.pids-limit"], lambda s: ptr(s, L + "pids", DELETE))
case("resources.pids-limit--unlimited", ["resources.pids-limit"], lambda s: ptr(s, L + "pids/limit", -1))
case("resources.pids-limit--above-max", ["resources.pids-limit"], lambda s: ptr(s, L + "pids/limit", 100000))
case("resources.memory-limit--no-resources-at-all",
     ["resources.memory-limit", "resources.cpu-limit", "resources.pids-limit"],
     lambda s: ptr(s, L[:-1], DELETE))


def bind(source, dest, opts=("rbind", "ro")):
    return lambda s: s["mounts"].append(
        {"destination": dest, "type": "bind", "source": source, "options": list(opts)})


# mounts
case("mounts.host-path--etc", ["mounts.host-path"], bind("/etc", "/host-etc"))
case("mounts.host-path--root", ["mounts.host-path"], bind("/", "/host"))
case("mounts.host-path--var-lib", ["mounts.host-path"], bind("/var/lib", "/data"))
case("mounts.host-path--proc-subdir", ["mounts.host-path"], bind("/proc/sys/kernel", "/k"))
case("mounts.host-path--home", ["mounts.host-path"], bind("/home", "/home"))
case("mounts.host-path--missing-source", ["mounts.host-path"], bind("/nonexistent/bulwark-corpus", "/data"))
case("mounts.host-path--bind-without-type", ["mounts.host-path"],
     lambda s: s["mounts"].append({"destination": "/host", "source": "/srv", "options": ["bind"]}))
case("mounts.propagation--rshared-bind", ["mounts.propagation"],
     lambda s: s["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                                   "options": ["nosuid", "nodev", "size=1m", "rshared"]}))
case("mounts.propagation--rootfs-shared", ["mounts.propagation"],
     lambda s: ptr(s, "linux/rootfsPropagation", "shared"))

# kernel filesystems away from their places (maskedPaths cover /proc and /sys only;
# libcontainer binds cgroup v1 read-write)
case("mounts.kernel-fs--proc-outside-proc", ["mounts.kernel-fs"],
     lambda s: s["mounts"].append({"destination": "/mnt/proc", "type": "proc", "source": "proc"}))
case("mounts.kernel-fs--sysfs-outside-sys", ["mounts.kernel-fs"],
     lambda s: s["mounts"].append({"destination": "/mnt/sys", "type": "sysfs", "source": "sysfs",
                                   "options": ["nosuid", "noexec", "nodev", "ro"]}))
case("mounts.kernel-fs--cgroup-dotdot", ["mounts.kernel-fs"],
     lambda s: s["mounts"][6].update(destination="/sys/fs/cgroup/../../../mnt/cg"))
case("mounts.kernel-fs--cgroup-without-sysfs", ["mounts.kernel-fs"], lambda s: s["mounts"].pop(5))
case("admitted--kernel-fs-spelled-differently", [],
     lambda s: [s["mounts"][i].update(destination=d)
                for i, d in [(0, "/proc/"), (5, "//sys"), (6, "/sys/fs/cgroup/.")]])

# privileged
case("privileged.writable-sysfs--sysfs-rw", ["privileged.writable-sysfs"],
     lambda s: s["mounts"][5].update(options=["nosuid", "noexec", "nodev", "rw"]))
case("privileged.writable-sysfs--cgroup-rw", ["privileged.writable-sysfs"],
     lambda s: s["mounts"][6].update(options=["nosuid", "noexec", "nodev", "relatime"]))
case("privileged.capabilities--sys-admin", ["privileged.capabilities"],
     lambda s: [s["process"]["capabilities"][k].append("CAP_SYS_ADMIN") for k in ["bounding", "effective", "permitted"]])
case("privileged.capabilities--ambient-net-admin", ["privileged.capabilities"],
     lambda s: ptr(s, "process/capabilities/ambient", ["CAP_NET_ADMIN"]))
case("privileged.devices--allow-all-rule", ["privileged.devices"],
     lambda s: ptr(s, L + "devices", [{"allow": True, "access": "rwm"}]))
case("privileged.devices--host-disk", ["privileged.devices"],
     lambda s: ptr(s, "linux/devices", [{"path": "/dev/vda", "type": "b", "major": 254, "minor": 0,
                                          "fileMode": 432, "uid": 0, "gid": 6}]))
case("privileged.masked-paths--emptied", ["privileged.masked-paths"], lambda s: ptr(s, "linux/maskedPaths", []))
# A runc spec, so Podman's mark is also a claim that does not hold (engine.identity).
case("privileged.podman--annotation", ["privileged.podman", "images.unknown", "engine.identity"],
     lambda s: ptr(s, "annotations", {"io.podman.annotations.privileged": "TRUE"}))
case("privileged.unconfined--apparmor", ["privileged.unconfined"],
     lambda s: ptr(s, "process/apparmorProfile", "unconfined"))
case("privileged.unconfined--seccomp-allow-all", ["privileged.unconfined"],
     lambda s: ptr(s, "linux/seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]}))
case("privileged.unconfined--seccomp-annotation", ["privileged.unconfined"],
     lambda s: s["annotations"].update({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}))

# seccomp: the engine's profile stacks on bulwark's; it may not leave the kernel or weaken
DENY_CHMOD = {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 15}
def seccomp(**fields):
    return lambda s: ptr(s, "linux/seccomp", dict({"defaultAction": "SCMP_ACT_ALLOW",
                                                   "architectures": ["SCMP_ARCH_X86_64"],
                                                   "syscalls": [DENY_CHMOD]}, **fields))
case("admitted--seccomp-localhost-denies-chmod", [], seccomp(flags=["SECCOMP_FILTER_FLAG_LOG"]))
case("seccomp.notify--syscall-action", ["seccomp.notify"],
     seccomp(syscalls=[DENY_CHMOD, {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]))
case("seccomp.notify--default-action", ["seccomp.notify"],
     seccomp(defaultAction="SCMP_ACT_NOTIFY", syscalls=[{"names": ["write"], "action": "SCMP_ACT_ALLOW"}]))
case("seccomp.notify--listener-path", ["seccomp.notify"],
     seccomp(listenerPath="/run/seccomp-agent.sock", listenerMetadata="corpus"))
case("seccomp.flags--spec-allow", ["seccomp.flags"],
     seccomp(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]))

# namespaces
case("namespaces.required--no-ipc", ["namespaces.required"],
     lambda s: s["linux"]["namespaces"].pop(2))
case("namespaces.required--no-namespaces", ["namespaces.required"],
     lambda s: ptr(s, "linux/namespaces", []))
case("namespaces.host--join-host-net", ["namespaces.host"],
     lambda s: s["linux"]["namespaces"][1].update(path="/proc/1/ns/net"))
case("namespaces.host--join-host-pid-via-self", ["namespaces.host"],
     lambda s: s["linux"]["namespaces"][0].update(path="/proc/self/ns/pid"))
case("namespaces.host--missing-ns-file", ["namespaces.host"],
     lambda s: s["linux"]["namespaces"][1].update(path="/var/run/netns/bulwark-corpus-nonexistent"))

# user namespaces: container ids map only to host ids at or above the floor (65536)
HIGH_RANGE = [{"containerID": 0, "hostID": 100000, "size": 65536}]
def user_namespace(uids, gids=HIGH_RANGE, namespace=None):
    def edit(s):
        s["linux"]["namespaces"].append(namespace or {"type": "user"})
        ptr(s, "linux/uidMappings", uids)
        ptr(s, "linux/gidMappings", gids)
    return edit
TO_HOST_ROOT = [{"containerID": 0, "hostID": 100000, "size": 65532},
                {"containerID": 65532, "hostID": 0, "size": 1}]
case("admitted--user-namespace-high-range", [], user_namespace(HIGH_RANGE))
case("namespaces.user-mapping--remapped-uid-to-host-root", ["namespaces.user-mapping"],
     user_namespace(TO_HOST_ROOT, TO_HOST_ROOT))
case("namespaces.user-mapping--below-floor", ["namespaces.user-mapping"],
     user_namespace([{"containerID": 0, "hostID": 1000, "size": 65536}]))
# Admitted as written; the baseline runs the process as 65532, which it leaves out.
case("namespaces.user-mapping--remapped-uid-not-mapped", ["namespaces.user-mapping"],
     user_namespace([{"containerID": 0, "hostID": 100000, "size": 1000}],
                    [{"containerID": 0, "hostID": 100000, "size": 1000}]))
case("namespaces.user-mapping--without-user-namespace", ["namespaces.user-mapping"],
     lambda s: [ptr(s, "linux/uidMappings", HIGH_RANGE), ptr(s, "linux/gidMappings", HIGH_RANGE)])
# The pod's user namespace is the host's here, so namespaces.host fires too.
case("namespaces.user-mapping--join-by-path", ["namespaces.host", "namespaces.user-mapping"],
     user_namespace(HIGH_RANGE, namespace={"type": "user", "path": "/proc/@POD_PID@/ns/user"}))

# process / remaining linux fields
case("hooks.not-allowed--prestart", ["hooks.not-allowed"],
     lambda s: ptr(s, "hooks", {"prestart": [{"path": "/usr/bin/true", "args": ["true"]}]}))
case("hooks.not-allowed--create-runtime", ["hooks.not-allowed"],
     lambda s: ptr(s, "hooks", {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "id"]}],
                                "poststop": [{"path": "/bin/true"}]}))
case("sysctls.unsafe--kernel-core-pattern", ["sysctls.unsafe"],
     lambda s: ptr(s, "linux/sysctl", {"kernel.core_pattern": "|/tmp/x", "net.ipv4.ping_group_range": "0 0"}))
case("sysctls.unsafe--ip-forward", ["sysctls.unsafe"],
     lambda s: ptr(s, "linux/sysctl", {"net.ipv4.ip_forward": "1"}))
case("linux.unsupported-field--personality", ["linux.unsupported-field"],
     lambda s: ptr(s, "linux/personality", {"domain": "LINUX32"}))
case("linux.unsupported-field--net-devices", ["linux.unsupported-field"],
     lambda s: ptr(s, "linux/netDevices", {"eth0": {"name": "eth0"}}))
case("linux.unsupported-field--intel-rdt", ["linux.unsupported-field"],
     lambda s: ptr(s, "linux/intelRdt", {"closID": "guaranteed", "l3CacheSchema": "L3:0=ff"}))
case("process.cwd--proc-self-fd", ["process.cwd"], lambda s: ptr(s, "process/cwd", "/proc/self/fd/7"))
case("process.cwd--relative", ["process.cwd"], lambda s: ptr(s, "process/cwd", "work"))
case("process.cwd--dotdot", ["process.cwd"], lambda s: ptr(s, "process/cwd", "/tmp/../../.."))
case("process.scheduling--fifo", ["process.scheduling"],
     lambda s: ptr(s, "process/scheduler", {"policy": "SCHED_FIFO", "priority": 1}))
case("process.scheduling--deadline", ["process.scheduling"],
     lambda s: ptr(s, "process/scheduler", {"policy": "SCHED_DEADLINE", "runtime": 10000000,
                                            "deadline": 100000000, "period": 100000000}))
case("process.scheduling--negative-nice", ["process.scheduling"],
     lambda s: ptr(s, "process/scheduler", {"policy": "SCHED_OTHER", "nice": -10}))
case("process.scheduling--io-priority-rt", ["process.scheduling"],
     lambda s: ptr(s, "process/ioPriority", {"class": "IOPRIO_CLASS_RT", "priority": 0}))
case("process.scheduling--rlimit-rtprio", ["process.scheduling"],
     lambda s: s["process"]["rlimits"].append({"type": "RLIMIT_RTPRIO", "hard": 99, "soft": 99}))
case("process.scheduling--realtime-cpu", ["process.scheduling"],
     lambda s: s["linux"]["resources"]["cpu"].update(realtimeRuntime=10000, realtimePeriod=1000000))
case("admitted--batch-scheduling-idle-io", [],
     lambda s: s["process"].update(scheduler={"policy": "SCHED_BATCH", "nice": 5},
                                   ioPriority={"class": "IOPRIO_CLASS_IDLE", "priority": 0}))
case("env.secret--password-name", ["env.secret"],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["DB_PASSWORD=corpus-hunter2-value"]))
case("env.secret--github-token-value", ["env.secret"],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["GIT_CONFIG=ghp_0123456789abcdefghijABCDEFGHIJklmn"]))
case("env.secret--private-key-value", ["env.secret"],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["SSH_ID=-----BEGIN OPENSSH PRIVATE KEY-----\\ncorpusnotakey\\n"]))
# Issue #15 class 10: token families and URL credentials the first prefixes missed, under
# names that say nothing; an entry without '='; benign look-alikes stay admitted.
case("env.secret--github-app-tokens", ["env.secret"],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["GH_INSTALL=ghs_CorpusGhs0123456789abcdefgh",
                                                  "GH_USER=ghu_CorpusGhu0123456789abcdefgh",
                                                  "GH_RENEW=ghr_CorpusGhr0123456789abcdefgh"]))
case("env.secret--slack-app-tokens", ["env.secret"],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["SLACK_LEGACY=xoxa-2-CorpusXoxa0123456789abcdef",
                                                  "SLACK_SOCKET=xapp-1-CorpusXapp0123456789abcdef"]))
case("env.secret--openai-project-key", ["env.secret"],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["OPENAI=sk-proj-CorpusOpenai0123456789abcdef"]))
case("env.secret--url-credentials", ["env.secret"],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["DATABASE_URL=postgres://app:CorpusUrlPw@db:5432/app"]))
case("env.malformed--entry-without-equals", ["env.malformed"],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["ghp_CorpusBare0123456789abcdefghij"]))
case("admitted--env-look-alikes", [],
     lambda s: ptr(s, "process/env", PROBE_ENV + ["HOME_PAGE=https://example.com/x",
                                                  "MAINTAINER=user@host",
                                                  "GIT_REMOTE=ssh://git@github.com/org/repo.git",
                                                  "PROXY=http://proxy.example.com:3128/",
                                                  "TOKEN_FILE=/run/secrets/token"]))

# images: identity from the orchestrator annotation (trusted by the test config, which
# approves localhost/bulwark-probe); distroless rootfs
def image(ref):
    return lambda s: s["annotations"].update({"bulwark.io/image": ref})
DIGEST = "sha256:" + "9" * 64
case("images.unknown--no-annotation", ["images.unknown"], lambda s: ptr(s, "annotations", DELETE))
case("images.unknown--image-id", ["images.unknown"], image("sha256:" + "a" * 64))
case("images.unknown--not-a-reference", ["images.unknown"], image("Localhost/Bulwark Probe"))
case("images.unapproved--other-registry", ["images.unapproved"], image("registry.example.com/tools/probe:1.0"))
case("images.unapproved--lookalike-prefix", ["images.unapproved"], image("localhost/bulwark-probe-evil:1.0"))
case("images.unapproved--docker-hub-short-name", ["images.unapproved", "images.latest"], image("busybox"))
case("images.latest--implicit", ["images.latest"], image("localhost/bulwark-probe"))
case("images.latest--explicit", ["images.latest"], image("localhost/bulwark-probe:latest"))
case("admitted--latest-pinned-by-digest", [], image("localhost/bulwark-probe:latest@" + DIGEST))
case("admitted--sub-repository", [], image("localhost/bulwark-probe/agents:2.1"))
case("images.distroless--shell-and-package-manager", ["images.distroless"],
     lambda s: ptr(s, "root/path", "@SHELL_ROOTFS@"))
case("admitted--shell-link-out-of-rootfs", [], lambda s: ptr(s, "root/path", "@ESCAPE_ROOTFS@"))

# disk: writable space is size-bounded tmpfs only
def tmpfs(*opts):
    return lambda s: s["mounts"].append(
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", *opts]})
case("resources.disk--tmpfs-too-large", ["resources.disk"], tmpfs("size=2g"))
case("resources.disk--tmpfs-percent", ["resources.disk"], tmpfs("size=50%"))
case("resources.disk--tmpfs-unlimited", ["resources.disk"], tmpfs("size=0"))
case("resources.disk--tmpfs-nr-blocks", ["resources.disk"], tmpfs("nr_blocks=0"))
case("resources.disk--block-device", ["resources.disk"],
     lambda s: s["mounts"].append({"destination": "/data", "type": "ext4", "source": "/dev/vda", "options": ["rw"]}))
case("resources.disk--no-type", ["resources.disk"],
     lambda s: s["mounts"].append({"destination": "/data", "source": "/srv", "options": ["rw"]}))
case("admitted--tmpfs-without-size", [], tmpfs())
# runc's and Podman's extensions are bulwark's to handle; what libcontainer would lose or
# hand the kernel is refused by name
case("admitted--podman-tmpfs-tmpcopyup", [], tmpfs("rw", "rprivate", "tmpcopyup", "size=1m"))
case("admitted--tmpfs-notmpcopyup-and-parameters", [],
     tmpfs("notmpcopyup", "mode=1777", "uid=1000", "nr_inodes=100", "inode64", "rro", "size=1m"))
case("mounts.options--tmpfs-idmap", ["mounts.options"], tmpfs("idmap", "size=1m"))
case("mounts.options--tmpfs-unknown-parameter", ["mounts.options"], tmpfs("sizee=1m"))
case("mounts.options--tmpfs-unknown-word", ["mounts.options"], tmpfs("copyup", "size=1m"))

# Everything at once: every violation is reported, not just the first.
def everything(s):
    ptr(s, L + "memory", DELETE)
    ptr(s, "linux/maskedPaths", [])
    ptr(s, "hooks", {"prestart": [{"path": "/usr/bin/true"}]})
    ptr(s, "process/cwd", "/proc/self/cwd")
    ptr(s, "linux/sysctl", {"kernel.sysrq": "1"})
    s["mounts"].append({"destination": "/host", "type": "bind", "source": "/", "options": ["rbind", "rshared"]})
case("resources.memory-limit--many-violations",
     ["resources.memory-limit", "mounts.host-path", "mounts.propagation", "privileged.masked-paths",
      "hooks.not-allowed", "sysctls.unsafe", "process.cwd"], everything)

# ---- containerd 1.6 CRI (hand-written from its spec generation; see README.md) ----
# A sandbox's id is its own container id (@ID@); a container names a live sandbox that
# bulwark created (the test runs one: @SANDBOX_ID@, of pod @POD_UID@). engine.identity
# holds CRI claims to both.
CRI_SANDBOX_ID = "5f0c1a9d3e7b4c2a8d6e1f0b9a7c3d5e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c"
CRI_POD_UID = "8d1c6a2e-4b7f-4e3a-9c5d-2f1e0a9b8c7d"
OTHER_POD_UID = "3e9f7a1b-2c4d-4e6f-8a0b-1c3d5e7f9a2b"
CRI_CONTAINER_ID = "c3a1e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3"
# containerd's defaultUnixCaps() (oci/spec.go): these, with CAP_NET_RAW sixth.
CRI_CAPS_NO_NET_RAW = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                       "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                       "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
CRI_DEFAULT_CAPS = CRI_CAPS_NO_NET_RAW[:5] + ["CAP_NET_RAW"] + CRI_CAPS_NO_NET_RAW[5:]
ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
            "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
            "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
            "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
            "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
            "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
            "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
def cri_lib(sandbox_id):
    return "@ENGINE@/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + sandbox_id


def cri_run(sandbox_id):
    return "@ENGINE@/run/containerd/io.containerd.grpc.v1.cri/sandboxes/" + sandbox_id


def kubelet_pod(uid):
    return "@ENGINE@/var/lib/kubelet/pods/" + uid


# A stand-in for containerd's RuntimeDefault (an allowlist of ~300 syscalls): some of the
# syscalls it denies, denied. The admitted documents are created, so the profile must let
# a container start.
CRI_SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
               "syscalls": [{"names": ["add_key", "bpf", "kexec_load", "keyctl", "open_by_handle_at",
                                       "perf_event_open", "request_key", "userfaultfd"],
                             "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
CRI_MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
              "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
CRI_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def cri_annotations(kind, sandbox_id, pod_uid):
    a = {"io.kubernetes.cri.container-type": kind,
         "io.kubernetes.cri.sandbox-id": sandbox_id,
         "io.kubernetes.cri.sandbox-name": "web-0",
         "io.kubernetes.cri.sandbox-namespace": "default",
         "io.kubernetes.cri.sandbox-uid": pod_uid}
    if kind == "sandbox":
        a["io.kubernetes.cri.sandbox-log-directory"] = "/var/log/pods/default_web-0_" + pod_uid
    else:
        a["io.kubernetes.cri.container-name"] = "app"
        a["io.kubernetes.cri.image-name"] = "localhost/bulwark-probe:test"
    return a


def cri_default_mounts():
    # oci.populateDefaultUnixSpec's mounts, as containerd 1.6 writes them
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]


def cri_sandbox(caps, host_network=False, sandbox_id="@ID@"):
    ns = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
          {"type": "network", "path": "@POD_NETNS@"}]
    if host_network:  # sandbox_run_linux.go: WithoutNamespace(network), WithoutNamespace(uts)
        ns = [n for n in ns if n["type"] not in ("network", "uts")]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {"user": {"uid": 65535, "gid": 65535}, "args": ["/probe", "sleep"],
                    "env": PROBE_ENV, "cwd": "/",
                    "capabilities": {k: caps for k in ["bounding", "effective", "permitted"]},
                    "noNewPrivileges": True, "oomScoreAdj": -998},
        "root": {"path": "@ROOTFS@", "readonly": True},
        "hostname": "web-0",
        "mounts": cri_default_mounts() + [
            {"destination": "/dev/shm", "type": "bind", "source": cri_run(sandbox_id) + "/shm", "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]},
            {"destination": "/etc/resolv.conf", "type": "bind", "source": cri_lib(sandbox_id) + "/resolv.conf", "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]},
        ],
        "annotations": cri_annotations("sandbox", sandbox_id, CRI_POD_UID),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}], "cpu": {"shares": 2}},
            "cgroupsPath": "/kubepods/besteffort/pod" + CRI_POD_UID + "/" + CRI_SANDBOX_ID,
            "namespaces": ns,
            "seccomp": CRI_SECCOMP,
            "maskedPaths": CRI_MASKED, "readonlyPaths": CRI_READONLY,
        },
    }


def cri_container(caps, netns="/proc/@POD_PID@/ns/net", pod_pid="@POD_PID@", pod_uid="@POD_UID@"):
    lib, run, pod = cri_lib("@SANDBOX_ID@"), cri_run("@SANDBOX_ID@"), kubelet_pod(pod_uid)
    ns = [{"type": "pid"},
          {"type": "ipc", "path": f"/proc/{pod_pid}/ns/ipc"},
          {"type": "uts", "path": f"/proc/{pod_pid}/ns/uts"},
          {"type": "mount"},
          {"type": "network", "path": netns}]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {"user": {"uid": 65532, "gid": 65532, "additionalGids": [65532]},
                    "args": ["/probe", "report"],
                    "env": PROBE_ENV + ["HOSTNAME=web-0", "KUBERNETES_SERVICE_HOST=10.96.0.1",
                                        "KUBERNETES_SERVICE_PORT=443"],
                    "cwd": "/",
                    "capabilities": {k: caps for k in ["bounding", "effective", "permitted"]},
                    "noNewPrivileges": True, "apparmorProfile": "cri-containerd.apparmor.d",
                    "oomScoreAdj": 1000},
        "root": {"path": "@ROOTFS@", "readonly": True},
        "mounts": cri_default_mounts() + [
            {"destination": "/etc/hosts", "type": "bind", "source": pod + "/etc-hosts", "options": ["rbind", "rprivate", "rw"]},
            {"destination": "/dev/termination-log", "type": "bind", "source": pod + "/containers/app/0c8f5e2a", "options": ["rbind", "rprivate", "rw"]},
            {"destination": "/etc/hostname", "type": "bind", "source": lib + "/hostname", "options": ["rbind", "rprivate", "rw"]},
            {"destination": "/etc/resolv.conf", "type": "bind", "source": lib + "/resolv.conf", "options": ["rbind", "rprivate", "rw"]},
            {"destination": "/dev/shm", "type": "bind", "source": run + "/shm", "options": ["rbind", "rprivate", "rw"]},
            {"destination": "/var/run/secrets/kubernetes.io/serviceaccount", "type": "bind",
             "source": pod + "/volumes/kubernetes.io~projected/kube-api-access-7x2kq", "options": ["rbind", "rprivate", "ro"]},
        ],
        "annotations": cri_annotations("container", "@SANDBOX_ID@", pod_uid),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}],
                          "memory": {"limit": 134217728},
                          "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                          "pids": {"limit": 256}},
            "cgroupsPath": "/kubepods/burstable/pod" + pod_uid + "/" + CRI_CONTAINER_ID,
            "namespaces": ns,
            "seccomp": CRI_SECCOMP,
            "maskedPaths": CRI_MASKED, "readonlyPaths": CRI_READONLY,
        },
    }


def put(name, spec, ids):
    CASES[name] = (spec, ids)


put("admitted--cri-container", cri_container(CRI_DEFAULT_CAPS), [])
put("admitted--cri-sandbox", cri_sandbox(CRI_DEFAULT_CAPS), [])

# securityContext.privileged: true (container_create_linux.go + WithPrivileged/WithDevices(host)):
# all caps, no masked/readonly paths, sysfs and cgroup rw, no seccomp/AppArmor, host devices,
# device rule allow-all.
priv = cri_container(ALL_CAPS)
priv["process"].pop("apparmorProfile")
priv["linux"].pop("seccomp")
priv["linux"]["maskedPaths"] = []
priv["linux"]["readonlyPaths"] = []
for m in priv["mounts"]:
    if m["type"] in ("sysfs", "cgroup"):
        m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
priv["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
priv["linux"]["devices"] = [
    {"path": "/dev/vda", "type": "b", "major": 254, "minor": 0, "fileMode": 432, "uid": 0, "gid": 6},
    {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420, "uid": 0, "gid": 0},
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0},
]
put("privileged.capabilities--cri-privileged", priv,
    ["privileged.writable-sysfs", "privileged.capabilities", "privileged.devices", "privileged.masked-paths"])

# hostNetwork: true. The sandbox spec has no network (and no uts) namespace; app containers
# join the sandbox's namespaces by /proc/<pause pid>/ns/*, which for hostNetwork are the host's.
put("namespaces.required--cri-hostnetwork-sandbox", cri_sandbox(CRI_DEFAULT_CAPS, host_network=True),
    ["namespaces.required"])
put("namespaces.host--cri-hostnetwork-container",
    cri_container(CRI_DEFAULT_CAPS, netns="/proc/@HOSTNET_POD_PID@/ns/net", pod_pid="@HOSTNET_POD_PID@"),
    ["namespaces.host"])

# Issue #15 class 5: an engine claim holds only against state its claimant cannot write.
# A container of the live sandbox that claims another pod (and binds that pod's kubelet
# directory); a sandbox naming another sandbox's id (and binding its directories); a
# runc spec that marks itself Podman's outside Podman's bundle (Podman's image record
# is not found either).
put("engine.identity--cri-container-of-another-pod",
    cri_container(CRI_DEFAULT_CAPS, pod_uid=OTHER_POD_UID), ["engine.identity"])
put("engine.identity--cri-sandbox-of-another-id",
    cri_sandbox(CRI_DEFAULT_CAPS, sandbox_id=CRI_SANDBOX_ID), ["engine.identity"])
case("engine.identity--podman-claim-outside-its-bundle", ["engine.identity", "images.unknown"],
     lambda s: ptr(s, "annotations/io.podman.annotations.init", "FALSE"))

# Issue #15: cgroups by confinement, devices by identity.
case("cgroups.path--host-service", ["cgroups.path"],
     lambda s: ptr(s, "linux/cgroupsPath", "/system.slice/ssh.service"))
case("cgroups.path--dotdot", ["cgroups.path"],
     lambda s: ptr(s, "linux/cgroupsPath", "/bulwark/../system.slice/x"))
case("cgroups.path--empty-is-bulwarks-own", ["cgroups.path"],
     lambda s: ptr(s, "linux/cgroupsPath", ""))
case("privileged.devices--block-device-as-dev-zero", ["privileged.devices"],
     lambda s: (ptr(s, "linux/devices", [{"path": "/dev/zero", "type": "b", "major": 7, "minor": 0,
                                          "fileMode": 438, "uid": 0, "gid": 0}]),
                ptr(s, L + "devices", [{"allow": False, "access": "rwm"},
                                       {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "rwm"}])))
case("privileged.devices--split-allow-all", ["privileged.devices"],
     lambda s: ptr(s, L + "devices", [{"allow": True, "type": "c", "access": "rwm"},
                                      {"allow": True, "type": "b", "access": "rwm"}]))
# Issue #16 item 3: a resource setting libcontainer would drop is refused by name.
case("resources.unsupported--use-hierarchy", ["resources.unsupported"],
     lambda s: ptr(s, L + "memory/useHierarchy", True))
case("resources.unsupported--rdma", ["resources.unsupported"],
     lambda s: ptr(s, L + "rdma", {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 10000}}))
case("resources.unsupported--field-not-in-the-spec", ["resources.unsupported"],
     lambda s: ptr(s, L + "memory/highWatermark", 100663296))
case("resources.unsupported--blkio-leaf-weight", ["resources.unsupported"],
     lambda s: ptr(s, L + "blockIO", {"weight": 500, "leafWeight": 300}))
# Issue #21 item 3: a unified key that lifts a limit. This host (and CI) is cgroup v1,
# where resources.unsupported refuses every unified key too.
case("resources.unified--memory-max-lifts-the-limit", ["resources.unified", "resources.unsupported"],
     lambda s: ptr(s, L + "unified", {"memory.max": "max"}))
# Issue #16 item 5: an rlimit setrlimit(2) would refuse, named before anything is made.
case("process.rlimits--nofile-above-nr-open", ["process.rlimits"],
     lambda s: ptr(s, "process/rlimits", [{"type": "RLIMIT_NOFILE", "hard": 4294967296, "soft": 1024}]))
case("process.rlimits--soft-above-hard", ["process.rlimits"],
     lambda s: ptr(s, "process/rlimits", [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 1024}]))
case("admitted--memory-v1-and-v2-both-apply", [],
     lambda s: ptr(s, L + "memory", {"limit": 134217728, "reservation": 67108864, "swap": 268435456,
                                      "disableOOMKiller": False}))

if __name__ == "__main__":
    expected_path = os.path.join(HERE, "expected.json")
    expected = json.load(open(expected_path)) if os.path.exists(expected_path) else {}
    for name, (spec, ids) in CASES.items():
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(spec, f, indent=2)
            f.write("\n")
        expected[name + ".json"] = sorted(ids)
    with open(expected_path, "w") as f:
        json.dump(dict(sorted(expected.items())), f, indent=2)
        f.write("\n")
    print(f"wrote {len(CASES)} files")
