#!/usr/bin/env python3
"""An OPA REST Data API server on a Unix socket, backed by the real OPA evaluator
(OPA 1.20's Go library through opa-golib-python-bindings) with bulwark's policies/ and
policies/data.json loaded, as `opa run --server --addr unix://PATH policies/` would serve
them. Standing in for the `opa` binary, which Debian 12 does not ship.

  POST /v1/data/<path>?strict-builtin-errors=true  {"input": ...}
                                         -> 200 {"result": ...}, or 200 {} when undefined
                                            (400 without strict-builtin-errors=true)
  GET  /v1/data/<path>                   -> the same without input
  GET  /health                           -> 200 {} (in every mode)
  malformed body                         -> 400 {"code": "invalid_parameter", "message": ...}
  evaluation error                       -> 500 {"code": "internal_error", "message": ...}

Fault modes (--mode), applied to /v1/data requests after the body has been read:
  normal     evaluate the policy
  status400  400 {"code": "invalid_parameter", ...}
  status500  500 {"code": "internal_error", ...}
  slow       sleep --delay seconds, then evaluate
  garbage    200 with a body that is not JSON (Content-Type still application/json)
  oversized  200 with a valid JSON body of --oversize-bytes (default 8 MiB) whose result is
             {"allow": true, "reasons": []}: a client that does not cap what it reads allows
  undefined  200 {} (no result: the decision is undefined)
  deny       200 {"result": {"allow": false, "reasons": ["denied by test server"]}}
  reasons-string      200 {"result": {"allow": false, "reasons": "denied as a string"}}
  allow-string        200 {"result": {"allow": "false"}}
  null-result         200 {"result": null}
  allow-with-reasons  200 {"result": {"allow": true, "reasons": ["conflicting reason"]}}
             (well-formed answers that are no clean allow: each must be a denial)
  hangup     close the connection without answering

Usage: opa_server.py --socket PATH [--mode MODE] [--delay S] [--ready-file PATH]
                     [--policies DIR] [--data FILE] [--bindings DIR] [--quiet]
The socket is created mode 0600 (a stale socket at PATH is replaced). The ready file is
written (atomically, holding the server's pid) once the socket is listening, and removed
with the socket on SIGTERM/SIGINT.
"""

import argparse
import http.server
import json
import os
import re
import signal
import socketserver
import stat
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in the work tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bulwark_opa  # noqa: E402

# Fixed answers, by mode: each is a 200 OPA could give for a policy that went wrong.
FIXED_RESULTS = {
    "deny": {"allow": False, "reasons": ["denied by test server"]},
    "reasons-string": {"allow": False, "reasons": "denied as a string"},
    "allow-string": {"allow": "false"},
    "null-result": None,
    "allow-with-reasons": {"allow": True, "reasons": ["conflicting reason"]},
}
MODES = ("normal", "status400", "status500", "slow", "garbage", "oversized", "undefined", "hangup") + tuple(FIXED_RESULTS)
MAX_BODY = 16 << 20
SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, path, handler, *, engine, opa, mode, delay, oversize_bytes, quiet):
        self.engine = engine
        self.opa = opa
        self.mode = mode
        self.delay = delay
        self.quiet = quiet
        self.oversized_body = oversized(oversize_bytes) if mode == "oversized" else b""
        super().__init__(path, handler)

    def server_bind(self):
        # Never create the socket with looser permissions, even for an instant.
        old = os.umask(0o177)
        try:
            super().server_bind()
        finally:
            os.umask(old)
        os.chmod(self.server_address, 0o600)


