# Secret access: which secrets may this agent receive? Secrets are named, never valued,
# in the input. Data: data.bulwark_data.agents.<agent>.secrets (and optionally a task's
# `secrets`, which narrows the agent's list).
#
# A sandbox (pause) container receives none. A container without an agent is refused
# altogether when data.bulwark_data.require_agent is true (task.rego); otherwise nothing
# scopes its secrets here, and the host config's secret source directories bound them
# (a Podman user's `--secret`s keep working).
package bulwark.secrets

import rego.v1

import data.bulwark.lib

deny contains msg if {
	lib.checks_secrets
	some scope in lib.scopes
	allowed := data.bulwark.lib.scope_list(scope, "secrets")
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
