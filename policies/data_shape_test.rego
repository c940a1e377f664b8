# Tests of the policy data check (data_shape.rego): wrong data denies with the entry
# named, in OPA (strict builtins) and regorus alike. Run: integration/opa/run_policy_tests.py.
package bulwark.data_shape_test

import rego.v1

import data.bulwark.decision
import data.bulwark.decision_test.base_input

research := data.bulwark_data.agents["research-agent"]

with_agent(entry) := object.union(data.bulwark_data, {"agents": object.union(data.bulwark_data.agents, {"research-agent": entry})})

denied_with(bad_data, reason) if {
	d := decision with input as base_input with data.bulwark_data as bad_data
	d.allow == false
	d.reasons == [reason]
}

test_the_shipped_data_is_well_formed if {
	count(data.bulwark.data_shape.errors) == 0
	d := decision with input as base_input
	d.allow == true
}

test_a_null_agent_denies_everything if {
	denied_with(with_agent(null), "policy data: agent \"research-agent\" is not an object (to revoke an agent, remove its entry)")
}

test_a_string_ceiling_denies if {
	denied_with(with_agent(object.union(research, {"max_memory_bytes": "512Mi"})), "policy data: agent \"research-agent\": max_memory_bytes must be a number above 0")
}

test_a_zero_ceiling_denies if {
	denied_with(with_agent(object.union(research, {"max_pids": 0})), "policy data: agent \"research-agent\": max_pids must be a number above 0")
}

test_a_misspelt_ceiling_denies if {
	entry := object.union(object.remove(research, {"max_memory_bytes"}), {"max_memroy_bytes": 1})
	denied_with(with_agent(entry), "policy data: agent \"research-agent\": unknown field max_memroy_bytes (known: capabilities, images, max_cpus, max_memory_bytes, max_pids, secrets, tasks)")
}

test_null_images_deny if {
	denied_with(with_agent(object.union(research, {"images": null})), "policy data: agent \"research-agent\": images must be a list of strings")
}

test_a_non_string_image_entry_denies if {
	denied_with(with_agent(object.union(research, {"images": ["localhost/bulwark-probe", 7]})), "policy data: agent \"research-agent\": images must be a list of strings")
}

test_a_null_task_denies if {
	denied_with(with_agent(object.union(research, {"tasks": {"summarize": null}})), "policy data: agent \"research-agent\" task \"summarize\" is not an object")
}

test_a_string_task_ceiling_denies if {
	denied_with(with_agent(object.union(research, {"tasks": {"summarize": {"max_cpus": "1"}}})), "policy data: agent \"research-agent\" task \"summarize\": max_cpus must be a number above 0")
}

test_a_non_boolean_flag_denies if {
	denied_with(object.union(data.bulwark_data, {"require_agent": "yes"}), "policy data: bulwark_data.require_agent must be true or false")
}

test_non_object_agents_deny if {
	denied_with(object.union(data.bulwark_data, {"agents": []}), "policy data: bulwark_data.agents is not an object")
}
