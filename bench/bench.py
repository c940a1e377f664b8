#!/usr/bin/env python3
"""bulwark's benchmarks (issue #8): `make bench` runs this as root and it writes
docs/benchmarks.md. Python standard library only.

Phases:
  components   `cargo bench --bench components` (criterion, benches/components.rs), with
               integration/opa/opa_server.py on a Unix socket for the OPA round trip when
               the OPA bindings are installed; medians read from target/criterion.
  end-to-end   one bundle (the static probe, `/probe exit 0`), runtimes interleaved per
               iteration (bulwark, runc, bare libcontainer, bare libcontainer + sealed
               re-exec): create+start+wait+delete, and a foreground `run`. Wall time, and
               CPU time (user+sys from wait4's rusage of every runtime process and of the
               container's init, which is the runtime's own code until its execve), peak
               RSS of `create` (GNU time's %M).
  concurrency  32 and 64 containers created, started, waited for and deleted in
               parallel: failures, throughput, p50/p99 per-container latency.

Everything lives in temporary directories (state roots, bundle, bulwark's config and
audit log); every container is deleted (`delete --force` on the way out, whatever
happened). /etc is never touched: bulwark reads BULWARK_CONFIG.

Usage: bench.py --bulwark B --bare B --runc B --probe P [--opa-bindings DIR]
                [--iterations N] [--out docs/benchmarks.md] [--skip-components]
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PR_SET_CHILD_SUBREAPER = 36

# tests/common/mod.rs's TEST_CONFIG (no AppArmor on this kernel; the probe image approved).
TEST_CONFIG = """[baseline.apparmor]
allow_missing = true
[admission.images]
approved = ["localhost/bulwark-probe", "localhost/bulwark-pause"]
trust_annotation = true
cri_sandbox_image = "localhost/bulwark-pause:test"
"""


def bundle_config(args):
    """tests/common/mod.rs's default_config: runc's `spec` with limits and the probe."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": []},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "bulwark-bench",
        "annotations": {"bulwark.io/image": "localhost/bulwark-probe:test"},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "size=16m"]},
        ],
        "linux": {
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                "memory": {"limit": 134217728},
                "cpu": {"quota": 50000, "period": 100000},
                "pids": {"limit": 64},
            },
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
            },
        },
    }


class Failure(Exception):
    pass


