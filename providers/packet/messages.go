package packet

import "github.com/rampart-cluster/rampart/generator/report"

// What a plan tells people besides its steps, in one place: the devices
// it leaves alone are warnings (push still exits 0); a node without a
// device is an info entry (push counts it; --create makes one).
var (
	msgNoDevice = report.Message{Code: "packet.no-device", Severity: report.Info, Format: "%s has no device; --create makes one"}
	msgUntagged = report.Message{Code: "packet.untagged-device", Severity: report.Warning, Format: "%s (%s) has the hostname of a node but no %s%s tag: not touched; push --adopt puts the node's userdata and rampart's tags on it"}
	msgStranger = report.Message{Code: "packet.stranger-device", Severity: report.Warning, Format: "%s is tagged %s%s but is not in the spec; left alone"}
)
