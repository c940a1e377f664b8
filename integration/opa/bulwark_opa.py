"""Shared by run_policy_tests.py and opa_server.py: finds the OPA bindings and loads
bulwark's policies into the real OPA evaluator (opa-golib-python-bindings).

The bindings' API as used here (opa_bindings 0.4.4, OPA 1.20):
  OpaEngine()                        one engine; evals are serialized by an internal lock
  engine.add_policy(name, source)    parse + compile a Rego module (OpaError on a bad one)
  engine.add_data(value, path="")    deep-merge JSON into data (OpaError "merge_conflict")
  engine.eval_document(path, input)  value of data.<path> (dotted; "" = all of data);
                                     raises OpaUndefinedError when undefined
  engine.eval_query(query, input)    list of binding dicts (no expression values)
  engine.close()
input=None means no input document at all (input is undefined in Rego).
"""

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POLICIES = REPO / "policies"
DEFAULT_BINDINGS = REPO / "target" / "opa-bindings"


def add_bindings_path(bindings=None):
    """Make `import opa_bindings` work: --bindings DIR, $OPA_BINDINGS_DIR, the default
    install.sh target, else whatever is already importable."""
    for d in (bindings, os.environ.get("OPA_BINDINGS_DIR"), DEFAULT_BINDINGS):
        if d and (Path(d) / "opa_bindings").is_dir():
            sys.path.insert(0, str(d))
            return
    # Fall through: maybe PYTHONPATH or site-packages has it.


def import_bindings(bindings=None):
    add_bindings_path(bindings)
    try:
        import opa_bindings  # noqa: F401
    except ImportError as e:
        sys.exit(
            f"cannot import opa_bindings ({e}); run integration/opa/install.sh [DIR] "
            "and pass --bindings DIR (or set OPA_BINDINGS_DIR)"
        )
    return opa_bindings


def policy_files(policies_dir):
    """Every .rego file in the directory (not recursive), sorted, tests included,
    like `opa run`/`opa test` on the directory."""
    return sorted(p for p in Path(policies_dir).glob("*.rego") if p.is_file())


def load_engine(opa_bindings, policies_dir, data_file=None):
    """An OpaEngine with every policies/*.rego module and policies/data.json loaded at
    the root of data (as `opa run policies/` would)."""
    policies_dir = Path(policies_dir)
    data_file = Path(data_file) if data_file else policies_dir / "data.json"
    engine = opa_bindings.OpaEngine()
    files = policy_files(policies_dir)
    if not files:
        raise SystemExit(f"no .rego files in {policies_dir}")
    for p in files:
        engine.add_policy(p.name, p.read_text())
    if data_file.exists():
        engine.add_data(json.loads(data_file.read_text()))
    return engine
