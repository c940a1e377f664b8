package bulwark.task_test

import rego.v1

import data.bulwark.decision
import data.bulwark.decision_test.base_input

# The agent as an orchestrator names it (trusted whenever there is one).
with_agent(agent, task) := object.union(base_input, {"agent": {"id": agent, "task": task, "trusted": is_string(agent)}})

# The agent as a Podman user's --annotation claims it: not trusted.
claimed_by_podman(agent) := object.union(base_input, {
	"container": {"engine": "podman"},
	"agent": {"id": agent, "task": null, "trusted": false},
	"secrets": [],
})

with_process(inp, fields) := object.union(inp, {"process": object.union(inp.process, fields)})

# The content is what a reference pinned by digest resolved to.
with_image(inp, ref, registry, repository, tag, digest) := with_content(
	inp, ref, registry, repository, tag, digest,
	[d | some d in [digest]; d != null],
)

# An image whose content digests bulwark established (containers/storage: the image id
# and manifest digests).
with_content(inp, ref, registry, repository, tag, digest, content) := object.union(inp, {"image": {
	"reference": ref, "registry": registry, "repository": repository,
	"tag": tag, "digest": digest, "content": content, "source": "containers-storage",
}})

# ---- agents ------------------------------------------------------------------------

test_unknown_agent if {
	decision.reasons == ["unknown agent \"ghost\""] with input as with_agent("ghost", null)
}

test_empty_agent_id_is_unknown if {
	decision.reasons == ["unknown agent \"\""] with input as with_agent("", null)
}

test_unknown_agent_on_exec_and_update if {
	inp := with_agent("ghost", null)
	decision.reasons == ["unknown agent \"ghost\""] with input as object.union(inp, {"operation": "exec"})
	decision.reasons == ["unknown agent \"ghost\""] with input as object.union(inp, {"operation": "update"})
}

test_no_agent_allowed_by_default if {
	inp := object.union(with_agent(null, null), {"secrets": []})
	decision.allow with input as inp
}

test_no_agent_refused_when_required if {
	inp := object.union(with_agent(null, null), {"secrets": []})
	r := decision.reasons with input as inp with data.bulwark_data.require_agent as true
	r == ["container \"c1\" has no agent (annotation bulwark.io/agent), which this host requires"]
}

# A flag of the wrong type is wrong data: everything is denied, naming it (data_shape),
# where it used to read as false and admit a container without an agent.
test_require_agent_must_be_a_boolean if {
	inp := object.union(with_agent(null, null), {"secrets": []})
	d := decision with input as inp with data.bulwark_data.require_agent as "yes"
	d == {"allow": false, "reasons": ["policy data: bulwark_data.require_agent must be true or false"]}
}

test_known_agent_allowed_when_required if {
	decision.allow with input as base_input with data.bulwark_data.require_agent as true
}

# ---- claimed agents ----------------------------------------------------------------
# A claim narrows (the agent must exist and its limits apply), never widens.

claim_of(agent) := sprintf("its agent \"%s\" is a claim, not an identity (annotation bulwark.io/agent from engine \"podman\", which host config policy.trusted_agent_engines does not trust)", [agent])

test_claimed_agent_allowed_within_its_limits if {
	decision.allow with input as claimed_by_podman("research-agent")
}

test_claimed_agent_does_not_satisfy_require_agent if {
	r := decision.reasons with input as claimed_by_podman("research-agent") with data.bulwark_data.require_agent as true
	r == [concat("", ["container \"c1\" has no trusted agent, which this host requires: ", claim_of("research-agent")])]
}

test_claimed_agent_limits_apply if {
	inp := with_process(claimed_by_podman("research-agent"), {"capabilities": ["CAP_NET_RAW"]})
	decision.reasons == ["agent \"research-agent\" may not use capability CAP_NET_RAW (allowed: none)"] with input as inp
}

test_claimed_unknown_agent_refused if {
	decision.reasons == ["unknown agent \"ghost\""] with input as claimed_by_podman("ghost")
}

test_claimed_agent_tasks_apply if {
	inp := object.union(claimed_by_podman("build-agent"), {"agent": {"task": "deploy"}})
	decision.reasons == ["agent \"build-agent\" may not run task \"deploy\" (allowed: compile, serve-docs)"] with input as inp
}

test_task_without_agent if {
	inp := object.union(with_agent(null, "compile"), {"secrets": []})
	decision.reasons == ["container \"c1\" names task \"compile\" (annotation bulwark.io/task) but no agent (bulwark.io/agent)"] with input as inp
}

# ---- sandbox -----------------------------------------------------------------------