class Runtime:
    """One runtime binary with its own state root (and env)."""

    def __init__(self, name, binary, workdir, env=None, cold_seccomp=False, bundle=None):
        self.name = name
        # A bundle of its own (runc-effective: bulwark's effective spec) instead of the
        # one every other runtime runs.
        self.bundle = bundle
        # bulwark keeps compiled seccomp programs in <root>/@seccomp (issue #20): cleared
        # before every create/run (untimed), each container pays the compile.
        self.cold_seccomp = cold_seccomp
        self.binary = str(binary)
        self.root = Path(tempfile.mkdtemp(prefix=f"root-{name}-", dir=workdir))
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.live = set()
        self.lock = threading.Lock()

    def spawn(self, *args, errfile):
        """Runs one command; returns (wall s, user+sys s). Raises on failure."""
        argv = [self.binary, "--root", str(self.root), *args]
        fd = os.open(errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            actions = [
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, fd, 2),
            ]
            started = time.perf_counter()
            pid = os.posix_spawn(self.binary, argv, self.env, file_actions=actions)
            _, status, usage = os.wait4(pid, 0)
            wall = time.perf_counter() - started
        finally:
            os.close(fd)
        if os.waitstatus_to_exitcode(status) != 0:
            err = Path(errfile).read_text(errors="replace").strip()
            raise Failure(f"{self.name} {' '.join(args)}: exit {os.waitstatus_to_exitcode(status)}: {err}")
        return wall, usage.ru_utime + usage.ru_stime

    def clear_seccomp_cache(self):
        if self.cold_seccomp:
            shutil.rmtree(self.root / "@seccomp", ignore_errors=True)

    def lifecycle(self, bundle, cid, scratch):
        """create, start, wait for init, delete. Returns a dict of measurements."""
        self.clear_seccomp_cache()
        pid_file = scratch / f"{cid}.pid"
        err = scratch / f"{cid}.err"
        with self.lock:
            self.live.add(cid)
        started = time.perf_counter()
        bundle = self.bundle or bundle
        c_wall, c_cpu = self.spawn("create", "--bundle", str(bundle), "--pid-file",
                                   str(pid_file), cid, errfile=err)
        init = int(pid_file.read_text().strip())
        s_wall, s_cpu = self.spawn("start", cid, errfile=err)
        # The harness is a child subreaper: the init, orphaned when `create` exited, is
        # ours to wait for, and its rusage is the runtime's setup inside the container.
        waited = time.perf_counter()
        _, status, usage = os.wait4(init, 0)
        w_wall = time.perf_counter() - waited
        if os.waitstatus_to_exitcode(status) != 0:
            raise Failure(f"{self.name} {cid}: init exited {os.waitstatus_to_exitcode(status)}")
        d_wall, d_cpu = self.spawn("delete", cid, errfile=err)
        total = time.perf_counter() - started
        with self.lock:
            self.live.discard(cid)
        pid_file.unlink(missing_ok=True)
        err.unlink(missing_ok=True)
        return {
            "wall": total,
            "cpu": c_cpu + s_cpu + d_cpu + usage.ru_utime + usage.ru_stime,
            "create": c_wall, "start": s_wall, "wait": w_wall, "delete": d_wall,
            "create_cpu": c_cpu, "init_cpu": usage.ru_utime + usage.ru_stime,
        }

    def run(self, bundle, cid, scratch):
        self.clear_seccomp_cache()
        err = scratch / f"{cid}.err"
        with self.lock:
            self.live.add(cid)
        wall, cpu = self.spawn("run", "--bundle", str(self.bundle or bundle), cid, errfile=err)
        with self.lock:
            self.live.discard(cid)
        err.unlink(missing_ok=True)
        return {"wall": wall, "cpu": cpu}

    def validate(self, bundle, scratch):
        """`bulwark validate`: a process that loads the config and runs admission and the
        baseline, without sealing, policy or libcontainer."""
        wall, cpu = self.spawn("validate", "--bundle", str(bundle),
                               errfile=scratch / "validate.err")
        return {"wall": wall, "cpu": cpu}

    def cleanup(self):
        for cid in sorted(self.live):
            subprocess.run([self.binary, "--root", str(self.root), "delete", "--force", cid],
                           env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        self.live.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def effective_bundle(bulwark, bundle, workdir, scratch):
    """A bundle of bulwark's effective spec for `bundle` (issue #20: what runc pays for the
    same hardening): one container created, its `<root>/@bulwark/<id>/config.json` copied,
    the container deleted. Bind sources in bulwark's private dir (the scratch mounts) are
    replaced by empty directories of the bundle's own, the cgroup path by one for runc."""
    cid = "effective-spec"
    with bulwark.lock:
        bulwark.live.add(cid)
    bulwark.spawn("create", "--bundle", str(bundle), cid, errfile=scratch / "effective.err")
    spec = json.loads((bulwark.root / "@bulwark" / cid / "config.json").read_text())
    bulwark.spawn("delete", "--force", cid, errfile=scratch / "effective.err")
    with bulwark.lock:
        bulwark.live.discard(cid)
    out = workdir / "effective-bundle"
    for i, mount in enumerate(spec.get("mounts", [])):
        if mount.get("source", "").startswith(str(bulwark.root) + "/"):
            source = out / "binds" / str(i)
            source.mkdir(parents=True)
            mount["source"] = str(source)
    spec["linux"]["cgroupsPath"] = "/bulwark-bench-runc-effective"
    out.mkdir(exist_ok=True)
    (out / "config.json").write_text(json.dumps(spec, indent=2))
    return out


def reap_strays():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def end_to_end(runtimes, bundle, scratch, iterations):
    results = {rt.name: {"lifecycle": [], "run": []} for rt in runtimes}
    # One warm-up round (page cache, cgroup parents, first-use costs), not counted.
    for rt in runtimes:
        rt.lifecycle(bundle, f"warm-{rt.name}", scratch)
        rt.run(bundle, f"warmrun-{rt.name}", scratch)
    for i in range(iterations):
        for rt in runtimes:
            results[rt.name]["lifecycle"].append(rt.lifecycle(bundle, f"e2e-{i}", scratch))
            reap_strays()
        for rt in runtimes:
            results[rt.name]["run"].append(rt.run(bundle, f"run-{i}", scratch))
            reap_strays()
        results["bulwark"].setdefault("validate", []).append(
            runtimes[0].validate(bundle, scratch))
    return results


# Where one `bulwark run`'s wall time goes (issue #20): each step ends at the first
# debug-log line that contains its marker, bulwark's own or libcontainer 0.7's.
STEPS = [
    ("start, sealed re-exec, config, admission and baseline", "baseline rewrite"),
    ("policy decision, audit record, secrets' tmpfs", "secrets delivered"),
    ("binds and scratch staged, seccomp filter, effective spec, record, cgroup claim, "
     "attach warm-up reaped",
     "creating container from the effective spec"),
    ("libcontainer: state, cgroup paths, intermediate forked and moved into the cgroup",
     "unshare or setns"),
    ("the init: namespaces, mounts, capabilities, seccomp, ready", "init pid is"),
    ("start; the container runs and exits", "container status: Stopped"),
]
LOG_TIME = re.compile(r'^time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)Z"')


def log_time(line):
    m = LOG_TIME.match(line)
    if not m:
        return None
    whole = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
    return whole.timestamp() + int(m.group(2)) / 10 ** len(m.group(2))


def steps(rt, bundle, scratch, iterations):
    """`bulwark --debug --log F run`, `iterations` times: each step's duration (s), from
    the log lines' times, and the process's whole wall time."""
    durations = {label: [] for label, _ in STEPS}
    durations["delete and exit"] = []
    walls, skipped = [], 0
    for i in range(iterations):
        log = scratch / f"steps-{i}.log"
        started = time.time()
        wall, _ = rt.spawn("--debug", "--log", str(log), "run", "--bundle", str(bundle),
                           f"steps-{i}", errfile=scratch / "steps.err")
        lines = log.read_text(errors="replace").splitlines()
        log.unlink()
        ends = []
        for _, marker in STEPS:
            end = next((log_time(line) for line in lines if marker in line), None)
            if end is None:
                break
            ends.append(end)
        if len(ends) != len(STEPS):
            skipped += 1
            continue
        previous = started
        for (label, _), end in zip(STEPS, ends):
            durations[label].append(end - previous)
            previous = end
        durations["delete and exit"].append(started + wall - previous)
        walls.append(wall)
    return {"durations": durations, "walls": walls, "skipped": skipped}


RSS_SAMPLES = 10


def peak_rss(runtimes, bundle, scratch):
    """`create`'s peak RSS (KiB) per runtime, RSS_SAMPLES times each, interleaved, from GNU
    time's `%M`; None without /usr/bin/time. Not `wait4`'s `ru_maxrss` of a process this
    harness spawns: Linux keeps a process's high-water RSS across execve, so that one
    starts from the harness's own (about 18 MiB of Python); time's few MiB are the floor
    here instead."""
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    peaks = {rt.name: [] for rt in runtimes}
    for i in range(RSS_SAMPLES):
        for rt in runtimes:
            rt.clear_seccomp_cache()
            cid = f"rss-{i}"
            out = scratch / f"{cid}.rss"
            with rt.lock:
                rt.live.add(cid)
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(out), rt.binary, "--root",
                            str(rt.root), "create", "--bundle", str(rt.bundle or bundle), cid],
                           env=rt.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            peaks[rt.name].append(int(out.read_text().split()[-1]))
            out.unlink()
            rt.spawn("delete", "--force", cid, errfile=scratch / f"{cid}.err")
            with rt.lock:
                rt.live.discard(cid)
            reap_strays()
    return peaks


