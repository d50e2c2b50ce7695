package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/rampart-cluster/rampart/providers/aws"
	"github.com/rampart-cluster/rampart/providers/aws/mototest"
)

func TestPushAWS(t *testing.T) {
	srv, err := mototest.Start()
	if srv != nil {
		defer srv.Close()
	}
	mototest.Require(t, srv, err)
	for k, v := range srv.Env() {
		t.Setenv(k, v)
	}
	counter := &mototest.Calls{}
	awsAPIOptions = []func(*middleware.Stack) error{counter.Option}
	defer func() { awsAPIOptions = nil }()

	ctx := context.Background()
	client, err := aws.NewClient(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	vpc, err := client.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: awssdk.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: awssdk.String("dcos-aws-ignition")}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../../fixtures/dcos-aws.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "dcos-aws.yaml")
	text := strings.Replace(string(data), "vpc-0a1b2c3d4e5f60718", awssdk.ToString(vpc.Vpc.VpcId), 1)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")

	// the hint must not send anyone to make a new CA for a running cluster
	if code, _, stderr := run("push", "aws", "-f", file, "--state", state); code != 1 ||
		!strings.Contains(stderr, "if this cluster was generated before, point --state at its state directory (not "+state+")") ||
		!strings.Contains(stderr, "creates a new CA, which is right only for a new cluster") {
		t.Fatalf("push before gen: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run("gen", "-f", file, "-o", filepath.Join(dir, "out"), "--state", state); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, stderr)
	}
	take(counter)

	code, stdout, stderr := run("push", "aws", "-f", file, "--state", state, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "plan: ") || !strings.Contains(stdout, "+ create security-group dcos-aws-master") ||
		!strings.Contains(stdout, "+ create launch-template dcos-aws-master-a") || !strings.Contains(stdout, "dry run: nothing was changed") {
		t.Fatalf("--dry-run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if m := take(counter); len(m) != 0 {
		t.Errorf("--dry-run made mutating calls %v", m)
	}

	code, stdout, stderr = run("push", "aws", "-f", file, "--state", state, "-o", "json")
	if code != 0 {
		t.Fatalf("push -o json: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep pushReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Cluster != "dcos-aws" || rep.Region != "us-east-1" || rep.DryRun || len(rep.Plan) == 0 || len(rep.Applied) != len(rep.Plan) || rep.Error != "" {
		t.Errorf("report: cluster %q region %q dry-run %v, %d planned, %d applied, error %q", rep.Cluster, rep.Region, rep.DryRun, len(rep.Plan), len(rep.Applied), rep.Error)
	}
	if len(take(counter)) == 0 {
		t.Error("push made no mutating call on an empty account")
	}

	code, stdout, stderr = run("push", "aws", "-f", file, "--state", state)
	if code != 0 || !strings.Contains(stdout, "plan: no changes: AWS matches the spec") {
		t.Errorf("second push: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if m := take(counter); len(m) != 0 {
		t.Errorf("second push made mutating calls %v", m)
	}

	if code, _, stderr := run("push", "aws", "-f", file, "--state", state, "--role", "bootstrap"); code != 1 || !strings.Contains(stderr, "--role bootstrap: not a role of cluster dcos-aws") {
		t.Errorf("--role bootstrap: exit %d, %q", code, stderr)
	}

	// another state directory, another CA: refused before any change, unless --new-ca
	other := filepath.Join(dir, "other-state")
	if code, _, stderr := run("gen", "-f", file, "-o", filepath.Join(dir, "other-out"), "--state", other); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, stderr)
	}
	take(counter)
	code, _, stderr = run("push", "aws", "-f", file, "--state", other)
	if code != 1 || !strings.Contains(stderr, "dcos-aws-master-a (rampart:etcd-ca=") || !strings.Contains(stderr, "were pushed with another etcd CA than the state directory's") ||
		!strings.Contains(stderr, "(the state directory: "+other+")") {
		t.Errorf("push from another state: exit %d, %q", code, stderr)
	}
	if m := take(counter); len(m) != 0 {
		t.Errorf("the refused push made mutating calls %v", m)
	}
	if code, stdout, stderr := run("push", "aws", "-f", file, "--state", other, "--new-ca"); code != 0 || !strings.Contains(stdout, "~ tag launch-template dcos-aws-master-a: rampart:etcd-ca=") {
		t.Errorf("push --new-ca: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestInventoryTerraformCLI prints the nodes section from a terraform output
// file and from standard input's absence of one.
func TestInventoryTerraformCLI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "output.json")
	doc := `{"rampart_nodes": {"value": {"web-1": {"role": "web", "public_ip": "198.51.100.7", "ipv6_addresses": ["2001:db8::7"]}}}}`
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("inventory", "terraform", "--file", file)
	want := "nodes:\n  - name: web-1\n    role: web\n    addresses: [198.51.100.7, \"2001:db8::7\"]\n"
	if code != 0 || stdout != want {
		t.Errorf("exit %d\n%q\nwant %q\n%s", code, stdout, want, stderr)
	}
	if code, _, stderr := run("inventory", "terraform", "--file", file, "--output", "nodes"); code != 1 || !strings.Contains(stderr, `terraform output "nodes" is missing`) {
		t.Errorf("--output nodes: exit %d, %q", code, stderr)
	}
}

// take returns the mutating calls counted so far and starts counting anew.
func take(c *mototest.Calls) []string {
	defer c.Reset()
	return c.Mutating()
}