def oversized(size):
    head = b'{"result":{"allow":true,"reasons":[]},"padding":"'
    tail = b'"}'
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bulwark-opa-test-server/1"
    timeout = 60  # idle keep-alive connections and stalled bodies

    # -- plumbing ------------------------------------------------------------------

    def address_string(self):
        return "unix"  # client_address is "" for AF_UNIX; the default indexes it

    def log_message(self, format, *args):
        if not self.server.quiet:
            sys.stderr.write(f"opa_server: {format % args}\n")

    def send_body(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, doc):
        self.send_body(status, json.dumps(doc).encode() + b"\n")

    def send_error_doc(self, status, code, message):
        self.send_json(status, {"code": code, "message": message})

    # -- routes --------------------------------------------------------------------

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.send_json(200, {})
        elif path == "/v1/data" or path.startswith("/v1/data/"):
            self.data(path, read_body=False)
        else:
            self.send_error_doc(404, "resource_not_found", f"{path} not found")

    def do_POST(self):
        path, _, query = self.path.partition("?")
        if (path == "/v1/data" or path.startswith("/v1/data/")) and "strict-builtin-errors=true" not in query.split("&"):
            # bulwark must ask OPA to fail on a builtin error (a wrong type in policy data)
            # rather than to treat it as undefined, which can turn into an allow.
            self.read_body()
            self.send_error_doc(400, "invalid_parameter", "test server: query without strict-builtin-errors=true")
        elif path == "/v1/data" or path.startswith("/v1/data/"):
            self.data(path, read_body=True)
        else:
            self.read_body()  # keep the connection in step
            self.send_error_doc(404, "resource_not_found", f"{path} not found")

    def do_PUT(self):
        self.read_body()
        self.send_error_doc(405, "method_not_allowed", "this test server only evaluates policies")

    do_PATCH = do_DELETE = do_PUT

    def read_body(self):
        """The request body, or None when it was refused (the answer is sent)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self.send_error_doc(411, "invalid_parameter", "send a Content-Length, not Transfer-Encoding")
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            self.send_error_doc(400, "invalid_parameter", "bad Content-Length")
            return None
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self.send_error_doc(413, "invalid_parameter", f"body larger than {MAX_BODY} bytes")
            return None
        return self.rfile.read(length) if length else b""

    def data(self, path, read_body):
        body = b""
        if read_body:
            body = self.read_body()
            if body is None:
                return
        segments = [s for s in path[len("/v1/data"):].split("/") if s]
        bad = [s for s in segments if not SEGMENT.match(s)]
        if bad:
            self.send_error_doc(400, "invalid_parameter", f"unsupported path segment {bad[0]!r}")
            return
        # OPA's Data API: an empty body means no input; otherwise {"input": ...}.
        inp = None
        if body.strip():
            try:
                doc = json.loads(body)
            except ValueError as e:
                self.send_error_doc(400, "invalid_parameter", f"body contains malformed input document: {e}")
                return
            if not isinstance(doc, dict):
                self.send_error_doc(400, "invalid_parameter", "body must be a JSON object {\"input\": ...}")
                return
            inp = doc.get("input")

        mode = self.server.mode
        if mode == "status400":
            self.send_error_doc(400, "invalid_parameter", "test server: status400 mode")
        elif mode == "status500":
            self.send_error_doc(500, "internal_error", "test server: status500 mode")
        elif mode == "garbage":
            self.send_body(200, b"<html>this is not JSON {\"result\": \n")
        elif mode == "oversized":
            self.send_body(200, self.server.oversized_body)
        elif mode == "undefined":
            self.send_json(200, {})
        elif mode in FIXED_RESULTS:
            self.send_json(200, {"result": FIXED_RESULTS[mode]})
        elif mode == "hangup":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
        else:
            if mode == "slow":
                time.sleep(self.server.delay)
            self.evaluate(".".join(segments), inp)

    def evaluate(self, dotted, inp):
        opa = self.server.opa
        try:
            result = self.server.engine.eval_document(dotted, inp)
        except opa.OpaUndefinedError:
            self.send_json(200, {})
            return
        except opa.OpaError as e:
            self.send_error_doc(500, "internal_error", str(e))
            return
        self.send_json(200, {"result": result})


def prepare_socket_path(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        sys.exit(f"opa_server: {path} exists and is not a socket")
    os.unlink(path)


def write_ready(path):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True, help="Unix socket path to listen on (mode 0600)")
    ap.add_argument("--mode", choices=MODES, default="normal")
    ap.add_argument("--delay", type=float, default=10.0, help="seconds to sleep in slow mode")
    ap.add_argument("--oversize-bytes", type=int, default=8 << 20, help="body size in oversized mode")
    ap.add_argument("--ready-file", help="written once the socket is listening")
    ap.add_argument("--policies", default=str(bulwark_opa.DEFAULT_POLICIES))
    ap.add_argument("--data", help="data file (default: POLICIES/data.json)")
    ap.add_argument("--bindings", help="directory install.sh installed into")
    ap.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = ap.parse_args()

    opa = bulwark_opa.import_bindings(args.bindings)
    try:
        engine = bulwark_opa.load_engine(opa, args.policies, args.data)
    except opa.OpaError as e:
        sys.exit(f"opa_server: cannot load policies: {e}")

    prepare_socket_path(args.socket)
    server = Server(
        args.socket, Handler, engine=engine, opa=opa, mode=args.mode, delay=args.delay,
        oversize_bytes=args.oversize_bytes, quiet=args.quiet,
    )

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if args.ready_file:
            write_ready(args.ready_file)
        if not args.quiet:
            print(f"opa_server: listening on {args.socket} (mode {args.mode})", file=sys.stderr, flush=True)
        server.serve_forever()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
        # A signal is how a test stops the server: that is a clean exit.
        return 0 if code in (128 + signal.SIGTERM, 128 + signal.SIGINT) else code
    finally:
        server.server_close()
        for p in (args.socket, args.ready_file):
            if p:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
