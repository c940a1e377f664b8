#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/), from the admission
corpus (tests/admission-corpus/), packaging/config.toml and the examples below. Re-run it
after changing either; files libFuzzer found and `make fuzz` kept (crashes fixed, named
`crash-*` or `regression-*`) are left alone.

spec_admission: every admission-corpus document with its placeholders made concrete
under fuzz/src/lib.rs's fixture (/tmp/bulwark-fuzz), pod namespaces standing for the
host's (pid 1: refused as namespaces.host), plus a CRI sandbox in a namespace of its own
(admitted) and the mount option orders that libcontainer applies in sequence.
"""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
FIXTURE = "/tmp/bulwark-fuzz"
SUBSTITUTIONS = {
    "@ROOTFS@": f"{FIXTURE}/bundle/rootfs",
    "@SHELL_ROOTFS@": f"{FIXTURE}/shell-rootfs",
    # No links out of the rootfs in the fixture: an empty rootfs of its own.
    "@ESCAPE_ROOTFS@": "rootfs",
    "@ENGINE@": f"{FIXTURE}/engine",
    "@HOSTDIR@": f"{FIXTURE}/host-dir",
    "@ID@": "fuzz",
    "@POD_NETNS@": "/proc/1/ns/net",
    "@POD_PID@": "1",
    "@HOSTNET_POD_PID@": "1",
}


def write(target, name, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(data, (dict, list, bool)) or data is None:
        data = json.dumps(data, indent=1)
    if isinstance(data, str):
        data = data.encode()
    (directory / name).write_bytes(data)


def concrete(text):
    for placeholder, value in SUBSTITUTIONS.items():
        text = text.replace(placeholder, value)
    left = re.search(r"@[A-Z_]+@", text)
    assert left is None, f"unknown placeholder {left.group(0)}"
    return text


def spec_admission():
    documents = sorted((ROOT / "tests" / "admission-corpus").glob("*.json"))
    for path in documents:
        if path.name == "expected.json":
            continue
        write("spec_admission", path.name, concrete(path.read_text()))
    sandbox = json.loads(
        concrete((ROOT / "tests/admission-corpus/admitted--cri-sandbox.json").read_text())
    )
    for namespace in sandbox["linux"]["namespaces"]:
        namespace.pop("path", None)
    write("spec_admission", "admitted--cri-sandbox-own-netns.json", sandbox)

    # The same admitted document with mount options libcontainer applies in order (the
    # last plain option wins; a recursive one is applied after all of them).
    base = json.loads(
        concrete((ROOT / "tests/admission-corpus/admitted--tmpfs-without-size.json").read_text())
    )
    variants = {
        "mount-options--sysfs-ro-then-rrw.json": ("sysfs", "/sys", ["ro", "rrw"]),
        "mount-options--sysfs-ro-then-rw.json": ("sysfs", "/sys", ["ro", "rw"]),
        "mount-options--cgroup-ro-rrw.json": ("cgroup2", "/sys/fs/cgroup", ["ro", "rrw"]),
        "mount-options--tmpfs-nosuid-then-suid.json": ("tmpfs", "/tmp", ["nosuid", "suid", "dev"]),
        "mount-options--tmpfs-rsuid-rdev.json": ("tmpfs", "/tmp", ["size=1m", "rsuid", "rdev"]),
    }
    for name, (typ, destination, options) in variants.items():
        document = json.loads(json.dumps(base))
        document["mounts"] = [
            m for m in document["mounts"] if m["destination"] != destination
        ] + [{"destination": destination, "type": typ, "source": typ, "options": options}]
        write("spec_admission", name, document)


def host_config():
    write("host_config", "packaging-config.toml", (ROOT / "packaging/config.toml").read_bytes())
    write("host_config", "empty.toml", "")
    examples = {
        "test-config.toml": '[baseline.apparmor]\nallow_missing = true\n[admission.images]\n'
        'approved = ["localhost/bulwark-probe", "localhost/bulwark-pause"]\n'
        'trust_annotation = true\ncri_sandbox_image = "localhost/bulwark-pause:test"\n',
        "refuse-root.toml": '[baseline.non_root]\nmode = "refuse"\nuid = 1000\ngid = 1000\n',
        "agent-seccomp.toml": '[baseline.seccomp]\nprofile = "agent"\n',
        "capabilities.toml": '[baseline]\nallowed_capabilities = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]\n'
        'tmpfs_noexec = true\ntmpfs_size_bytes = 1048576\n',
        "capability-not-grantable.toml": '[baseline]\nallowed_capabilities = ["CAP_SYS_ADMIN"]\n',
        "typo.toml": "[baseline]\nalowed_capabilities = []\n",
        "root-ids.toml": "[baseline.non_root]\nuid = 0\n",
        "resources.toml": "[admission.resources]\nmax_memory_bytes = 1073741824\nmax_cpus = 0.5\n"
        "max_pids = 128\nmax_tmpfs_bytes = 268435456\nsandbox_memory_bytes = 33554432\n"
        "sandbox_cpu_quota = 5000\nsandbox_pids = 16\n",
        "tmpfs-above-max.toml": "[baseline]\ntmpfs_size_bytes = 4294967296\n",
        "mounts-hooks.toml": '[admission.mounts]\nallowed_host_paths = ["/srv/data"]\n'
        '[admission.hooks]\nallowed_paths = ["/usr/libexec/oci/hooks.d/nvidia"]\n'
        '[admission.capabilities]\nrefuse_net_raw = true\n',
        "images.toml": '[admission.images]\napproved = ["registry.example.com:5000/agents"]\n'
        "require_digest = true\nrefuse_latest = false\nallow_unknown = false\n",
        "images-bad-prefix.toml": '[admission.images]\napproved = ["nginx:latest"]\n',
        "sandbox-image-bad.toml": '[admission.images]\ncri_sandbox_image = "::"\n',
        "distroless.toml": '[admission.distroless]\nforbidden_paths = ["/bin/sh", "/usr/bin/apt-get"]\n',
        "distroless-relative.toml": '[admission.distroless]\nforbidden_paths = ["bin/sh"]\n',
        "policy-opa.toml": '[policy]\nbackend = "opa"\ndecision_path = "bulwark/decision"\n'
        'on_unavailable = "embedded"\n[policy.opa]\nsocket = "/run/bulwark/opa.sock"\n'
        "connect_timeout_ms = 100\nresponse_timeout_ms = 300\nmax_response_bytes = 65536\n",
        "policy-bad-path.toml": '[policy]\ndecision_path = "bulwark/../x"\n',
        "secrets.toml": '[secrets]\nsource_dirs = ["/srv/secrets"]\ntarget = "/var/run/app"\n'
        "max_bytes = 4096\nmax_count = 4\ntmpfs_size_bytes = 65536\ninject_file_env = true\n",
        "secrets-target-proc.toml": '[secrets]\ntarget = "/proc/x"\n',
        "audit.toml": '[audit]\npath = "/var/log/bulwark/audit.jsonl"\n',
        "not-toml.toml": "[baseline\nallowed_capabilities = \n",
    }
    for name, text in examples.items():
        write("host_config", name, text)


def exec_process():
    process = {
        "args": ["/probe", "report"],
        "cwd": "/",
        "env": ["PATH=/bin", "HOME=/"],
        "user": {"uid": 65532, "gid": 65532},
    }
    examples = {
        "plain.json": process,
        "podman-exec.json": {
            "terminal": False,
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [0, 10]},
            "args": ["/probe", "env"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm", "container=podman", "HOSTNAME=fuzz"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"],
                             "effective": ["CAP_CHOWN", "CAP_KILL"],
                             "permitted": ["CAP_CHOWN", "CAP_KILL"]},
            "noNewPrivileges": False,
            "apparmorProfile": "bulwark-default",
        },
        "root-with-everything.json": {
            "args": ["/bin/sh"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "noNewPrivileges": False,
            "capabilities": {s: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
                             for s in ["bounding", "effective", "permitted", "inheritable", "ambient"]},
            "rlimits": [{"type": "RLIMIT_CORE", "hard": 1 << 30, "soft": 1 << 30}],
            "oomScoreAdj": -1000,
        },
        "apparmor-unconfined.json": dict(process, apparmorProfile="unconfined"),
        "selinux-label.json": dict(process, selinuxLabel="system_u:system_r:spc_t:s0"),
        "cwd-proc-self-fd.json": dict(process, cwd="/proc/self/fd/7"),
        "cwd-relative.json": dict(process, cwd="work"),
        "cwd-dotdot.json": dict(process, cwd="/../.."),
        "env-secret-name.json": dict(process, env=["DB_PASSWORD=hunter2"]),
        "env-secret-value.json": dict(process, env=["X=ghp_0123456789abcdefghijklmnopqrstuvwxyz"]),
        "no-args.json": dict(process, args=[]),
        "terminal-console-size.json": dict(process, terminal=True, consoleSize={"height": 24, "width": 80}),
        "io-priority-scheduler.json": dict(
            process,
            ioPriority={"class": "IOPRIO_CLASS_RT", "priority": 0},
            scheduler={"policy": "SCHED_FIFO", "priority": 99},
        ),
        "not-json.json": "{\"args\": [\"/probe\"",
        "not-a-process.json": [1, 2, 3],
    }
    for name, data in examples.items():
        write("exec_process", name, data)


def opa_response():
    examples = {
        "true.json": {"result": True},
        "false.json": {"result": False},
        "allow.json": {"result": {"allow": True, "reasons": []}},
        "allow-no-reasons.json": {"result": {"allow": True}},
        "allow-null-reasons.json": {"result": {"allow": True, "reasons": None}},
        "deny-reasons.json": {"result": {"allow": False, "reasons": ["image not approved for agent a1"]}},
        "allow-bad-reasons.json": {"result": {"allow": True, "reasons": [1]}},
        "allow-reasons-object.json": {"result": {"allow": True, "reasons": {"a": "b"}}},
        "allow-string.json": {"result": {"allow": "true"}},
        "allow-one.json": {"result": {"allow": 1}},
        "result-string.json": {"result": "true"},
        "result-array.json": {"result": [True]},
        "result-null.json": {"result": None},
        "undefined.json": {},
        "decision-id.json": {"decision_id": "4ca636c1-55e4-417a-b1d8-4aceb67960d1", "result": {"allow": False, "reasons": ["no"]}},
        "metrics.json": {"result": True, "metrics": {"timer_rego_query_eval_ns": 12000}},
        "top-level-true.json": True,
        "top-level-array.json": [{"result": True}],
        "error-body.json": {"code": "internal_error", "message": "1 error occurred: policy.rego:3: eval_conflict_error"},
        "duplicate-allow.json": '{"result": {"allow": true, "allow": false}}',
        "duplicate-result.json": '{"result": false, "result": true}',
        "garbage.json": "<html><body>502 Bad Gateway</body></html>",
        "empty.json": "",
        "truncated.json": '{"result": {"allow": tr',
        "nested-deep.json": '{"result": ' + "[" * 200 + "]" * 200 + "}",
    }
    for name, data in examples.items():
        write("opa_response", name, data)


if __name__ == "__main__":
    spec_admission()
    host_config()
    exec_process()
    opa_response()
