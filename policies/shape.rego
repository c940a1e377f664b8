# Structural checks on the input document (policies/input.schema.json is the full
# schema; these cover every field the policies read). A policy that reads a missing
# field gets `undefined`, and an undefined condition silently skips a denial, so a
# malformed input is refused here rather than allowed by accident.
package bulwark.shape

import rego.v1

default doc := {}

doc := input if is_object(input)

# No valid field has this value, so a missing field fails every kind below.
missing := {"bulwark.io/missing": true}

value(path) := object.get(doc, path, missing)

fields := [
	{"path": ["container", "id"], "kind": "string"},
	{"path": ["agent", "id"], "kind": "string|null"},
	{"path": ["agent", "task"], "kind": "string|null"},
	{"path": ["agent", "trusted"], "kind": "boolean"},
	{"path": ["container", "engine"], "kind": "string"},
	{"path": ["image"], "kind": "object|null"},
	{"path": ["process", "capabilities"], "kind": "string[]"},
	{"path": ["resources", "memory_bytes"], "kind": "number|null"},
	{"path": ["resources", "cpus"], "kind": "number|null"},
	{"path": ["resources", "pids"], "kind": "number|null"},
	{"path": ["secrets"], "kind": "string[]"},
]

image_fields := [
	{"path": ["image", "reference"], "kind": "string"},
	{"path": ["image", "registry"], "kind": "string"},
	{"path": ["image", "repository"], "kind": "string"},
	{"path": ["image", "digest"], "kind": "string|null"},
	{"path": ["image", "content"], "kind": "string[]"},
]

# The types (type_name) each kind admits. One lookup rather than a `valid` body per kind:
# regorus tries every body of a function on each call, and `valid` runs for every field
# of every decision (docs/benchmarks.md, issue #20).
kind_types := {
	"string": {"string"},
	"boolean": {"boolean"},
	"string|null": {"string", "null"},
	"number|null": {"number", "null"},
	"object|null": {"object", "null"},
}

valid(kind, v) if {
	type_name(v) in kind_types[kind]
	v != missing
}

valid(kind, v) if {
	kind == "string[]"
	is_array(v)
	every e in v {
		is_string(e)
	}
}

describe := {
	"boolean": "true or false",
	"string": "a string",
	"string|null": "a string or null",
	"number|null": "a number or null",
	"object|null": "an object or null",
	"string[]": "an array of strings",
}

errors contains "input is not a bulwark.io/v1 document: version must be \"bulwark.io/v1\"" if {
	value(["version"]) != "bulwark.io/v1"
}

known_operation if value(["operation"]) in {"create", "exec", "update"}

known_container_type if value(["container", "type"]) in {"container", "sandbox"}

errors contains "input field operation must be one of \"create\", \"exec\", \"update\"" if {
	not known_operation
}

errors contains "input field container.type must be \"container\" or \"sandbox\"" if {
	not known_container_type
}

errors contains msg if {
	some f in fields
	not valid(f.kind, object.get(doc, f.path, missing))
	msg := sprintf("input field %s is missing or not %s", [concat(".", f.path), describe[f.kind]])
}

errors contains msg if {
	valid("object|null", value(["image"]))
	value(["image"]) != null
	some f in image_fields
	not valid(f.kind, object.get(doc, f.path, missing))
	msg := sprintf("input field %s is missing or not %s", [concat(".", f.path), describe[f.kind]])
}
