# Policy data checked before it is used (issue #21 item 7). The policies read
# data.bulwark_data with lookups that are simply undefined when an entry has the wrong
# type: an agent set to `null` (a natural way to "revoke" it), a `null` task, an images
# list holding a number, a ceiling written as a string or misspelt (`max_memroy_bytes`)
# each read as "no limit" in OPA's server mode, and as an error in regorus. Here every
# such entry is a reason, and the decision denies every request while the data is
# wrong: a mistake in data never widens what an agent may do.
package bulwark.data_shape

import rego.v1

list_fields := {"images", "capabilities", "secrets"}

limit_fields := {"max_memory_bytes", "max_cpus", "max_pids"}

agent_fields := (list_fields | limit_fields) | {"tasks"}

flag_fields := {"require_agent", "secrets_without_trusted_agent"}

top_fields := flag_fields | {"agents", "sandbox_images"}

# No data at all is no agent: lib's defaults apply.
default root := {}

root := data.bulwark_data

errors contains "policy data: bulwark_data is not an object" if not is_object(root)

errors contains msg if {
	is_object(root)
	some key in object.keys(root)
	not key in top_fields
	msg := sprintf("policy data: unknown field bulwark_data.%s (known: %s)", [key, concat(", ", sort(top_fields))])
}

errors contains msg if {
	some flag in flag_fields
	value := root[flag]
	not is_boolean(value)
	msg := sprintf("policy data: bulwark_data.%s must be true or false", [flag])
}

errors contains "policy data: bulwark_data.sandbox_images must be a list of strings" if {
	is_object(root)
	"sandbox_images" in object.keys(root)
	not string_list(root.sandbox_images)
}

errors contains "policy data: bulwark_data.agents is not an object" if {
	is_object(root)
	"agents" in object.keys(root)
	not is_object(root.agents)
}

agents := root.agents if is_object(root.agents)

errors contains msg if {
	some name, entry in agents
	not is_object(entry)
	msg := sprintf("policy data: agent \"%s\" is not an object (to revoke an agent, remove its entry)", [name])
}

errors contains msg if {
	some name, entry in agents
	is_object(entry)
	some msg in entry_errors(sprintf("agent \"%s\"", [name]), entry, agent_fields)
}

errors contains msg if {
	some name, entry in agents
	tasks := entry.tasks
	not is_object(tasks)
	msg := sprintf("policy data: agent \"%s\": tasks is not an object", [name])
}

errors contains msg if {
	some name, entry in agents
	is_object(entry.tasks)
	some task_name, task in entry.tasks
	not is_object(task)
	msg := sprintf("policy data: agent \"%s\" task \"%s\" is not an object", [name, task_name])
}

errors contains msg if {
	some name, entry in agents
	is_object(entry.tasks)
	some task_name, task in entry.tasks
	is_object(task)
	some msg in entry_errors(sprintf("agent \"%s\" task \"%s\"", [name, task_name]), task, list_fields | limit_fields)
}

# What is wrong with one agent's or task's entry: unknown fields, lists that are not
# lists of strings, ceilings that are not positive numbers.
entry_errors(label, entry, known) := {msg |
	some key in object.keys(entry) - known
	msg := sprintf("policy data: %s: unknown field %s (known: %s)", [label, key, concat(", ", sort(known))])
} | {msg |
	some field in list_fields
	value := entry[field]
	not string_list(value)
	msg := sprintf("policy data: %s: %s must be a list of strings", [label, field])
} | {msg |
	some field in limit_fields
	value := entry[field]
	not positive_number(value)
	msg := sprintf("policy data: %s: %s must be a number above 0", [label, field])
}

string_list(value) if {
	is_array(value)
	every item in value {
		is_string(item)
	}
}

positive_number(value) if {
	is_number(value)
	value > 0
}
