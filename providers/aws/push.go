// Package aws reconciles a cluster's AWS side with its spec: one security
// group per role, compiled from the same policy IR as the host firewall, and
// one launch template per role (or per node with its own identity) carrying
// the machine's userdata, with Ignition configs over EC2's 16 KB limit put in
// S3 behind a pointer config. It also reads instances back into the spec's
// `nodes:` section (inventory).
//
// Push reads what exists, computes the difference, returns it as a plan, and
// applies only that; a second push with the same input changes nothing.
// Rules rampart owns carry descriptions starting with "rampart:"; every other
// rule is left alone and listed as a warning.
package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/providers/delivery"
)

// Tag keys rampart puts on what it creates.
const (
	TagCluster = "rampart:cluster"
	TagRole    = "rampart:role"
	TagNode    = "rampart:node"
	// TagEtcdCA is on the launch templates of machines whose userdata
	// carries etcd keys: the first 16 hex digits of the etcd CA's
	// fingerprint (pki.Fingerprint), so a push from another state directory
	// (another CA) is caught before it replaces their userdata.
	TagEtcdCA = "rampart:etcd-ca"
)

// Userdata formats.
const (
	FormatIgnition    = delivery.FormatIgnition
	FormatCloudConfig = delivery.FormatCloudConfig
)

// Machine is the userdata of one launch template: a role's, or a node's
// where the node has its own identity.
type Machine struct {
	Role     string // the role the machine boots as
	Node     string // "" for a role-wide template
	Format   string // FormatIgnition or FormatCloudConfig
	Userdata []byte // the final userdata, as the machine must boot with it
	// EtcdCA is, for a machine whose userdata carries etcd keys (an etcd
	// member's, or an etcd client role's), the first 16 hex digits of its
	// etcd CA's fingerprint; "" for a machine without keys.
	EtcdCA string
}

// Name is the role's name, or the node's where the machine is one node.
func (m Machine) Name() string {
	if m.Node != "" {
		return m.Node
	}
	return m.Role
}

// Template is the launch template a machine's userdata goes to.
type Template struct {
	Name     string  // <cluster>-<role> or <cluster>-<node>
	Role     string  // the machine's role: the template's security group and rampart:role tag
	Node     string  // the node's name (rampart:node tag); "" for a role-wide template
	Userdata []byte  // what EC2 gets (before base64): the machine's, or a pointer
	Object   *Object // the full Ignition config in S3, when Userdata is a pointer
	Size     int     // the machine's userdata size
	EtcdCA   string  // the machine's EtcdCA: "" when its userdata carries no keys
	Format   string  // the machine's userdata format: FormatIgnition or FormatCloudConfig
}

// KeysInUserdata reports whether the template's userdata itself carries
// etcd keys: the machine's has them and they are not behind a pointer to
// S3 (no bucket is set, or the userdata is a cloud-config).
func (t *Template) KeysInUserdata() bool { return t.EtcdCA != "" && t.Object == nil }

// Object is an S3 object push makes sure exists.
type Object struct {
	Bucket, Key string // provider.aws.bucket; <cluster>/<template>/<sha512 prefix>.ign
	Data        []byte // the full Ignition config
	SHA512      string // hex
	Keys        bool   // the config holds etcd private keys: the bucket must not be public
}

// URL is the object's s3:// URL.
func (o *Object) URL() string { return "s3://" + o.Bucket + "/" + o.Key }

// Desired is what push makes exist for a cluster.
type Desired struct {
	Cluster   string      // the cluster's name, used in names and the rampart:cluster tag
	Region    string      // the AWS region (provider.aws.region)
	VPC       string      // the id of the VPC the groups are in (provider.aws.vpc)
	Groups    *Groups     // one security group per role, quota checked
	Templates []*Template // one launch template per machine, in the machines' order
}

// PointerFunc makes the Ignition config that stands in for config in a
// launch template: it replaces itself with the config fetched from source,
// verified by config's sha512 (boot.PointerConfig for the spec's OS).
type PointerFunc func(source string, config []byte) ([]byte, error)

