#!/usr/bin/env python3
"""Runs bulwark's policy tests through the real OPA evaluator (OPA 1.20's Go library via
opa-golib-python-bindings; install it with integration/opa/install.sh):

1. every `test_` rule in policies/*_test.rego (the bindings have no `opa test`, so each
   test rule is evaluated as the document data.<package>.<rule>, which passes when it is
   exactly true, as `opa test` requires; `todo_test_` rules are skipped);
2. every policies/cases/*.json: the input must validate against
   policies/input.schema.json (or, if it deliberately does not, be denied), and
   data.bulwark.decision must be exactly the case's `expected` document, reasons in
   order, as bulwark's regorus tests require.

Usage: integration/opa/run_policy_tests.py [--bindings DIR] [--policies DIR] [-v]
Exits 1 on any failure; the last line is `N passed, N failed`.
"""

import argparse
import json
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in the work tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bulwark_opa  # noqa: E402

PACKAGE_RE = re.compile(r"^package\s+([A-Za-z_][A-Za-z0-9_.]*)\s*$", re.M)
TEST_RE = re.compile(r"^((?:todo_)?test_[A-Za-z0-9_]*)\b", re.M)


def discover_tests(policies_dir):
    """(package, rule, skipped) for every test rule head at the start of a line."""
    tests = []
    for path in bulwark_opa.policy_files(policies_dir):
        src = path.read_text()
        pkg = PACKAGE_RE.search(src)
        if not pkg:
            continue
        seen = set()
        for m in TEST_RE.finditer(src):
            name = m.group(1)
            if name in seen:
                continue
            seen.add(name)
            tests.append((pkg.group(1), name, name.startswith("todo_"), path.name))
    return tests


def canonical(value):
    # Python's == treats True as 1; compare JSON texts so types must match too.
    return json.dumps(value, sort_keys=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bindings", help="directory install.sh installed into")
    ap.add_argument("--policies", default=str(bulwark_opa.DEFAULT_POLICIES))
    ap.add_argument("-v", "--verbose", action="store_true", help="print passing tests too")
    args = ap.parse_args()

    opa = bulwark_opa.import_bindings(args.bindings)
    policies = Path(args.policies)
    engine = bulwark_opa.load_engine(opa, policies)

    passed = failed = skipped = 0

    def report(ok, what, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            if args.verbose:
                print(f"PASS {what}")
        else:
            failed += 1
            print(f"FAIL {what}{': ' + detail if detail else ''}")

    # ---- Rego test rules -----------------------------------------------------------
    tests = discover_tests(policies)
    if not tests:
        report(False, "policy tests", f"no test_ rules found in {policies}")
    for pkg, name, todo, file in tests:
        if todo:
            skipped += 1
            print(f"SKIP {pkg}.{name} ({file})")
            continue
        what = f"{pkg}.{name} ({file})"
        try:
            value = engine.eval_document(f"{pkg}.{name}", None)
        except opa.OpaUndefinedError:
            report(False, what, "undefined (a condition failed)")
            continue
        except opa.OpaError as e:
            report(False, what, f"error: {e}")
            continue
        report(value is True, what, "" if value is True else f"value {canonical(value)}, not true")

    # ---- decision cases ------------------------------------------------------------
    try:
        import jsonschema
    except ImportError:
        sys.exit("jsonschema is not importable; run integration/opa/install.sh [DIR]")
    schema = json.loads((policies / "input.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    cases = sorted((policies / "cases").glob("*.json"))
    if not cases:
        report(False, "decision cases", f"no cases in {policies / 'cases'}")
    for path in cases:
        what = f"case {path.name}"
        try:
            case = json.loads(path.read_text())
            inp, expected = case["input"], case["expected"]
            case["description"]
        except (ValueError, KeyError) as e:
            report(False, what, f"not a case document: {e!r}")
            continue
        schema_errors = sorted(e.message for e in validator.iter_errors(inp))
        if schema_errors and expected.get("allow") is not False:
            report(False, what, f"input violates the schema but is expected allowed: {schema_errors}")
            continue
        if expected.get("reasons") != sorted(expected.get("reasons", [])):
            report(False, what, "expected reasons are not sorted")
            continue
        try:
            got = engine.eval_document("bulwark.decision", inp)
        except opa.OpaUndefinedError:
            got = None
        except opa.OpaError as e:
            report(False, what, f"error: {e}")
            continue
        ok = canonical(got) == canonical(expected)
        report(ok, what, "" if ok else f"\n  expected {canonical(expected)}\n  got      {canonical(got)}")

    engine.close()
    print(f"policies: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
