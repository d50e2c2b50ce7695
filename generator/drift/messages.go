package drift

import "github.com/rampart-cluster/rampart/generator/report"

// messages are what drift tells people, one per kind of finding, in one
// place: every difference is an error (drift exits 1).
var messages = map[string]report.Message{
	MissingRule:   {Code: "drift.missing-rule", Severity: report.Error, Format: "missing rule%s"},
	ExtraRule:     {Code: "drift.extra-rule", Severity: report.Error, Format: "extra rule%s"},
	ChangedRule:   {Code: "drift.changed-rule", Severity: report.Error, Format: "changed rule%s"},
	MissingChain:  {Code: "drift.missing-chain", Severity: report.Error, Format: "missing chain%s"},
	ExtraChain:    {Code: "drift.extra-chain", Severity: report.Error, Format: "extra chain%s"},
	ChangedChain:  {Code: "drift.changed-chain", Severity: report.Error, Format: "changed chain%s"},
	MissingJump:   {Code: "drift.missing-jump", Severity: report.Error, Format: "missing jump%s"},
	JumpNotFirst:  {Code: "drift.jump-not-first", Severity: report.Error, Format: "jump not first%s"},
	ForeignAccept: {Code: "drift.foreign-accept", Severity: report.Error, Format: "foreign accept before rampart's jump%s"},
	MissingSet:    {Code: "drift.missing-set", Severity: report.Error, Format: "missing set%s"},
	ExtraSet:      {Code: "drift.extra-set", Severity: report.Error, Format: "extra set%s"},
	ChangedSet:    {Code: "drift.changed-set", Severity: report.Error, Format: "changed set%s"},
	MissingMember: {Code: "drift.missing-member", Severity: report.Error, Format: "missing member%s"},
	ExtraMember:   {Code: "drift.extra-member", Severity: report.Error, Format: "extra member%s"},
	MissingTable:  {Code: "drift.missing-table", Severity: report.Error, Format: "missing table%s"},
	Failsafe:      {Code: "drift.failsafe", Severity: report.Error, Format: "failsafe%s"},
}
