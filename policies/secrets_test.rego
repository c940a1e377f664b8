package bulwark.secrets_test

import rego.v1

import data.bulwark.decision
import data.bulwark.decision_test.base_input
import data.bulwark.task_test.sandbox_input

test_allowed_secret if {
	decision.allow with input as base_input
}

test_no_secrets if {
	decision.allow with input as object.union(base_input, {"secrets": []})
}

test_secret_refused if {
	inp := object.union(base_input, {"secrets": ["openai-api-key", "prod-db-password"]})
	decision.reasons == ["agent \"research-agent\" may not receive secret \"prod-db-password\""] with input as inp
}

test_every_refused_secret_named if {
	inp := object.union(base_input, {"secrets": ["b", "a"]})
	r := decision.reasons with input as inp
	r == [
		"agent \"research-agent\" may not receive secret \"a\"",
		"agent \"research-agent\" may not receive secret \"b\"",
	]
}

test_agent_without_secrets_list_gets_none if {
	r := decision.reasons with input as base_input with data.bulwark_data.agents as {"research-agent": {"images": ["localhost/bulwark-probe"]}}
	r == ["agent \"research-agent\" may not receive secret \"openai-api-key\""]
}

test_secret_names_are_exact if {
	inp := object.union(base_input, {"secrets": ["OPENAI-API-KEY"]})
	not decision.allow with input as inp
}

test_no_agent_secrets_allowed_unless_agents_are_required if {
	inp := object.union(base_input, {"agent": {"id": null, "task": null}, "annotations": {}})
	decision.allow with input as inp
}

test_sandbox_gets_no_secret if {
	inp := object.union(sandbox_input, {"secrets": ["openai-api-key"]})
	decision.reasons == ["sandbox container \"s1\" may not receive secret \"openai-api-key\""] with input as inp
}

test_secrets_not_checked_on_exec if {
	inp := object.union(base_input, {"operation": "exec", "secrets": ["prod-db-password"]})
	decision.allow with input as inp
}

test_task_narrows_secrets if {
	inp := object.union(base_input, {
		"agent": {"id": "build-agent", "task": "compile"},
		"image": object.union(base_input.image, {"reference": "docker.io/library/rust:1", "registry": "docker.io", "repository": "library/rust"}),
		"secrets": ["signing-key"],
	})
	decision.reasons == ["agent \"build-agent\" (task \"compile\") may not receive secret \"signing-key\""] with input as inp
}