def concurrency(rt, bundle, scratch, n):
    barrier = threading.Barrier(n)
    latencies, failures = [], []
    lock = threading.Lock()

    def one(k):
        cid = f"par{n}-{k}"
        barrier.wait()
        try:
            r = rt.lifecycle(bundle, cid, scratch)
            with lock:
                latencies.append(r["wall"])
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            with lock:
                failures.append(str(e)[:300])

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for cid in list(rt.live):
        subprocess.run([rt.binary, "--root", str(rt.root), "delete", "--force", cid],
                       env=rt.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        rt.live.discard(cid)
    reap_strays()
    return {
        "n": n, "failures": failures, "elapsed": elapsed,
        "throughput": len(latencies) / elapsed if elapsed else 0.0,
        "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
    }


# ---------------------------------------------------------------- components (criterion)

def start_opa(bindings, workdir, mode="normal"):
    """opa_server.py on a socket in workdir; (process, socket) or (None, why)."""
    if not bindings or not (Path(bindings) / "opa_bindings").is_dir():
        return None, f"the OPA bindings are not installed in {bindings} (make opa)"
    socket = Path(workdir) / f"opa-{mode}.sock"
    ready = Path(workdir) / f"opa-{mode}.ready"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "integration/opa/opa_server.py"), "--socket", str(socket),
         "--ready-file", str(ready), "--bindings", str(bindings), "--mode", mode, "--quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            err = proc.stderr.read().decode(errors="replace")[-500:]
            return None, f"opa_server.py did not start: {err.strip()}"
        time.sleep(0.05)
    return proc, socket


