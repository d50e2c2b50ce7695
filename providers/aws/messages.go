package aws

import "github.com/rampart-cluster/rampart/generator/report"

// What a plan tells people, in one place. Warnings say where a security
// group admits less than the host firewall, and what rampart leaves alone
// at AWS; the one error, a rule rampart does not own that opens an
// unauthenticated control-plane port to the world, does not stop the plan:
// `push aws` applies it, then exits 1 (unless --allow-foreign-exposure).
var (
	msgPartOfRoleDenied  = report.Message{Code: "aws.group-denies-whole-role", Severity: report.Warning, Format: "security group %s: %q (%s) denies part of role %s's members; security group %s denies it for every member of %s"}
	msgICMPTypes         = report.Message{Code: "aws.icmp-types", Severity: report.Warning, Format: "security group %s: %q from %s admits %d %s types (all but echo, or those a rule denies); security group %s admits none of them (a group holds one rule per ICMP type)"}
	msgProtocolsButPorts = report.Message{Code: "aws.protocols-but-ports", Severity: report.Warning, Format: "security group %s: %q from %s admits every IP protocol but some ports or ICMP types; the group admits only TCP, UDP and ICMP from it (a group cannot allow all protocols but some ports)"}
	msgSCTPPorts         = report.Message{Code: "aws.sctp-ports", Severity: report.Warning, Format: "security group %s: %q from %s admits SCTP ports %s; the group admits no SCTP from it (AWS cannot limit SCTP to ports)"}
	msgProtocols         = report.Message{Code: "aws.protocols", Severity: report.Warning, Format: "security group %s: %q from %s admits %d IP protocols besides TCP, UDP, SCTP and ICMP (%s); the group admits none of them (a group holds one rule per protocol)"}
	msgRevokeFirst       = report.Message{Code: "aws.revoke-first", Severity: report.Warning, Format: "security group %s: adding the new %s rules before revoking the old would hold %d %s rules, over the quota of %d: rampart revokes its %d %s rules no longer wanted first, so the group briefly admits less, never more"}
	msgOrphanGroup       = report.Message{Code: "aws.orphan-group", Severity: report.Warning, Format: "security group %s (%s) is tagged %s=%s but belongs to no role of the spec; rampart leaves it: delete it when no instance uses it"}
	msgForeignRule       = report.Message{Code: "aws.foreign-rule", Severity: report.Warning, Format: "security group %s: %s rule %s from %s (%q) is not rampart's: left alone"}
	// MsgForeignExposure is the finding push aws accepts with
	// --allow-foreign-exposure.
	MsgForeignExposure    = report.Message{Code: "aws.foreign-exposure", Severity: report.Error, Format: "security group %s: ingress rule %s from %s (%q) opens unauthenticated control-plane ports to the world (%s); it is not rampart's, so rampart leaves it: revoke it by hand"}
	msgKeysInUserdata     = report.Message{Code: "aws.keys-in-userdata", Severity: report.Warning, Format: "launch templates %s carry etcd private keys in their userdata, readable by anyone who can describe launch templates (ec2:DescribeLaunchTemplateVersions), accepted with --allow-keys-in-userdata: with provider.aws.bucket set (a private bucket) and Ignition userdata, the keys go to S3 behind a pointer config instead, readable only by those the bucket allows"}
	msgBucketPublicAccess = report.Message{Code: "aws.bucket-public-access-block", Severity: report.Warning, Format: "bucket %s holds etcd keys and is private, but does not block public access (S3 Block Public Access, all four settings): turn it on so no later policy or ACL can expose them"}
)
