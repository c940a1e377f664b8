# Secret access: which secrets may this container receive? Secrets are named, never
# valued, in the input. Data: data.bulwark_data.agents.<agent>.secrets (and optionally a
# task's `secrets`, which narrows the agent's list).
#
# Secrets are scoped to agents. A container receives a secret only when a trusted agent
# (lib.trusted_agent) may have it. No agent: no secrets. An agent the workload's author
# only claims (lib.claimed_agent: `podman --annotation`, a pod annotation) unlocks none of
# its secrets; its lists still narrow. data.bulwark_data.secrets_without_trusted_agent
# (only an explicit true) lifts the agent requirement: then the host config's secret
# sources bound what a container without a trusted agent gets, and a claimed agent's
# lists still apply. A sandbox (pause) container receives none.
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

deny contains msg if {
	input.operation == "create"
	not lib.sandbox
	not lib.agent_id
	not lib.secrets_without_trusted_agent
	some secret in input.secrets
	msg := sprintf("container \"%s\" may not receive secret \"%s\": it has no agent (annotation bulwark.io/agent)", [lib.container_id, secret])
}

deny contains msg if {
	input.operation == "create"
	not lib.sandbox
	lib.claimed_agent
	not lib.secrets_without_trusted_agent
	some secret in input.secrets
	msg := sprintf("container \"%s\" may not receive secret \"%s\": %s", [lib.container_id, secret, lib.claim_label])
}
