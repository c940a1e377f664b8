# Shared helpers for the bulwark policies: the input's agent and task looked up in the
# policy data (data.bulwark_data), which checks an operation runs, and image and
# capability matching. Builtins used here and elsewhere are limited to those regorus
# always compiles in (no regex, glob, net, crypto, time).
package bulwark.lib

import rego.v1

# ---- policy data -------------------------------------------------------------------

default agents := {}

agents := data.bulwark_data.agents if is_object(data.bulwark_data.agents)

# Only an explicit `true` makes a trusted agent mandatory.
default require_agent := false

require_agent if data.bulwark_data.require_agent == true

# Secrets are scoped to agents: only an explicit `true` lets a container without a
# trusted agent (none named, or only claimed) receive secrets.
default secrets_without_trusted_agent := false

secrets_without_trusted_agent if data.bulwark_data.secrets_without_trusted_agent == true

# The pause images a sandbox may run; undefined (no restriction) when the data names none.
sandbox_images := data.bulwark_data.sandbox_images if is_array(data.bulwark_data.sandbox_images)

# ---- who asks ----------------------------------------------------------------------

sandbox if input.container.type == "sandbox"

container_id := input.container.id

agent_id := input.agent.id if is_string(input.agent.id)

task_id := input.agent.task if is_string(input.agent.task)

# Who named the agent decides what the name is worth. bulwark sets agent.trusted when the
# engine's caller alone writes the spec's annotations (host config
# policy.trusted_agent_engines, default: an orchestrator, engine "other"). Otherwise the
# annotation was written by the workload's author (`podman run --annotation`, an
# allowlisted pod annotation): a claim. A claim narrows (the agent must be known, and its
# and its task's limits apply) and never widens: it unlocks none of the agent's secrets
# and does not satisfy require_agent.
trusted_agent if {
	agent_id
	input.agent.trusted == true
}

claimed_agent if {
	agent_id
	not trusted_agent
}

# How a reason explains a claim.
claim_label := sprintf("its agent \"%s\" is a claim, not an identity (annotation bulwark.io/agent from engine \"%s\", which host config policy.trusted_agent_engines does not trust)", [agent_id, input.container.engine]) if claimed_agent

known_agent if agent_id in object.keys(agents)

agent := agents[agent_id] if known_agent

# The agent restricts itself to named tasks when its entry has a `tasks` object.
has_tasks if is_object(agent.tasks)

task := agent.tasks[task_id] if has_tasks

known_task if {
	has_tasks
	task_id in object.keys(agent.tasks)
}

# The input's image in a reason.
image_label := sprintf("image \"%s\"", [input.image.reference]) if is_object(input.image)

image_label := "an image bulwark could not identify" if not is_object(input.image)

# Labels used in every reason.
agent_label := sprintf("agent \"%s\"", [agent_id])

# ---- which checks run --------------------------------------------------------------
# Each operation checks what it decides: create everything, exec the new process,
# update the new limits. Sandbox (pause) containers carry no agent workload.

agent_checks if {
	not sandbox
	known_agent
}

checks_image if {
	agent_checks
	input.operation == "create"
}

checks_capabilities if {
	agent_checks
	input.operation in {"create", "exec"}
}

checks_resources if {
	agent_checks
	input.operation in {"create", "update"}
}

checks_secrets if {
	agent_checks
	input.operation == "create"
}

# ---- scopes ------------------------------------------------------------------------
# The agent's entry and, when the input names one of its tasks, the task's entry. A task
# can only narrow what its agent may do: both scopes' limits apply. A list the agent's
# entry leaves out allows nothing (`missing_list` []); one a task leaves out does not
# narrow (`missing_list` null).

scopes contains {"label": agent_label, "limits": agent, "missing_list": []} if known_agent

scopes contains scope if {
	known_task
	scope := {
		"label": sprintf("agent \"%s\" (task \"%s\")", [agent_id, task_id]),
		"limits": task,
		"missing_list": null,
	}
}

# The allowed list a scope gives for `field`, or undefined when the scope does not limit it.
scope_list(scope, field) := list if {
	list := object.get(scope.limits, field, scope.missing_list)
	is_array(list)
}

# "a, b" or "none".
describe_list(list) := concat(", ", list) if count(list) > 0

describe_list(list) := "none" if count(list) == 0

# ---- images ------------------------------------------------------------------------
# An allowed entry is an image name (registry/repository: any tag or digest), a name
# ending in "/" (every image under that registry or namespace), a full reference pinned
# to a tag, an image id or manifest digest ("sha256:…": that content under any name), or
# a name pinned to one ("name@sha256:…": that content under that name). Digests are
# compared with image.content, the digests bulwark established from the engine's own
# records (containers/storage's image id and manifest digests): a local tag can give any
# image an approved name, never its content. Plain string prefixes are not used:
# "localhost/probe" must not admit "localhost/probe-evil".

image_name(img) := concat("/", [img.registry, img.repository])

image_matches(img, entry) if image_name(img) == entry

image_matches(img, entry) if {
	img.reference == entry
	not contains(entry, "@")
}

image_matches(img, entry) if {
	startswith(entry, "sha256:")
	entry in img.content
}

image_matches(img, entry) if {
	parts := split(entry, "@")
	count(parts) == 2
	parts[0] == image_name(img)
	parts[1] in img.content
}

image_matches(img, entry) if {
	endswith(entry, "/")
	startswith(image_name(img), entry)
}

image_allowed(img, allowed) if {
	is_object(img)
	some entry in allowed
	image_matches(img, entry)
}

# ---- capabilities ------------------------------------------------------------------
# Data may name a capability with or without CAP_, in any case.

cap_name(c) := upper(c) if startswith(upper(c), "CAP_")

cap_name(c) := concat("", ["CAP_", upper(c)]) if not startswith(upper(c), "CAP_")

cap_names(list) := {cap_name(c) | some c in list}