sandbox_input := object.union(base_input, {
	"container": {"id": "s1", "engine": "cri", "type": "sandbox", "sandbox_id": "s1", "pod_uid": "u1"},
	"agent": {"id": "research-agent", "task": null, "trusted": false},
	"image": {
		"reference": "registry.k8s.io/pause:3.10", "registry": "registry.k8s.io",
		"repository": "pause", "tag": "3.10", "digest": null, "source": "cri-annotation",
	},
	"secrets": [],
	"resources": {"memory_bytes": null, "cpus": null, "pids": null},
})

test_sandbox_allowed if {
	decision.allow with input as sandbox_input
}

test_sandbox_allowed_with_unknown_agent_and_required_agent if {
	inp := object.union(sandbox_input, {"agent": {"id": "ghost", "task": "x"}})
	decision.allow with input as inp with data.bulwark_data.require_agent as true
}

# Anyone invoking the runtime can call a container a sandbox: the exemption from the
# agent checks holds only for the pause images in the data (issue #21 item 8).
test_a_self_declared_sandbox_running_another_image_is_refused if {
	inp := with_image(sandbox_input, "localhost/bulwark-probe:v2", "localhost", "bulwark-probe", "v2", null)
	d := decision with input as inp with data.bulwark_data.require_agent as true
	d == {"allow": false, "reasons": ["sandbox container \"s1\" may not run image \"localhost/bulwark-probe:v2\": a sandbox runs a pause image (allowed: registry.k8s.io/pause, localhost/bulwark-pause, localhost/podman-pause)"]}
}

test_a_sandbox_of_unknown_image_is_refused if {
	d := decision with input as object.union(sandbox_input, {"image": null})
	d.reasons == ["sandbox container \"s1\" may not run an image bulwark could not identify: a sandbox runs a pause image (allowed: registry.k8s.io/pause, localhost/bulwark-pause, localhost/podman-pause)"]
}

test_sandbox_exec_allowed if {
	inp := with_process(object.union(sandbox_input, {"operation": "exec"}), {"capabilities": ["CAP_KILL"]})
	decision.allow with input as inp
}

# ---- images ------------------------------------------------------------------------

test_image_by_name_any_tag if {
	inp := with_image(base_input, "localhost/bulwark-probe:v2", "localhost", "bulwark-probe", "v2", null)
	decision.allow with input as inp
}

test_image_lookalike_refused if {
	inp := with_image(base_input, "localhost/bulwark-probe2:latest", "localhost", "bulwark-probe2", "latest", null)
	decision.reasons == ["agent \"research-agent\" may not run image \"localhost/bulwark-probe2:latest\" (allowed: localhost/bulwark-probe)"] with input as inp
}

test_image_other_registry_same_repository_refused if {
	inp := with_image(base_input, "evil.example/bulwark-probe:latest", "evil.example", "bulwark-probe", "latest", null)
	decision.reasons == ["agent \"research-agent\" may not run image \"evil.example/bulwark-probe:latest\" (allowed: localhost/bulwark-probe)"] with input as inp
}

test_image_namespace_entry if {
	inp := with_image(base_input, "docker.io/library/alpine:3.20", "docker.io", "library/alpine", "3.20", null)
	decision.allow with input as inp with data.bulwark_data.agents["research-agent"].images as ["docker.io/library/"]
	decision.reasons == ["agent \"research-agent\" may not run image \"docker.io/library/alpine:3.20\" (allowed: docker.io/lib)"] with input as inp with data.bulwark_data.agents["research-agent"].images as ["docker.io/lib"]
}

test_image_pinned_tag if {
	pinned := ["localhost/bulwark-probe:v1"]
	v1 := with_image(base_input, "localhost/bulwark-probe:v1", "localhost", "bulwark-probe", "v1", null)
	v2 := with_image(base_input, "localhost/bulwark-probe:v2", "localhost", "bulwark-probe", "v2", null)
	decision.allow with input as v1 with data.bulwark_data.agents["research-agent"].images as pinned
	decision.reasons == ["agent \"research-agent\" may not run image \"localhost/bulwark-probe:v2\" (allowed: localhost/bulwark-probe:v1)"] with input as v2 with data.bulwark_data.agents["research-agent"].images as pinned
}

test_image_pinned_digest if {
	digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pinned := [concat("@", ["localhost/bulwark-probe", digest])]
	tagged := with_image(base_input, "localhost/bulwark-probe:v1", "localhost", "bulwark-probe", "v1", digest)
	untagged := with_image(base_input, "localhost/bulwark-probe:v1", "localhost", "bulwark-probe", "v1", null)
	decision.allow with input as tagged with data.bulwark_data.agents["research-agent"].images as pinned
	decision.reasons == ["agent \"research-agent\" may not run image \"localhost/bulwark-probe:v1\" (allowed: localhost/bulwark-probe@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef)"] with input as untagged with data.bulwark_data.agents["research-agent"].images as pinned
}

