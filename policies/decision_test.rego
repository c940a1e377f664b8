# Tests of the decision document. Run: integration/opa/run_policy_tests.py (the real
# OPA evaluator), or `opa test --ignore cases --ignore input.schema.json policies/`.
package bulwark.decision_test

import rego.v1

import data.bulwark.decision

# A compliant create by research-agent (see data.json), named by an orchestrator (engine
# "other", trusted by the host config's default policy.trusted_agent_engines).
base_input := {
	"version": "bulwark.io/v1",
	"operation": "create",
	"container": {"id": "c1", "engine": "other", "type": "container", "sandbox_id": null, "pod_uid": null},
	"agent": {"id": "research-agent", "task": null, "trusted": true},
	"annotations": {"bulwark.io/agent": "research-agent"},
	"image": {
		"reference": "localhost/bulwark-probe:latest", "registry": "localhost",
		"repository": "bulwark-probe", "tag": "latest", "digest": null, "content": [],
		"source": "orchestrator-annotation",
	},
	"process": {
		"uid": 65532, "gid": 65532, "args": ["/probe"], "env_names": ["PATH"], "cwd": "/",
		"capabilities": [], "no_new_privileges": true,
	},
	"mounts": [],
	"namespaces": [{"type": "pid", "path": null}],
	"resources": {"memory_bytes": 268435456, "cpus": 0.5, "pids": 64},
	"secrets": ["openai-api-key"],
	"seccomp_profile": "default",
	"apparmor_profile": "bulwark-default",
}

test_document_is_exactly_allow_and_reasons if {
	d := decision with input as base_input
	d == {"allow": true, "reasons": []}
}

test_document_keys_when_denied if {
	d := decision with input as object.union(base_input, {"agent": {"id": "nobody", "task": null}})
	object.keys(d) == {"allow", "reasons"}
	d.allow == false
}

test_allow if {
	decision.allow with input as base_input
}

test_reasons_is_a_sorted_array if {
	inp := object.union(base_input, {
		"secrets": ["z-secret", "a-secret"],
		"process": object.union(base_input.process, {"capabilities": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}),
	})
	r := decision.reasons with input as inp
	is_array(r)
	count(r) == 4
	r == sort(r)
}

test_deny_has_reasons if {
	inp := object.union(base_input, {"agent": {"id": "nobody", "task": null}})
	decision.reasons == ["unknown agent \"nobody\""] with input as inp
}

# What a document that is not an object at all (or no input) is refused for: every
# field is missing.
all_shape_errors := [
	"input field agent.id is missing or not a string or null",
	"input field agent.task is missing or not a string or null",
	"input field agent.trusted is missing or not true or false",
	"input field container.engine is missing or not a string",
	"input field container.id is missing or not a string",
	"input field container.type must be \"container\" or \"sandbox\"",
	"input field image is missing or not an object or null",
	"input field operation must be one of \"create\", \"exec\", \"update\"",
	"input field process.capabilities is missing or not an array of strings",
	"input field resources.cpus is missing or not a number or null",
	"input field resources.memory_bytes is missing or not a number or null",
	"input field resources.pids is missing or not a number or null",
	"input field secrets is missing or not an array of strings",
	"input is not a bulwark.io/v1 document: version must be \"bulwark.io/v1\"",
]

test_no_input_is_denied if {
	decision.reasons == all_shape_errors
}

test_non_object_input_is_denied if {
	decision.reasons == all_shape_errors with input as "create"
	decision.reasons == all_shape_errors with input as []
}

test_unknown_operation_is_denied if {
	r := decision.reasons with input as object.union(base_input, {"operation": "checkpoint"})
	r == ["input field operation must be one of \"create\", \"exec\", \"update\""]
}

test_malformed_input_reports_only_shape_errors if {
	# An unknown agent AND a broken document: only what is wrong with the document.
	inp := object.union(object.remove(base_input, ["agent"]), {"agent": {"id": "nobody"}, "secrets": "openai-api-key"})
	r := decision.reasons with input as inp
	r == [
		"input field agent.task is missing or not a string or null",
		"input field agent.trusted is missing or not true or false",
		"input field secrets is missing or not an array of strings",
	]
}

test_missing_process_is_denied if {
	inp := object.remove(base_input, ["process"])
	r := decision.reasons with input as inp
	r == ["input field process.capabilities is missing or not an array of strings"]
}

test_null_agent_object_is_denied if {
	r := decision.reasons with input as object.union(base_input, {"agent": null})
	r == [
		"input field agent.id is missing or not a string or null",
		"input field agent.task is missing or not a string or null",
		"input field agent.trusted is missing or not true or false",
	]
}

test_image_fields_checked if {
	inp := object.union(object.remove(base_input, ["image"]), {"image": {"reference": "x"}})
	r := decision.reasons with input as inp
	r == [
		"input field image.content is missing or not an array of strings",
		"input field image.digest is missing or not a string or null",
		"input field image.registry is missing or not a string",
		"input field image.repository is missing or not a string",
	]
}

test_no_policy_data_denies_every_agent if {
	r := decision.reasons with input as base_input with data.bulwark_data as {}
	r == ["unknown agent \"research-agent\""]
}

test_no_policy_data_allows_no_agent if {
	inp := object.union(base_input, {"agent": {"id": null, "task": null, "trusted": false}, "secrets": []})
	decision.allow with input as inp with data.bulwark_data as {}
}