// Settings are the spec's provider.aws section, which the caller copies
// from the spec: where the cluster goes.
type Settings struct {
	Region    string // AWS region, e.g. us-east-1 (provider.aws.region)
	VPC       string // id of the VPC the groups are in (provider.aws.vpc)
	Bucket    string // S3 bucket for Ignition configs; "" for none (provider.aws.bucket)
	RuleQuota int    // inbound rules per security group and family (provider.aws.rule_quota)
}

// Desire compiles a policy, the provider settings and the machines'
// userdata into the desired state, without a call to AWS: the security
// groups (their quota checked), and the launch templates, with userdata
// over 16 KB, and Ignition userdata that carries etcd keys when the
// settings name a bucket, replaced by a pointer to S3 that pointer makes.
// Nil settings (the spec has no provider.aws section) are ErrNoProvider.
func Desire(p *policy.Policy, a *Settings, machines []Machine, pointer PointerFunc) (*Desired, error) {
	if a == nil {
		return nil, ErrNoProvider
	}
	groups, err := CompileGroups(p, a.RuleQuota)
	if err != nil {
		return nil, err
	}
	d := &Desired{Cluster: p.Cluster, Region: a.Region, VPC: a.VPC, Groups: groups}
	names := map[string]string{}
	for _, m := range machines {
		if p.Role(m.Role) == nil {
			return nil, fmt.Errorf("machine %s: role %q is not in the spec", m.Name(), m.Role)
		}
		t := &Template{Name: GroupName(p.Cluster, m.Name()), Role: m.Role, Node: m.Node, Userdata: m.Userdata, Size: len(m.Userdata), EtcdCA: m.EtcdCA, Format: m.Format}
		if other, ok := names[t.Name]; ok {
			return nil, fmt.Errorf("launch template %s would be both %s's and %s's: rename the node or the role", t.Name, other, m.Name())
		}
		names[t.Name] = m.Name()
		// userdata with etcd keys goes to the bucket whatever its size:
		// launch template userdata is readable by anyone allowed
		// ec2:DescribeLaunchTemplateVersions
		keys := m.EtcdCA != "" && a.Bucket != "" && m.Format == FormatIgnition
		if len(m.Userdata) > UserdataLimit || keys {
			if m.Format != FormatIgnition || a.Bucket == "" {
				return nil, &TooLargeError{Template: t.Name, Size: len(m.Userdata), Format: m.Format}
			}
			t.Object, t.Userdata, err = pointerTo(p.Cluster, a.Bucket, t.Name, m.Userdata, m.EtcdCA != "", pointer)
			if err != nil {
				return nil, fmt.Errorf("launch template %s: %w", t.Name, err)
			}
		}
		d.Templates = append(d.Templates, t)
	}
	return d, nil
}

// Client talks to EC2 and S3.
type Client struct {
	EC2 *ec2.Client // security groups, launch templates and instances
	S3  *s3.Client  // the bucket of Ignition configs over UserdataLimit; path-style with a custom endpoint
}

// MaxAttempts is how often a throttled or failed call is tried, with the
// standard retryer's exponential backoff between tries.
const MaxAttempts = 8

// NewClient loads the SDK's default configuration (environment, shared
// profiles, AWS_ENDPOINT_URL and the rest of the default chain) for the
// region ("": the chain's), with the standard retryer. apiOptions are added to every call's
// middleware stack (tests count calls with them).
func NewClient(ctx context.Context, region string, apiOptions ...func(*middleware.Stack) error) (*Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() awssdk.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = MaxAttempts })
		}),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	cfg.APIOptions = append(cfg.APIOptions, apiOptions...)
	return &Client{
		EC2: ec2.NewFromConfig(cfg),
		S3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = usePathStyle(cfg) }),
	}, nil
}

// usePathStyle: a custom endpoint (an emulator, a VPC endpoint by address)
// cannot serve bucket names as host names.
func usePathStyle(cfg awssdk.Config) bool {
	return cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != ""
}

// Change is one step of a plan: delivery's, so that every provider's
// plan reads alike.
type Change = delivery.Change