# A local `podman tag` gives other content the approved name (issue #21 item 5): a
# digest entry admits the content it names under any name (bare sha256:) or under its
# name (name@sha256:), and never an image whose content is another, whatever the
# reference says.
test_image_approved_by_content if {
	probe_id := "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	manifest := "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	impostor_id := "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	probe := with_content(base_input, "localhost/bulwark-probe:v1", "localhost", "bulwark-probe", "v1", null, [probe_id, manifest])
	renamed := with_content(base_input, "localhost/other:v1", "localhost", "other", "v1", null, [probe_id, manifest])
	impostor := with_content(base_input, "localhost/bulwark-probe:evil", "localhost", "bulwark-probe", "evil", null, [impostor_id])
	by_id := [probe_id]
	by_name := [concat("@", ["localhost/bulwark-probe", manifest])]
	decision.allow with input as probe with data.bulwark_data.agents["research-agent"].images as by_id
	decision.allow with input as renamed with data.bulwark_data.agents["research-agent"].images as by_id
	decision.allow with input as probe with data.bulwark_data.agents["research-agent"].images as by_name
	not decision.allow with input as renamed with data.bulwark_data.agents["research-agent"].images as by_name
	not decision.allow with input as impostor with data.bulwark_data.agents["research-agent"].images as by_id
	not decision.allow with input as impostor with data.bulwark_data.agents["research-agent"].images as by_name
}

# A pinned reference whose digest is not among the content digests (an input no bulwark
# writes) is not admitted by that digest.
test_image_digest_entry_needs_the_content if {
	digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	claimed := with_content(base_input, concat("@", ["localhost/bulwark-probe", digest]), "localhost", "bulwark-probe", null, digest, [])
	not decision.allow with input as claimed with data.bulwark_data.agents["research-agent"].images as [digest]
	not decision.allow with input as claimed with data.bulwark_data.agents["research-agent"].images as [claimed.image.reference]
}

test_agent_without_images_runs_none if {
	r := decision.reasons with input as base_input with data.bulwark_data.agents as {"research-agent": {"secrets": ["openai-api-key"]}}
	r == ["agent \"research-agent\" may not run image \"localhost/bulwark-probe:latest\" (allowed: none)"]
}

test_unknown_image_refused if {
	r := decision.reasons with input as object.union(base_input, {"image": null})
	r == ["agent \"research-agent\" may not run an image bulwark could not identify (allowed: localhost/bulwark-probe)"]
}

test_image_not_checked_on_exec_and_update if {
	inp := with_image(base_input, "docker.io/library/alpine:3.20", "docker.io", "library/alpine", "3.20", null)
	decision.allow with input as object.union(inp, {"operation": "exec"})
	decision.allow with input as object.union(inp, {"operation": "update"})
}

# ---- capabilities ------------------------------------------------------------------

test_capability_refused if {
	inp := with_process(base_input, {"capabilities": ["CAP_NET_BIND_SERVICE"]})
	decision.reasons == ["agent \"research-agent\" may not use capability CAP_NET_BIND_SERVICE (allowed: none)"] with input as inp
}

test_capability_names_normalised if {
	inp := with_process(base_input, {"capabilities": ["CAP_NET_BIND_SERVICE"]})
	decision.allow with input as inp with data.bulwark_data.agents["research-agent"].capabilities as ["net_bind_service"]
	decision.allow with input as inp with data.bulwark_data.agents["research-agent"].capabilities as ["CAP_NET_BIND_SERVICE"]
}

test_capability_allowed_list_in_reason_sorted if {
	inp := with_process(base_input, {"capabilities": ["CAP_SYS_ADMIN"]})
	r := decision.reasons with input as inp with data.bulwark_data.agents["research-agent"].capabilities as ["SETUID", "chown"]
	r == ["agent \"research-agent\" may not use capability CAP_SYS_ADMIN (allowed: CAP_CHOWN, CAP_SETUID)"]
}

test_capability_checked_on_exec_not_update if {
	inp := with_process(base_input, {"capabilities": ["CAP_KILL"]})
	decision.reasons == ["agent \"research-agent\" may not use capability CAP_KILL (allowed: none)"] with input as object.union(inp, {"operation": "exec"})
	decision.allow with input as object.union(inp, {"operation": "update"})
}

# ---- resources ---------------------------------------------------------------------

test_resources_over_ceilings if {
	inp := object.union(base_input, {"resources": {"memory_bytes": 536870913, "cpus": 1.5, "pids": 129}})
	r := decision.reasons with input as inp
	r == [
		"agent \"research-agent\" may not use cpus 1.5 (at most 1)",
		"agent \"research-agent\" may not use memory 536870913 bytes (at most 536870912 bytes)",
		"agent \"research-agent\" may not use pids 129 (at most 128)",
	]
}

