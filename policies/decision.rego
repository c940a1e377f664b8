# The decision bulwark asks for before every create, exec and update.
#
# OPA:     POST /v1/data/bulwark/decision  {"input": <bulwark.io/v1 input>}
#          -> {"result": {"allow": <bool>, "reasons": [<string>, ...]}}
# regorus: the document data.bulwark.decision, the same object.
#
# The package's document is exactly {"allow", "reasons"}: every helper lives in another
# package (bulwark.lib, bulwark.shape, bulwark.task, bulwark.secrets), because OPA's Data
# API returns the whole package document. `reasons` is a sorted array, so OPA and regorus
# give byte-identical decisions; `allow` is true exactly when `reasons` is empty.
package bulwark.decision

import rego.v1

default allow := false

allow if count(reasons) == 0

# Wrong policy data denies everything, naming the entries (bulwark.data_shape): a
# mistake in data must never read as "no limit".
reasons := sort(data.bulwark.data_shape.errors) if count(data.bulwark.data_shape.errors) > 0

# A malformed input is refused with what is wrong with it, and nothing else: the other
# rules read the fields it names, and an undefined field must never end up allowing.
reasons := sort(data.bulwark.shape.errors) if {
	count(data.bulwark.data_shape.errors) == 0
	count(data.bulwark.shape.errors) > 0
}

reasons := sort(data.bulwark.task.deny | data.bulwark.secrets.deny) if {
	count(data.bulwark.data_shape.errors) == 0
	count(data.bulwark.shape.errors) == 0
}