// Plan is the difference between what exists and what is desired.
type Plan struct {
	Desired *Desired // the state the plan leads to
	Changes []Change // in the order Apply makes them: groups and their rules, S3 objects, launch templates
	// Findings: warnings for the rules and groups rampart leaves alone and
	// what the plan cannot say; errors (MsgForeignExposure) for inbound
	// rules rampart does not own (and leaves alone) that open an
	// unauthenticated control-plane port (policy.Catalog's ControlPlane
	// services: Marathon, etcd, ZooKeeper, Mesos, ...) to 0.0.0.0/0 or
	// ::/0. They do not stop the plan; `push aws` applies it, then exits 1
	// unless --allow-foreign-exposure.
	Findings report.Report
	groups   []*groupPlan
	objects  []*Object
	tmpls    []*templatePlan
	ids      map[string]string // role -> group id, of the groups that exist
}

// PlanOptions narrow or loosen a plan.
type PlanOptions struct {
	// Roles limits the plan to the groups and templates of these roles
	// (nil: all of them).
	Roles []string
	// NewCA accepts launch templates tagged with another etcd CA than the
	// machines' (push aws --new-ca): the cluster's CA is being replaced on
	// purpose. Without it such a plan fails with a *CAError.
	NewCA bool
	// AllowKeysInUserdata accepts launch templates whose userdata itself
	// carries etcd keys (push aws --allow-keys-in-userdata): no bucket is
	// set, or the userdata is a cloud-config. Without it such a plan fails
	// with a *KeysInUserdataError before any call to AWS; with it the plan
	// warns.
	AllowKeysInUserdata bool
}

// Plan reads what exists and computes the changes; it changes nothing.
// What must not be pushed stops it: a group or template of another cluster
// (*ClusterError), templates pushed with another etcd CA (*CAError, unless
// opts.NewCA), etcd keys in launch template userdata (*KeysInUserdataError,
// before any call to AWS, unless opts.AllowKeysInUserdata), a public bucket
// for etcd keys (*PublicBucketError), a group over the quota with the rules
// rampart leaves alone (*QuotaError).
func (c *Client) Plan(ctx context.Context, d *Desired, opts PlanOptions) (*Plan, error) {
	roles := opts.Roles
	for _, r := range roles {
		if d.Groups.Group(r) == nil {
			return nil, fmt.Errorf("--role %s: not a role of cluster %s (roles: %s)", r, d.Cluster, strings.Join(roleNames(d), ", "))
		}
	}
	want := func(role string) bool { return len(roles) == 0 || slices.Contains(roles, role) }
	if !opts.AllowKeysInUserdata {
		if e := keysInUserdata(d, want); len(e.Templates) > 0 {
			return nil, e
		}
	}
	p := &Plan{Desired: d}
	if err := c.planGroups(ctx, p, want); err != nil {
		return nil, err
	}
	if err := c.planObjects(ctx, p, want); err != nil {
		return nil, err
	}
	if err := c.planTemplates(ctx, p, want, opts.NewCA); err != nil {
		return nil, err
	}
	return p, nil
}

// keysInUserdata lists the wanted templates whose userdata itself carries
// etcd keys.
func keysInUserdata(d *Desired, want func(string) bool) *KeysInUserdataError {
	e := &KeysInUserdataError{}
	for _, t := range d.Templates {
		if want(t.Role) && t.KeysInUserdata() {
			e.Templates = append(e.Templates, t.Name)
			e.CloudConfig = e.CloudConfig || t.Format == FormatCloudConfig
		}
	}
	return e
}

func roleNames(d *Desired) []string {
	var out []string
	for _, g := range d.Groups.Groups {
		out = append(out, g.Role)
	}
	return out
}

// Apply makes the plan's changes, in order: groups, their rules, S3 objects,
// launch templates. It returns the changes made, also when it fails half way.
func (c *Client) Apply(ctx context.Context, p *Plan) ([]Change, error) {
	var done []Change
	if err := c.applyGroups(ctx, p, &done); err != nil {
		return done, err
	}
	if err := c.applyObjects(ctx, p, &done); err != nil {
		return done, err
	}
	if err := c.applyTemplates(ctx, p, &done); err != nil {
		return done, err
	}
	return done, nil
}
