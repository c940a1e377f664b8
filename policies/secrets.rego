# Secret access: which secrets may this agent receive? Secrets are named, never valued,
# in the input. Data: data.bulwark_data.agents.<agent>.secrets (and optionally a task's
# `secrets`, which narrows the agent's list).
#
# Secrets are scoped to agents, so a container without an agent, or a sandbox (pause)
# container, receives none, whatever data.bulwark_data.require_agent says.
package bulwark.secrets

import rego.v1

import data.bulwark.lib

deny contains msg if {
	lib.checks_secrets
	some scope in lib.scopes
	allowed := lib.scope_list(scope, "secrets")
	some secret in input.secrets
	not secret in allowed
	msg := sprintf("%s may not receive secret \"%s\"", [scope.label, secret])
}

deny contains msg if {
	input.operation == "create"
	lib.sandbox
	some secret in input.secrets
	msg := sprintf("sandbox container \"%s\" may not receive secret \"%s\"", [lib.container_id, secret])
}

deny contains msg if {
	input.operation == "create"
	not lib.sandbox
	not lib.agent_id
	some secret in input.secrets
	msg := sprintf("container \"%s\" has no agent (annotation bulwark.io/agent) and may not receive secret \"%s\"", [lib.container_id, secret])
}
