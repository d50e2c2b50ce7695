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

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/aws/mototest"
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
	state  *pki.State
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

// machinesOf is the final userdata of the spec's machines, with a state
// directory made for the test (the same for every spec of one test).
func (e *env) machinesOf(s *spec.Spec) []Machine {
	e.t.Helper()
	if e.state == nil {
		e.state = pki.Open(e.t.TempDir())
	}
	if _, err := e.state.Ensure(s.Cluster, gen.EtcdMembers(s)); err != nil {
		e.t.Fatal(err)
	}
	ms, err := MachinesFromState(s, e.state)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

// desire compiles the spec with the machines of its state; failures are fatal.
func (e *env) desire(s *spec.Spec) *Desired {
	e.t.Helper()
	d, err := Desire(s, e.machinesOf(s))
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// plan compiles the spec with its machines and plans; failures are fatal.
func (e *env) plan(s *spec.Spec, machines []Machine, roles ...string) *Plan {
	e.t.Helper()
	d, err := Desire(s, machines)
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
