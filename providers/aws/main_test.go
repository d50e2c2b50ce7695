package aws

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/aws/mototest"
	"github.com/rampart-cluster/rampart/providers/delivery/deliverytest"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
)

// One moto_server for the package: moto's state is global, so the tests
// that use it run one after the other and reset it first.
var (
	moto    *mototest.Server
	motoErr error
)

func TestMain(m *testing.M) {
	moto, motoErr = mototest.Start()
	if moto != nil {
		if err := moto.Setenv(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if moto != nil {
		moto.Close()
	}
	os.Exit(code)
}

// env is a reset moto with a VPC and the fixture's bucket, and a counting
// client.
type env struct {
	t      *testing.T
	ctx    context.Context
	client *Client
	calls  *mototest.Calls
	vpc    string
	dir    string // the tree (out) and state directory (state) of machinesOf
}

func newEnv(t *testing.T) *env {
	mototest.Require(t, moto, motoErr)
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, calls: &mototest.Calls{}}
	var err error
	e.client, err = NewClient(ctx, "us-east-1", e.calls.Option)
	if err != nil {
		t.Fatal(err)
	}
	vpc, err := e.client.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: awssdk.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	e.vpc = awssdk.ToString(vpc.Vpc.VpcId)
	if _, err := e.client.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: awssdk.String("dcos-aws-ignition")}); err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	return e
}

// spec loads fixtures/dcos-aws.yaml with the VPC moto made and the edits
// (old, new) applied; every edit must apply.
func (e *env) spec(edits ...string) *spec.Spec {
	e.t.Helper()
	data, err := os.ReadFile("../../fixtures/dcos-aws.yaml")
	if err != nil {
		e.t.Fatal(err)
	}
	text := string(data)
	edits = append([]string{"vpc-0a1b2c3d4e5f60718", e.vpc}, edits...)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			e.t.Fatalf("the fixture has no %q to edit", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	path := filepath.Join(e.t.TempDir(), "dcos-aws.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	s, err := spec.LoadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// machinesOf runs gen for the spec into a tree and a state directory made
// for the test (the same for every spec of one test: one etcd CA) and
// returns the machines delivered from them, as push does.
func (e *env) machinesOf(s *spec.Spec) []Machine {
	e.t.Helper()
	if e.dir == "" {
		e.dir = e.t.TempDir()
	}
	return delivered(e.t, s, filepath.Join(e.dir, "out"), filepath.Join(e.dir, "state"))
}

// delivered runs gen for the spec into tree and state, and returns the
// machines delivered from them (reviewed.Machines, as push does).
func delivered(t *testing.T, s *spec.Spec, tree, state string) []Machine {
	t.Helper()
	deliverytest.Gen(t, s, tree, state)
	ms, err := reviewed.Machines(s, tree, pki.Open(state))
	if err != nil {
		t.Fatal(err)
	}
	return Machines(ms)
}

// pointerFor makes the pointer configs of the spec's OS, as push does.
func pointerFor(s *spec.Spec) PointerFunc {
	target := boot.Target{Variant: s.OS.Variant, Version: s.OS.Version}
	return func(source string, config []byte) ([]byte, error) {
		return boot.PointerConfig(target, source, config)
	}
}

// desire compiles the spec with the machines of its state; failures are fatal.
// desireSpec is Desire over a spec: its compiled policy and its
// provider.aws section, copied as push aws copies them.
func desireSpec(s *spec.Spec, machines []Machine, pointer PointerFunc) (*Desired, error) {
	return Desire(policy.Compile(s), settingsOf(s), machines, pointer)
}

// settingsOf copies the spec's provider.aws section; nil when it has none.
func settingsOf(s *spec.Spec) *Settings {
	a := s.Provider.AWS
	if a == nil {
		return nil
	}
	return &Settings{Region: a.Region, VPC: a.VPC, Bucket: a.Bucket, RuleQuota: a.RuleQuota}
}

func (e *env) desire(s *spec.Spec) *Desired {
	e.t.Helper()
	d, err := desireSpec(s, e.machinesOf(s), pointerFor(s))
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// plan compiles the spec with its machines and plans; failures are fatal.
func (e *env) plan(s *spec.Spec, machines []Machine, roles ...string) *Plan {
	e.t.Helper()
	d, err := desireSpec(s, machines, pointerFor(s))
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.client.Plan(e.ctx, d, PlanOptions{Roles: roles})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// push plans and applies; it returns the plan and what was done.
func (e *env) push(s *spec.Spec, machines []Machine, roles ...string) (*Plan, []Change) {
	e.t.Helper()
	p := e.plan(s, machines, roles...)
	done, err := e.client.Apply(e.ctx, p)
	if err != nil {
		e.t.Fatalf("apply: %v\ndone: %v", err, done)
	}
	return p, done
}

// describedGroups reads the VPC's security groups back, by name.
func (e *env) describedGroups() map[string]ec2types.SecurityGroup {
	e.t.Helper()
	out, err := e.client.EC2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: awssdk.String("vpc-id"), Values: []string{e.vpc}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]ec2types.SecurityGroup{}
	for _, g := range out.SecurityGroups {
		m[awssdk.ToString(g.GroupName)] = g
	}
	return m
}