def components(bindings, workdir):
    criterion_dir = REPO / "target/criterion"
    shutil.rmtree(criterion_dir, ignore_errors=True)
    opa, socket_or_note = start_opa(bindings, workdir)
    deny, deny_socket = start_opa(bindings, workdir, "deny") if opa else (None, None)
    env = dict(os.environ)
    notes = []
    if opa:
        env["BULWARK_BENCH_OPA_SOCKET"] = str(socket_or_note)
    else:
        notes.append(f"policy/opa skipped: {socket_or_note}")
    if deny:
        env["BULWARK_BENCH_OPA_DENY_SOCKET"] = str(deny_socket)
    cmd = ["cargo", "bench", "--locked", "-p", "bulwark", "--bench", "components"]
    try:
        done = subprocess.run(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, check=False)
    finally:
        for server in (opa, deny):
            if server:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()
    sys.stderr.write(done.stderr[-3000:])
    if done.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    notes += [line.removeprefix("note: ") for line in done.stderr.splitlines()
              if line.startswith("note: ")]
    results = {}
    for estimates in criterion_dir.glob("*/*/new/estimates.json"):
        bench = estimates.parent.parent
        data = json.loads(estimates.read_text())
        sample = json.loads((estimates.parent / "sample.json").read_text())
        per_iter = [t / n for t, n in zip(sample["times"], sample["iters"])]
        results[f"{bench.parent.name}/{bench.name}"] = {
            "median_ns": data["median"]["point_estimate"],
            "lo_ns": data["median"]["confidence_interval"]["lower_bound"],
            "hi_ns": data["median"]["confidence_interval"]["upper_bound"],
            "p99_ns": percentile(per_iter, 99),
        }
    return results, notes, " ".join(cmd)


# ---------------------------------------------------------------- report

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL).stdout.strip()
    except OSError:
        return "?"


def machine_info(binaries):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    cgroup = "v2 (unified)" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "kernel": platform.release(),
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "memory": f"{int(mem) // 1024} MiB",
        "cgroups": cgroup,
        "os": sh(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "rustc": sh(["rustc", "--version"]),
        "runc": sh([binaries["runc"], "--version"]).splitlines()[0] if binaries["runc"] else "?",
        "bulwark": sh([binaries["bulwark"], "--version"]),
    }
    for name, path in binaries.items():
        try:
            info[f"size {name}"] = f"{os.path.getsize(path) / 1e6:.1f} MB"
        except OSError:
            pass
    return info


def ms(s):
    return f"{s * 1000:.1f}"


