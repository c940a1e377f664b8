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
	decision.reasons == ["agent \"research-agent\" may not receive secret \"OPENAI-API-KEY\""] with input as inp
}

# ---- no trusted agent, no secrets (issue #15) ------------------------------------------

no_agent_input := object.union(base_input, {"agent": {"id": null, "task": null, "trusted": false}, "annotations": {}})

claimed_input(engine) := object.union(base_input, {
	"container": {"engine": engine},
	"agent": {"trusted": false},
})

test_no_agent_gets_no_secret if {
	r := decision.reasons with input as no_agent_input
	r == ["container \"c1\" may not receive secret \"openai-api-key\": it has no agent (annotation bulwark.io/agent)"]
}

test_no_agent_gets_no_secret_even_when_agents_are_not_required if {
	decision.reasons == ["container \"c1\" may not receive secret \"openai-api-key\": it has no agent (annotation bulwark.io/agent)"] with input as no_agent_input with data.bulwark_data.require_agent as false
}

test_no_agent_without_secrets_allowed if {
	decision.allow with input as object.union(no_agent_input, {"secrets": []})
}

test_data_may_let_a_container_without_an_agent_receive_secrets if {
	decision.allow with input as no_agent_input with data.bulwark_data.secrets_without_trusted_agent as true
}

# A flag of the wrong type is wrong data: everything is denied, naming it (data_shape).
test_secrets_without_trusted_agent_must_be_true_exactly if {
	decision.reasons == ["policy data: bulwark_data.secrets_without_trusted_agent must be true or false"] with input as no_agent_input with data.bulwark_data.secrets_without_trusted_agent as "true"
	decision.reasons == ["container \"c1\" may not receive secret \"openai-api-key\": it has no agent (annotation bulwark.io/agent)"] with input as no_agent_input with data.bulwark_data as {}
}

test_claimed_agent_unlocks_none_of_its_secrets if {
	r := decision.reasons with input as claimed_input("podman")
	r == ["container \"c1\" may not receive secret \"openai-api-key\": its agent \"research-agent\" is a claim, not an identity (annotation bulwark.io/agent from engine \"podman\", which host config policy.trusted_agent_engines does not trust)"]
}

test_claim_from_a_pod_author_is_a_claim_too if {
	inp := object.union(claimed_input("cri"), {"container": {"sandbox_id": "s1", "pod_uid": "u1"}})
	r := decision.reasons with input as inp
	r == ["container \"c1\" may not receive secret \"openai-api-key\": its agent \"research-agent\" is a claim, not an identity (annotation bulwark.io/agent from engine \"cri\", which host config policy.trusted_agent_engines does not trust)"]
}

test_only_trusted_true_makes_an_identity if {
	decision.reasons == ["input field agent.trusted is missing or not true or false"] with input as object.union(base_input, {"agent": {"trusted": "true"}})
	r := decision.reasons with input as object.union(base_input, {"agent": {"trusted": 1}})
	r == ["input field agent.trusted is missing or not true or false"]
}

test_claimed_agent_lists_still_narrow_when_data_allows_secrets if {
	inp := object.union(claimed_input("podman"), {"secrets": ["openai-api-key", "prod-db-password"]})
	r := decision.reasons with input as inp with data.bulwark_data.secrets_without_trusted_agent as true
	r == ["agent \"research-agent\" may not receive secret \"prod-db-password\""]
}

test_no_agent_secrets_not_checked_on_exec if {
	decision.allow with input as object.union(no_agent_input, {"operation": "exec"})
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
