package aws

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
)

// UserdataLimit is the most EC2 accepts as userdata, counted before base64.
const UserdataLimit = 16 * 1024

// QuotaError says a security group would hold more inbound rules of one
// family than the quota allows. It is returned before any call to AWS for
// rampart's own rules, and before any change when the rules rampart leaves
// alone (Foreign of them) push a group over.
type QuotaError struct {
	Group   string        // the security group's name, <cluster>-<role>
	Family  policy.Family // the family over the quota
	Count   int           // inbound rules of the family the group would hold, Foreign included
	Foreign int           // how many of Count are rules rampart does not own
	Quota   int           // inbound rules allowed per group and family (provider.aws.rule_quota)
}

// Error names the group, the family, the count and the quota.
func (e *QuotaError) Error() string {
	foreign := ""
	if e.Foreign > 0 {
		foreign = fmt.Sprintf(", %d of them not rampart's (listed as warnings)", e.Foreign)
	}
	return fmt.Sprintf("security group %s needs %d %s inbound rules%s, over the quota of %d per family (provider.aws.rule_quota; a rule that references a group counts in both families)",
		e.Group, e.Count, e.Family, foreign, e.Quota)
}

// RuleLimitError says AWS refused to add rules to a security group because
// the group would hold more than the account allows, although the plan kept
// within provider.aws.rule_quota: the account's limit is lower than the
// quota rampart checks (or counts differently). Pushing again fails the same
// way; the quota must come down to the account's limit, or the limit up.
type RuleLimitError struct {
	Group string // the security group's name
	Quota int    // provider.aws.rule_quota, which the plan kept within
	Err   error  // AWS's answer (RulesPerSecurityGroupLimitExceeded)
}

// Error says what to change; pushing again unchanged does not help.
func (e *RuleLimitError) Error() string {
	return fmt.Sprintf("AWS refused more rules in security group %s (%v): the account's limit of rules per security group is below provider.aws.rule_quota (%d), which the plan kept within; set rule_quota to the account's limit (Service Quotas: \"Inbound or outbound rules per security group\") so the plan catches it before any change, or have AWS raise the limit; pushing again unchanged fails the same way",
		e.Group, e.Err, e.Quota)
}

// Unwrap is AWS's answer.
func (e *RuleLimitError) Unwrap() error { return e.Err }

// ClusterError says that groups or launch templates rampart would adopt by
// name belong to another cluster: their rampart:cluster tag names it. Names
// are <cluster>-<role>, so two clusters can collide (cluster dcos with role
// aws-agent, cluster dcos-aws with role agent: both dcos-aws-agent).
// Plan returns it before any change; rampart does not guess.
type ClusterError struct {
	Cluster   string   // the cluster being pushed
	Conflicts []string // one line per group or template: its name, id and owner
}

// Error lists the conflicts and what to do.
func (e *ClusterError) Error() string {
	return fmt.Sprintf("cluster %s: %s; their names collide with this cluster's <cluster>-<role|node> names: rename a role, a node or the cluster (or, if one of them really is this cluster's, retag it %s=%s by hand); nothing was changed",
		e.Cluster, strings.Join(e.Conflicts, "; "), TagCluster, e.Cluster)
}

// CAError says that launch templates at AWS are tagged with another etcd CA
// than the one the machines' userdata carries: the push reads another state
// directory than the cluster was made with, and its etcd members and clients
// would boot with keys the running cluster does not trust. Plan returns it
// before any change unless PlanOptions.NewCA is set.
type CAError struct {
	CA        string            // the machines' CA (TagEtcdCA form)
	Templates map[string]string // template name -> the CA it is tagged with
}

// Error names the templates and both fingerprints, and what to do.
func (e *CAError) Error() string {
	names := slices.Sorted(maps.Keys(e.Templates))
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s (%s=%s)", n, TagEtcdCA, e.Templates[n]))
	}
	return fmt.Sprintf("launch templates %s were pushed with another etcd CA than the state directory's (%s): machines booted from the new userdata could not join the running etcd cluster. If this cluster was generated before, point --state at its state directory; to replace the cluster's CA on purpose, push with --new-ca",
		strings.Join(parts, ", "), e.CA)
}

// PublicBucketError says the bucket that would receive etcd keys is
// public. Plan returns it before any change.
type PublicBucketError struct {
	Bucket  string   // provider.aws.bucket
	Reasons []string // what makes it public: its policy, its ACL
}

// Error names the bucket and why it is public.
func (e *PublicBucketError) Error() string {
	return fmt.Sprintf("bucket %s (provider.aws.bucket) is public: %s; rampart does not upload etcd keys to it: make the bucket private (S3 Block Public Access) and give only the instances read access",
		e.Bucket, strings.Join(e.Reasons, "; "))
}

// KeysInUserdataError says that launch templates would carry etcd private
// keys in their userdata itself: anyone allowed
// ec2:DescribeLaunchTemplateVersions could read them. The way out is a
// private bucket (provider.aws.bucket), where the Ignition configs with
// keys go behind a pointer config. Plan returns it before any call to AWS
// unless PlanOptions.AllowKeysInUserdata.
type KeysInUserdataError struct {
	Templates   []string // the launch templates' names, in the machines' order
	CloudConfig bool     // some of them are cloud-config, which has no pointer form
}

// Error names the templates, who could read the keys and what to do.
func (e *KeysInUserdataError) Error() string {
	way := "set provider.aws.bucket to a private bucket (S3 Block Public Access on, read access for the instances only): the Ignition configs with the keys then go there behind a pointer config"
	if e.CloudConfig {
		way = "generate Ignition (outputs: [ignition]; cloud-config has no pointer form) and set provider.aws.bucket to a private bucket (S3 Block Public Access on, read access for the instances only): the configs with the keys then go there behind a pointer config"
	}
	return fmt.Sprintf("launch templates %s would carry etcd private keys in their userdata, readable by anyone allowed ec2:DescribeLaunchTemplateVersions: %s, or push with --allow-keys-in-userdata to accept it; nothing was changed",
		strings.Join(e.Templates, ", "), way)
}

// TooLargeError says a machine's userdata is over EC2's limit and cannot go
// to S3: the spec names no bucket, or the userdata is a cloud-config, which
// has no pointer form.
type TooLargeError struct {
	Template string // the launch template's name, <cluster>-<role> or <cluster>-<node>
	Size     int    // the userdata's size in bytes, before base64
	Format   string // FormatIgnition or FormatCloudConfig
}

// Error names the template, the size and the limit.
func (e *TooLargeError) Error() string {
	if e.Format != FormatIgnition {
		return fmt.Sprintf("launch template %s: the %s userdata is %d bytes, over EC2's limit of %d bytes, and only Ignition can be put behind a pointer in S3",
			e.Template, e.Format, e.Size, UserdataLimit)
	}
	return fmt.Sprintf("launch template %s: userdata is %d bytes, over EC2's limit of %d bytes; set provider.aws.bucket so the Ignition config goes to S3 and the userdata becomes a pointer to it",
		e.Template, e.Size, UserdataLimit)
}

// Errors callers may test for with errors.Is.
var (
	// ErrNoProvider: the spec has no provider.aws section.
	ErrNoProvider = errors.New("the spec has no provider.aws section: name the region and VPC to push to")
	// ErrGroupMissing: --role names a role whose group references a group
	// that does not exist yet.
	ErrGroupMissing = errors.New("does not exist yet; push without --role first")
)