def us_from_ns(ns):
    return f"{ns / 1000:.1f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "n/a"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def write_report(out, info, load_before, load_after, iterations, e2e, par, timeline, rss,
                 comp, notes, comp_cmd, argv, elapsed, before=None):
    L = []
    add = L.append
    add("# Benchmarks")
    add("")
    add("What bulwark's hardening costs, against Debian's runc and bare libcontainer 0.7 "
        "(issue #8). Generated by `make bench` (`bench/bench.py`); do not edit by hand.")
    add("")
    add(f"> **Noisy numbers.** Measured on a shared 2-core development host while other developers "
        f"were building and testing on it: load average {load_before} before the run, "
        f"{load_after} after. Compare the ratios (all runtimes were measured interleaved, "
        f"so drift hits them alike) rather than the absolute times, and re-run on an idle "
        f"machine before quoting them.")
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    for k, v in info.items():
        add(f"| {k} | {v} |")
    add(f"| load average (1, 5, 15 min) | before: {load_before}; after: {load_after} |")
    add(f"| bench wall time | {elapsed:.0f} s |")
    add("")
    add("## How to reproduce")
    add("")
    add("```sh")
    add("make bench            # as root: builds bulwark, the probe, bare-libcontainer, the OPA")
    add("                      # bindings; runs everything below; writes docs/benchmarks.md")
    add(f"python3 {' '.join(argv)}")
    add(f"{comp_cmd}   # components only (BULWARK_BENCH_OPA_SOCKET=... for OPA)")
    add("```")
    add("")
    add("The runtimes compared:")
    add("")
    add("- **bulwark**: `target/release/bulwark`, the full pipeline (sealed memfd re-exec, config, "
        "admission, baseline, embedded Rego decision, audit record, effective spec, hardened "
        "executor), `BULWARK_CONFIG` = the tests' `TEST_CONFIG` plus `[audit] path` in a temp dir.")
    add("- **bulwark-cold**: the same binary with its seccomp cache (`<root>/@seccomp`, issue #20) "
        "removed before every create and `run` (untimed): each container compiles the profile. "
        "**bulwark** keeps its cache, warm after the warm-up round.")
    if "bulwark-before" in e2e:
        add(f"- **bulwark-before**: `{before}`, the build compared against (see the analysis "
            "below for what it lacks), same config.")
    add("- **runc**: Debian's `/usr/sbin/runc`.")
    add("- **runc-effective**: the same runc on bulwark's effective spec of the bundle (one "
        "`bulwark create`'s `<root>/@bulwark/<id>/config.json`: baseline seccomp profile, masks, "
        "capabilities, scratch mounts as empty directories): what runc pays for the same hardening.")
    add("- **bare**: `target/release/bare-libcontainer` (`bench/bare-libcontainer/`): libcontainer 0.7 "
        "with bulwark's cargo features and nothing else; runs the bundle as it is.")
    add("- **bare+sealed**: the same with `BARE_SEALED=1`: it first re-executes from a sealed memfd "
        "copy (`pentacle::ensure_sealed`), as bulwark does; bare+sealed − bare is that step's cost.")
    add("")

    names = list(e2e)
    b = e2e["bulwark"]
    add(f"## End to end ({iterations} iterations, interleaved)")
    add("")
    add("One bundle (the static probe, `/probe exit 0`, tests/common's spec), each iteration runs "
        "every runtime in turn (" + ", ".join(names) + "), first create → start → wait for "
        "the init → delete, then a foreground `run`. CPU is user+sys from `wait4` rusage of every "
        "runtime process (with the children they reaped) and of the container's init (the "
        "runtime's in-container setup until execve). Peak RSS is `create`'s, under GNU time "
        f"(`%M`, {RSS_SAMPLES} creates per runtime after everything else; `ru_maxrss` of a process "
        "this harness spawns would start from the harness's own RSS, which Linux keeps across "
        "execve). Medians. "
        "Every runtime's state root is on a tmpfs, as `/run` is on a host (bulwark fsyncs its state "
        "files, runc does not; before 2026-12-03 07:20 the roots were on this host's ext4 `/tmp`).")
    add("")
    add("| runtime | lifecycle wall ms | lifecycle CPU ms | create ms | start ms | wait ms | delete ms | `run` wall ms | `run` CPU ms | create peak RSS MiB |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        lc, rn = e2e[name]["lifecycle"], e2e[name]["run"]
        peak = f"{median(rss[name]) / 1024:.1f}" if rss else "—"
        add(f"| {name} | {ms(median([r['wall'] for r in lc]))} | {ms(median([r['cpu'] for r in lc]))} | "
            f"{ms(median([r['create'] for r in lc]))} | {ms(median([r['start'] for r in lc]))} | "
            f"{ms(median([r['wait'] for r in lc]))} | {ms(median([r['delete'] for r in lc]))} | "
            f"{ms(median([r['wall'] for r in rn]))} | {ms(median([r['cpu'] for r in rn]))} | "
            f"{peak} |")
    v = e2e["bulwark"].get("validate", [])
    if v:
        add("")
        add(f"`bulwark validate --bundle` in the same iterations (a process that loads the config and "
            f"runs admission and the baseline; no sealed re-exec, policy, audit or libcontainer): "
            f"median wall {ms(median([r['wall'] for r in v]))} ms, CPU {ms(median([r['cpu'] for r in v]))} ms.")
    add("")

    def med(name, kind, key):
        return median([r[key] for r in e2e[name][kind]])

    add("Ratios of medians:")
    add("")
    add("| | lifecycle wall | lifecycle CPU | `run` wall | `run` CPU |")
    add("|---|---|---|---|---|")
    for other in [n for n in names if n != "bulwark"]:
        add(f"| bulwark / {other} | {ratio(med('bulwark', 'lifecycle', 'wall'), med(other, 'lifecycle', 'wall'))} | "
            f"{ratio(med('bulwark', 'lifecycle', 'cpu'), med(other, 'lifecycle', 'cpu'))} | "
            f"{ratio(med('bulwark', 'run', 'wall'), med(other, 'run', 'wall'))} | "
            f"{ratio(med('bulwark', 'run', 'cpu'), med(other, 'run', 'cpu'))} |")
    add("")

    add("## Concurrency")
    add("")
    add("N containers, each created, started, waited for and deleted, all N at once (threads "
        "released together). Latency is one container's whole lifecycle.")
    add("")
    add("| runtime | N | failures | elapsed s | throughput containers/s | p50 latency ms | p99 latency ms |")
    add("|---|---|---|---|---|---|---|")
    for name, rows in par.items():
        for r in rows:
            add(f"| {name} | {r['n']} | {len(r['failures'])} | {r['elapsed']:.2f} | "
                f"{r['throughput']:.1f} | {ms(r['p50'])} | {ms(r['p99'])} |")
    failures = [(name, r['n'], f) for name, rows in par.items() for r in rows for f in r['failures']]
    if failures:
        add("")
        add("Failures (first 10):")
        add("")
        for name, n, f in failures[:10]:
            add(f"- {name} at {n}: `{f}`")
    add("")

    add("## Where a `run`'s time goes")
    add("")
    add(f"`bulwark --debug --log F run` of the same bundle, {len(timeline['walls'])} times after the "
        "runs above: each step ends at the first log line naming it (bulwark's, or libcontainer "
        "0.7's for its own steps), the last at the process's exit. Debug logging adds its own "
        "cost: compare the total with the `run` median above."
        + (f" {timeline['skipped']} runs lacked a step's line and are left out." if timeline["skipped"] else ""))
    add("")
    add("| step | ends at the log line | median ms |")
    add("|---|---|---|")
    markers = dict(STEPS)
    for label, values in timeline["durations"].items():
        marker = f"`{markers[label]}`" if label in markers else "exit"
        add(f"| {label} | {marker} | {ms(median(values))} |")
    add(f"| total (median of the whole runs) | | {ms(median(timeline['walls']))} |")
    add("")

    add("## Components (criterion, in-process)")
    add("")
    add("`benches/components.rs` through the `bulwark` library (see \"Design\" below). Median per "
        "call with criterion's 95% confidence interval of the median, and the 99th percentile "
        "of criterion's samples.")
    add("")
    add("| benchmark | median µs | 95% CI µs | p99 µs | what |")
    add("|---|---|---|---|---|")
    what = {
        "admission_baseline/podman": "`pipeline::effective_spec` on admitted--podman-default.json: read, admission (every rule, image from containers/storage), paths, baseline",
        "admission_baseline/cri": "the same on admitted--cri-container.json (joins a stand-in pod's namespaces)",
        "policy/embedded": "`policy::decide`, default config (embedded Rego, regorus) on the Podman spec's input",
        "policy/regorus_compile": "of which: a fresh regorus engine with policies/*.rego and data.json loaded",
        "policy/regorus_eval_only": "of which: analysing the modules and evaluating `data.bulwark.decision` on a parsed engine",
        "policy/load": "`PolicySet::load`: parse and analyse (everything a decision costs that does not depend on the input)",
        "policy/evaluate_loaded": "`Loaded::evaluate` on a loaded engine: the decision's part left on create's path when the loading overlapped",
        "policy/opa": "`policy::decide` with backend `opa`: HTTP over the Unix socket to opa_server.py (real OPA 1.20 evaluator)",
        "policy/opa_transport": "of which: the same round trip to opa_server.py `--mode deny`, which answers without evaluating (bulwark's client + Python's HTTP server)",
        "pipeline/podman": "all of create's pre-libcontainer work: effective spec + policy input + embedded decision + audit append",
        "distroless/10_files": "admission of the Podman spec, rootfs of 10 files",
        "distroless/20000_files": "the same, rootfs of 20,000 files",
        "distroless/off": "the same (20,000 files) with `forbidden_paths = []`: admission without the distroless rule",
        "image_reference/parse": "one image reference parsed and normalised by `image_reference` (replaced oci-spec's regex parser, which cost 45-70 ms per process)",
        "secrets/plan": "the pipeline (as `admission_baseline`) on a spec asking for four secrets: sources opened and checked, names planned",
        "secrets/deliver": "the four secrets delivered: tmpfs mounted, files written 0400, remounted read-only, then unmounted and removed",
        "audit/append": "one audit record (Podman spec's context, baseline changes, policy outcome) appended",
    }
    for key in what:
        if key in comp:
            c = comp[key]
            add(f"| `{key}` | {us_from_ns(c['median_ns'])} | {us_from_ns(c['lo_ns'])}–{us_from_ns(c['hi_ns'])} | "
                f"{us_from_ns(c['p99_ns'])} | {what[key]} |")
        else:
            add(f"| `{key}` | — | | | not measured (see notes) |")
    for note in notes:
        add(f"\nNote: {note}")
    add("")

    # Targets.
    add("## Targets")
    add("")
    add("| target | measured | verdict |")
    add("|---|---|---|")
    bw, rw, bare = med("bulwark", "lifecycle", "wall"), med("runc", "lifecycle", "wall"), med("bare", "lifecycle", "wall")
    add(f"| end to end ≤ runc's median wall (lifecycle) | bulwark {ms(bw)} ms vs runc {ms(rw)} ms ({(bw / rw - 1) * 100:+.0f}%) | {verdict(bw <= rw)} |")
    brun, rrun = med("bulwark", "run", "wall"), med("runc", "run", "wall")
    add(f"| end to end ≤ runc's median wall (`run`) | bulwark {ms(brun)} ms vs runc {ms(rrun)} ms ({(brun / rrun - 1) * 100:+.0f}%) | {verdict(brun <= rrun)} |")
    gap = bw - bare
    add(f"| within 5% or 2 ms of bare libcontainer (lifecycle) | +{ms(gap)} ms ({(bw / bare - 1) * 100:+.0f}%) | {verdict(gap <= max(0.002, 0.05 * bare))} |")
    barerun = med("bare", "run", "wall")
    gaprun = brun - barerun
    add(f"| within 5% or 2 ms of bare libcontainer (`run`) | +{ms(gaprun)} ms ({(brun / barerun - 1) * 100:+.0f}%) | {verdict(gaprun <= max(0.002, 0.05 * barerun))} |")
    if "pipeline/podman" in comp:
        p = comp["pipeline/podman"]["median_ns"] / 1e6
        add(f"| policy pipeline ≤ 1 ms (admission + baseline + decision + audit) | {p:.2f} ms | {verdict(p <= 1)} |")
    if "runc-effective" in e2e:
        for kind, label in (("lifecycle", "lifecycle"), ("run", "`run`")):
            bx, rx = med("bulwark", kind, "wall"), med("runc-effective", kind, "wall")
            add(f"| ≤ 0.7× runc on bulwark's effective spec ({label}, issue #20) | bulwark {ms(bx)} ms vs "
                f"runc-effective {ms(rx)} ms ({bx / rx:.2f}×) | {verdict(bx <= 0.7 * rx)} |")
    if "policy/embedded" in comp:
        p = comp["policy/embedded"]["median_ns"] / 1e6
        add(f"| embedded decision alone ≤ 0.5 ms (issue #20) | {p:.2f} ms | {verdict(p <= 0.5)} |")
    if "policy/evaluate_loaded" in comp:
        p = comp["policy/evaluate_loaded"]["median_ns"] / 1e6
        add(f"| of it on create's path once the loading overlapped ≤ 0.5 ms | {p:.2f} ms (CPU unchanged) | {verdict(p <= 0.5)} |")
    if "policy/opa" in comp:
        p = comp["policy/opa"]["median_ns"] / 1e6
        add(f"| OPA round trip ≤ 2 ms median | {p:.2f} ms | {verdict(p <= 2)} |")
    else:
        add("| OPA round trip ≤ 2 ms median | not measured | — |")
    if "distroless/10_files" in comp and "distroless/20000_files" in comp:
        s, l = comp["distroless/10_files"]["median_ns"], comp["distroless/20000_files"]["median_ns"]
        add(f"| distroless probe does not grow with image size | 10 files {us_from_ns(s)} µs, 20,000 files {us_from_ns(l)} µs ({l / s:.2f}×) | {verdict(l <= s * 1.25)} |")
    if rss:
        b, r = median(rss["bulwark"]), median(rss["runc"])
        add(f"| `create`'s peak RSS ≤ runc's (issue #20) | bulwark {b / 1024:.1f} MiB vs runc {r / 1024:.1f} MiB | {verdict(b <= r)} |")
    else:
        add("| `create`'s peak RSS ≤ runc's (issue #20) | not measured (no /usr/bin/time) | — |")
    zero = all(len(r["failures"]) == 0 for rows in par.values() for r in rows if r["n"] == 64)
    add(f"| zero failures at 64 parallel | " + ", ".join(
        f"{name}: {len(r['failures'])}" for name, rows in par.items() for r in rows if r["n"] == 64) +
        f" | {verdict(zero)} |")
    add("")
    add("<!-- ANALYSIS -->")
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(L) + "\n"
    # Keep the hand-written analysis section (below the marker) of the previous report.
    if out.exists():
        old = out.read_text()
        marker = "<!-- ANALYSIS -->"
        if marker in old:
            text = text.replace(marker + "\n", marker + old.split(marker, 1)[1], 1)
    out.write_text(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bulwark", default=str(REPO / "target/release/bulwark"))
    ap.add_argument("--bare", default=str(REPO / "target/release/bare-libcontainer"))
    ap.add_argument("--runc", default="/usr/sbin/runc")
    ap.add_argument("--probe", default=str(REPO / "target/x86_64-unknown-linux-gnu/release/bulwark-probe"))
    ap.add_argument("--opa-bindings", default=str(REPO / "target/opa-bindings"))
    ap.add_argument("--iterations", type=int, default=int(os.environ.get("BENCH_ITERATIONS", "100")))
    ap.add_argument("--parallel", default="32,64")
    ap.add_argument("--out", default=str(REPO / "docs/benchmarks.md"))
    ap.add_argument("--skip-components", action="store_true")
    ap.add_argument("--bulwark-before", help="another bulwark build to compare (e.g. main's)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py: run as root (containers)")
    for path in (args.bulwark, args.bare, args.runc, args.probe):
        if not os.access(path, os.X_OK):
            sys.exit(f"bench.py: {path} is missing (make bench builds it)")

    started = time.monotonic()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    workdir = Path(tempfile.mkdtemp(prefix="bulwark-bench-"))
    runtimes = []
    helper = None
    roots = None
    try:
        comp, notes, comp_cmd = ({}, ["components skipped (--skip-components)"], "") \
            if args.skip_components else components(args.opa_bindings, workdir)
        print(f"components: {len(comp)} benchmarks", file=sys.stderr)

        bundle = workdir / "bundle"
        rootfs = bundle / "rootfs"
        for sub in ("proc", "dev", "sys", "tmp", "etc"):
            (rootfs / sub).mkdir(parents=True)
        shutil.copy(args.probe, rootfs / "probe")
        (bundle / "config.json").write_text(json.dumps(bundle_config(["/probe", "exit", "0"]), indent=2))
        config = workdir / "bulwark.toml"
        config.write_text(TEST_CONFIG + f"\n[audit]\npath = {json.dumps(str(workdir / 'audit.jsonl'))}\n")
        scratch = workdir / "scratch"
        scratch.mkdir()

        bulwark_env = {"BULWARK_CONFIG": str(config)}
        # Every runtime's state root on a tmpfs, as /run (runc's, containerd's and
        # bulwark's default roots) is on a host: bulwark fsyncs its state files
        # (atomic_file) and runc does not, which on this host's ext4 cost bulwark
        # 7-21 ms per fsync under load and is free on a tmpfs (issue #20).
        roots = workdir / "roots"
        roots.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=256m", "tmpfs", str(roots)],
                       check=True)
        # Creates (and deletes) the container whose effective spec runc-effective runs.
        helper = Runtime("effective", args.bulwark, roots, bulwark_env)
        runtimes = [
            Runtime("bulwark", args.bulwark, roots, bulwark_env),
            Runtime("bulwark-cold", args.bulwark, roots, bulwark_env, cold_seccomp=True),
            *([Runtime("bulwark-before", args.bulwark_before, roots, bulwark_env)]
              if args.bulwark_before else []),
            Runtime("runc", args.runc, roots),
            Runtime("runc-effective", args.runc, roots,
                    bundle=effective_bundle(helper, bundle, workdir, scratch)),
            Runtime("bare", args.bare, roots),
            Runtime("bare+sealed", args.bare, roots, {"BARE_SEALED": "1"}),
        ]
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            sys.exit("bench.py: prctl(PR_SET_CHILD_SUBREAPER) failed")

        e2e = end_to_end(runtimes, bundle, scratch, args.iterations)
        print("end to end done", file=sys.stderr)
        par = {}
        for rt in [r for r in runtimes if r.name in ("bulwark", "runc", "bare")]:
            par[rt.name] = [concurrency(rt, bundle, scratch, int(n)) for n in args.parallel.split(",")]
        print("concurrency done", file=sys.stderr)
        timeline = steps(runtimes[0], bundle, scratch, args.iterations)
        print("steps done", file=sys.stderr)
        rss = peak_rss(runtimes, bundle, scratch)
        print("peak RSS done", file=sys.stderr)
        audit_lines = len((workdir / "audit.jsonl").read_text().splitlines())
        bulwarks = sum(1 for rt in runtimes if rt.name.startswith("bulwark"))
        # + 1: the effective spec's create.
        expected = (bulwarks * (2 + 2 * args.iterations) + sum(int(n) for n in args.parallel.split(","))
                    + 1 + args.iterations + (bulwarks * RSS_SAMPLES if rss is not None else 0))
        if audit_lines != expected:
            notes.append(f"audit log has {audit_lines} records, expected {expected}")

        load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        info = machine_info({"bulwark": args.bulwark, "runc": args.runc, "bare-libcontainer": args.bare})
        write_report(Path(args.out), info, load_before, load_after, args.iterations, e2e, par,
                     timeline, rss, comp, notes, comp_cmd, sys.argv, time.monotonic() - started,
                     args.bulwark_before)
        print(f"wrote {args.out} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    finally:
        for rt in runtimes + ([helper] if helper else []):
            rt.cleanup()
        reap_strays()
        if roots is not None:
            subprocess.run(["umount", str(roots)], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
