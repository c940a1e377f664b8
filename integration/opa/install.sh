#!/usr/bin/env bash
# Installs the real OPA evaluator for bulwark's policy tests into DIR (default:
# target/opa-bindings in this repository), idempotently:
#   - opa-golib-python-bindings: OPA 1.20's Go library (github.com/open-policy-agent/opa/v1/rego)
#     as a c-shared libopabridge.so with a ctypes wrapper (`import opa_bindings`). It declares
#     Python >= 3.14 but runs on 3.11, hence --ignore-requires-python; the wheel is pinned
#     by version and sha256.
#   - jsonschema, to check policies/cases/*.json against policies/input.schema.json.
# Use: PYTHONPATH=DIR python3 integration/opa/run_policy_tests.py (the scripts also take
# --bindings DIR, or OPA_BINDINGS_DIR).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:-$repo/target/opa-bindings}"
python="${PYTHON:-python3}"

OPA_BINDINGS_VERSION=0.4.4
OPA_BINDINGS_SHA256=d411c901e14b8c7c3023e23e4a944f4cf429c1d31baf80e959e57d11efbfd24a
JSONSCHEMA_VERSION=4.26.0

have() {
	PYTHONPATH="$dir" "$python" - "$@" <<'PY' >/dev/null 2>&1
import importlib.metadata as m, sys
dist, version = sys.argv[1], sys.argv[2]
sys.exit(0 if m.version(dist) == version else 1)
PY
}

mkdir -p "$dir"

if ! "$python" -m pip --version >/dev/null 2>&1; then
	echo "install.sh: pip is missing for $python; installing python3-pip" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
fi

pip_install() {
	"$python" -m pip install --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
		--upgrade --target "$dir" "$@"
}

if have opa-golib-python-bindings "$OPA_BINDINGS_VERSION" && [ -f "$dir/opa_bindings/libopabridge.so" ]; then
	echo "opa-golib-python-bindings $OPA_BINDINGS_VERSION already in $dir"
else
	req="$(mktemp)"
	trap 'rm -f "$req"' EXIT
	echo "opa-golib-python-bindings==$OPA_BINDINGS_VERSION --hash=sha256:$OPA_BINDINGS_SHA256" >"$req"
	pip_install --ignore-requires-python --no-deps --require-hashes -r "$req"
	echo "installed opa-golib-python-bindings $OPA_BINDINGS_VERSION into $dir"
fi

if have jsonschema "$JSONSCHEMA_VERSION"; then
	echo "jsonschema $JSONSCHEMA_VERSION already importable"
else
	pip_install "jsonschema==$JSONSCHEMA_VERSION"
	echo "installed jsonschema $JSONSCHEMA_VERSION into $dir"
fi

# Prove the evaluator loads and evaluates on this Python.
PYTHONPATH="$dir" "$python" -c '
from opa_bindings import OpaEngine
with OpaEngine() as e:
    e.add_policy("probe.rego", "package probe\nallow if input.x == 1\n")
    assert e.eval_document("probe.allow", {"x": 1}) is True
'
echo "OPA evaluator ready: PYTHONPATH=$dir"