test_resources_missing_limits if {
	inp := object.union(base_input, {"resources": {"memory_bytes": null, "cpus": null, "pids": null}})
	r := decision.reasons with input as inp
	r == [
		"agent \"research-agent\" may not run without a cpus limit (at most 1)",
		"agent \"research-agent\" may not run without a memory limit (at most 536870912 bytes)",
		"agent \"research-agent\" may not run without a pids limit (at most 128)",
	]
}

test_no_ceiling_no_check if {
	inp := object.union(base_input, {"resources": {"memory_bytes": null, "cpus": 64, "pids": 100000}})
	decision.allow with input as inp with data.bulwark_data.agents as {"research-agent": {
		"images": ["localhost/bulwark-probe"], "secrets": ["openai-api-key"],
	}}
}

test_resources_not_checked_on_exec if {
	inp := object.union(base_input, {"operation": "exec", "resources": {"memory_bytes": null, "cpus": 64, "pids": null}})
	decision.allow with input as inp
}

test_update_over_ceiling if {
	inp := object.union(base_input, {"operation": "update", "resources": {"memory_bytes": 268435456, "cpus": 0.5, "pids": 4096}})
	decision.reasons == ["agent \"research-agent\" may not use pids 4096 (at most 128)"] with input as inp
}

# ---- tasks -------------------------------------------------------------------------

build_input := with_image(
	object.union(with_agent("build-agent", "compile"), {"secrets": ["registry-token"]}),
	"docker.io/library/rust:1.83", "docker.io", "library/rust", "1.83", null,
)

test_task_allowed if {
	decision.allow with input as build_input
}

test_task_required if {
	inp := with_agent("build-agent", null)
	r := decision.reasons with input as object.union(build_input, {"agent": inp.agent})
	r == ["agent \"build-agent\" must name a task (annotation bulwark.io/task; allowed: compile, serve-docs)"]
}

test_task_unknown if {
	inp := object.union(build_input, {"agent": {"id": "build-agent", "task": "deploy"}})
	decision.reasons == ["agent \"build-agent\" may not run task \"deploy\" (allowed: compile, serve-docs)"] with input as inp
}

test_task_checked_on_exec if {
	inp := object.union(build_input, {"operation": "exec", "agent": {"id": "build-agent", "task": "deploy"}})
	decision.reasons == ["agent \"build-agent\" may not run task \"deploy\" (allowed: compile, serve-docs)"] with input as inp
}

test_task_narrows_capabilities if {
	inp := with_process(build_input, {"capabilities": ["CAP_NET_BIND_SERVICE"]})
	r := decision.reasons with input as inp
	r == ["agent \"build-agent\" (task \"compile\") may not use capability CAP_NET_BIND_SERVICE (allowed: none)"]
}

test_task_cannot_widen if {
	# A task listing a capability its agent lacks still gets the agent's refusal.
	inp := with_process(build_input, {"capabilities": ["CAP_SYS_CHROOT"]})
	r := decision.reasons with input as inp with data.bulwark_data.agents["build-agent"].tasks.compile.capabilities as ["CAP_SYS_CHROOT"]
	r == ["agent \"build-agent\" may not use capability CAP_SYS_CHROOT (allowed: CAP_NET_BIND_SERVICE)"]
}

test_task_ceiling_narrows if {
	inp := object.union(build_input, {"resources": {"memory_bytes": 2147483648, "cpus": 1, "pids": 64}})
	r := decision.reasons with input as inp
	r == ["agent \"build-agent\" (task \"compile\") may not use memory 2147483648 bytes (at most 1073741824 bytes)"]
}

test_task_without_limits_uses_agent_limits if {
	inp := object.union(build_input, {"agent": {"id": "build-agent", "task": "serve-docs"}})
	inp2 := with_image(inp, "localhost/bulwark-probe:latest", "localhost", "bulwark-probe", "latest", null)
	decision.allow with input as inp2
}

test_agent_task_is_free_without_tasks_table if {
	decision.allow with input as with_agent("research-agent", "anything")
}

no_limit_within_the_ceiling(resources) if {
	d := decision with input as object.union(base_input, {"resources": resources})
	d.allow == false
	some reason in d.reasons
	contains(reason, "(a limit above 0, at most")
}

test_a_zero_or_negative_limit_is_no_limit_within_the_ceiling if {
	no_limit_within_the_ceiling({"memory_bytes": 0, "cpus": 0.5, "pids": 64})
	no_limit_within_the_ceiling({"memory_bytes": -1, "cpus": 0.5, "pids": 64})
	no_limit_within_the_ceiling({"memory_bytes": 268435456, "cpus": 0, "pids": 64})
	no_limit_within_the_ceiling({"memory_bytes": 268435456, "cpus": 0.5, "pids": -1})
}
