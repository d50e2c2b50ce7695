package delivery

import "fmt"

// Change is one step of a plan, or one made by an apply.
type Change struct {
	Op     string `json:"op"`               // "create", "update", "authorize", "revoke", "upload", "version", "tag", "describe", "adopt"
	Kind   string `json:"kind"`             // what it changes: "security-group", "ingress", "egress", "launch-template", "s3-object", "device"
	Target string `json:"target"`           // the group, template, object or device
	Detail string `json:"detail,omitempty"` // what exactly: the rule, the tags, the id, the size; "" when the rest says it all
}

// signs say at a glance whether a change adds (+), removes (-) or changes
// (~) something.
var signs = map[string]string{
	"create": "+", "authorize": "+", "upload": "+",
	"revoke":   "-",
	"describe": "~", "tag": "~", "version": "~", "update": "~", "adopt": "~",
}

// String renders the change for people: "+ create launch-template c-agent: ...".
func (c Change) String() string {
	sign, ok := signs[c.Op]
	if !ok {
		sign = "~"
	}
	s := fmt.Sprintf("%s %s %s %s", sign, c.Op, c.Kind, c.Target)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}
