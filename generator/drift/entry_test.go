package drift

import (
	"reflect"
	"testing"

	"github.com/rampart-cluster/rampart/generator/report"
)

// TestEntries: each kind of finding becomes an entry with its code, a typed
// path ending in the set member or the rule's index, and the live line.
func TestEntries(t *testing.T) {
	cases := []struct {
		f    Finding
		want report.Entry
	}{
		{Finding{Kind: MissingMember, Family: "IPv4", Where: "r-master-v4", Want: "10.0.0.7"},
			report.Entry{Severity: report.Error, Code: "drift.missing-member", Path: report.Path{"IPv4", "set", "r-master-v4", "10.0.0.7"}, Message: "missing member"}},
		{Finding{Kind: ExtraMember, Where: "set cluster_v6", Found: "2001:db8::9"},
			report.Entry{Severity: report.Error, Code: "drift.extra-member", Path: report.Path{"set", "cluster_v6", "2001:db8::9"}, Message: "extra member"}},
		{Finding{Kind: ExtraRule, Family: "IPv6", Where: "raw RAMPART-RPFILTER", Pos: 3, Found: "-A RAMPART-RPFILTER -j ACCEPT", Line: 12, Input: "ip6tables-save"},
			report.Entry{Severity: report.Error, Code: "drift.extra-rule", Path: report.Path{"IPv6", "raw", "RAMPART-RPFILTER", 2},
				Pos: report.Pos{File: "ip6tables-save", Line: 12}, Message: "extra rule at position 3: -A RAMPART-RPFILTER -j ACCEPT"}},
		{Finding{Kind: ChangedRule, Where: "chain input", Pos: 1, Want: "ct state established accept", Found: "accept", Line: 4, Input: "-", Detail: "replies"},
			report.Entry{Severity: report.Error, Code: "drift.changed-rule", Path: report.Path{"chain", "input", 0},
				Pos: report.Pos{File: "-", Line: 4}, Message: "changed rule at position 1: want ct state established accept; found accept — replies"}},
		{Finding{Kind: Failsafe, Where: "table rampart_failsafe", Detail: "closed"},
			report.Entry{Severity: report.Error, Code: "drift.failsafe", Path: report.Path{"table", "rampart_failsafe"}, Message: "failsafe — closed"}},
	}
	for _, c := range cases {
		if got := c.f.Entry(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.f.Kind, got, c.want)
		}
	}
	for kind := range messages {
		if messages[kind].Code == "" || messages[kind].Severity != report.Error {
			t.Errorf("kind %q has no code or is not an error", kind)
		}
	}
}
