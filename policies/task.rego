# Task authorization: may this agent run this task, with this image, these capabilities
# and these resources? Data: data.bulwark_data.agents.<agent> (see policies/README.md).
#
#   create  agent, task, image, capabilities, resource ceilings
#   exec    agent, task, capabilities of the exec'd process
#   update  agent, task, resource ceilings on the limits left in force
#
# Sandbox (pause) containers are not agent workloads and pass every check here.
# A container with no agent, or one it only claims (lib.claimed_agent), passes unless
# data.bulwark_data.require_agent is true (bulwark's built-in admission still applies to
# it). A claimed agent's checks all apply: a claim may narrow, never widen.
package bulwark.task

import rego.v1

import data.bulwark.lib

# ---- who asks ----------------------------------------------------------------------

deny contains msg if {
	not lib.sandbox
	not lib.agent_id
	lib.require_agent
	msg := sprintf("container \"%s\" has no agent (annotation bulwark.io/agent), which this host requires", [lib.container_id])
}

deny contains msg if {
	not lib.sandbox
	lib.claimed_agent
	lib.require_agent
	msg := sprintf("container \"%s\" has no trusted agent, which this host requires: %s", [lib.container_id, lib.claim_label])
}

deny contains msg if {
	not lib.sandbox
	not lib.agent_id
	lib.task_id
	msg := sprintf("container \"%s\" names task \"%s\" (annotation bulwark.io/task) but no agent (bulwark.io/agent)", [lib.container_id, lib.task_id])
}

deny contains msg if {
	not lib.sandbox
	lib.agent_id
	not lib.known_agent
	msg := sprintf("unknown agent \"%s\"", [lib.agent_id])
}

# A sandbox is exempt from the agent checks because it runs the pod's pause process, not
# an agent's workload. Anyone invoking the runtime can label a container a CRI sandbox
# (issue #21 item 8), so the exemption holds only for the pause images the data names:
# a "sandbox" running another image is refused.
deny contains msg if {
	lib.sandbox
	input.operation == "create"
	allowed := lib.sandbox_images
	not data.bulwark.lib.image_allowed(input.image, allowed)
	msg := sprintf("sandbox container \"%s\" may not run %s: a sandbox runs a pause image (allowed: %s)", [lib.container_id, lib.image_label, data.bulwark.lib.describe_list(allowed)])
}

# ---- tasks -------------------------------------------------------------------------

task_names := sort(object.keys(lib.agent.tasks)) if lib.has_tasks

deny contains msg if {
	lib.agent_checks
	lib.has_tasks
	not lib.task_id
	msg := sprintf("%s must name a task (annotation bulwark.io/task; allowed: %s)", [lib.agent_label, data.bulwark.lib.describe_list(task_names)])
}

deny contains msg if {
	lib.agent_checks
	lib.has_tasks
	lib.task_id
	not lib.known_task
	msg := sprintf("%s may not run task \"%s\" (allowed: %s)", [lib.agent_label, lib.task_id, data.bulwark.lib.describe_list(task_names)])
}

# ---- image -------------------------------------------------------------------------

deny contains msg if {
	lib.checks_image
	some scope in lib.scopes
	allowed := data.bulwark.lib.scope_list(scope, "images")
	input.image == null
	msg := sprintf("%s may not run an image bulwark could not identify (allowed: %s)", [scope.label, data.bulwark.lib.describe_list(allowed)])
}

deny contains msg if {
	lib.checks_image
	some scope in lib.scopes
	allowed := data.bulwark.lib.scope_list(scope, "images")
	is_object(input.image)
	not data.bulwark.lib.image_allowed(input.image, allowed)
	msg := sprintf("%s may not run image \"%s\" (allowed: %s)", [scope.label, input.image.reference, data.bulwark.lib.describe_list(allowed)])
}

# ---- capabilities ------------------------------------------------------------------

deny contains msg if {
	lib.checks_capabilities
	some scope in lib.scopes
	allowed := data.bulwark.lib.scope_list(scope, "capabilities")
	some cap in input.process.capabilities
	not data.bulwark.lib.cap_name(cap) in data.bulwark.lib.cap_names(allowed)
	msg := sprintf("%s may not use capability %s (allowed: %s)", [scope.label, cap, data.bulwark.lib.describe_list(sort(data.bulwark.lib.cap_names(allowed)))])
}

# ---- resource ceilings -------------------------------------------------------------

resources := [
	{"field": "memory_bytes", "max": "max_memory_bytes", "what": "memory", "unit": " bytes"},
	{"field": "cpus", "max": "max_cpus", "what": "cpus", "unit": ""},
	{"field": "pids", "max": "max_pids", "what": "pids", "unit": ""},
]

# The ceilings in force, one per scope and resource its limits bound: found once for the
# three rules below rather than in each of them.
ceilings contains {"scope": scope, "resource": r, "ceiling": ceiling} if {
	lib.checks_resources
	some scope in lib.scopes
	some r in resources
	ceiling := object.get(scope.limits, r.max, null)
	is_number(ceiling)
}

deny contains msg if {
	some c in ceilings
	input.resources[c.resource.field] == null
	msg := sprintf("%s may not run without a %s limit (at most %v%s)", [c.scope.label, c.resource.what, c.ceiling, c.resource.unit])
}

deny contains msg if {
	some c in ceilings
	value := input.resources[c.resource.field]
	is_number(value)
	value > c.ceiling
	msg := sprintf("%s may not use %s %v%s (at most %v%s)", [c.scope.label, c.resource.what, value, c.resource.unit, c.ceiling, c.resource.unit])
}

# A ceiling bounds a real limit: 0 or a negative value (-1 is "unlimited" for memory and
# pids) is no limit within it (issue #21 item 8; admission refuses them too, the policy
# must not rely on it).
deny contains msg if {
	some c in ceilings
	value := input.resources[c.resource.field]
	is_number(value)
	value <= 0
	msg := sprintf("%s may not use %s %v%s (a limit above 0, at most %v%s)", [c.scope.label, c.resource.what, value, c.resource.unit, c.ceiling, c.resource.unit])
}
