package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/aws"
	"github.com/rampart-cluster/rampart/providers/aws/mototest"
	"github.com/rampart-cluster/rampart/providers/delivery"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
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
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")

	// nothing to deliver before gen: no tree
	if code, _, stderr := run("push", "aws", "-f", file, "--tree", tree, "--state", state); code != 1 ||
		!strings.Contains(stderr, tree+" is no output tree") || !strings.Contains(stderr, "run rampart gen -f "+file+" -o "+tree+" --state "+state) {
		t.Fatalf("push before gen: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run("gen", "-f", file, "-o", tree, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, stderr)
	}
	// the hint must not send anyone to make a new CA for a running cluster
	if code, _, stderr := run("push", "aws", "-f", file, "--tree", tree, "--state", filepath.Join(dir, "no-state")); code != 1 ||
		!strings.Contains(stderr, "if this cluster was generated before, point --state at its state directory (now "+filepath.Join(dir, "no-state")+"; it is relative to the current directory)") ||
		!strings.Contains(stderr, "rampart gen creates a new CA only for a new cluster") {
		t.Fatalf("push with an empty state: exit %d, %q", code, stderr)
	}
	if all := counter.All(); len(all) != 0 {
		t.Fatalf("push without a tree or state called AWS: %v", all)
	}

	code, stdout, stderr := run("push", "aws", "-f", file, "--tree", tree, "--state", state, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "plan: ") || !strings.Contains(stdout, "+ create security-group dcos-aws-master") ||
		!strings.Contains(stdout, "+ create launch-template dcos-aws-master-a") || !strings.Contains(stdout, "dry run: nothing was changed") {
		t.Fatalf("--dry-run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if m := take(counter); len(m) != 0 {
		t.Errorf("--dry-run made mutating calls %v", m)
	}

	code, stdout, stderr = run("push", "aws", "-f", file, "--tree", tree, "--state", state, "-o", "json")
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

	code, stdout, stderr = run("push", "aws", "-f", file, "--tree", tree, "--state", state)
	if code != 0 || !strings.Contains(stdout, "plan: no changes: AWS matches the spec") {
		t.Errorf("second push: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if m := take(counter); len(m) != 0 {
		t.Errorf("second push made mutating calls %v", m)
	}
	// what was pushed is what gen wrote, byte for byte: the agents' userdata
	// from the tree, the members' (behind the pointer: keys go to the
	// bucket) from the state's final userdata
	for name, file := range map[string]string{
		"dcos-aws-agent":    filepath.Join(tree, "roles", "agent", "ignition.json"),
		"dcos-aws-master-a": filepath.Join(state, "userdata", "nodes", "master-a", "ignition.json"),
	} {
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := bootsWith(t, ctx, client, name); !bytes.Equal(got, want) {
			t.Errorf("%s boots with %d bytes that are not %s (%d bytes)", name, len(got), file, len(want))
		}
	}

	// the spec changed after gen: the tree is stale, and push refuses it
	// before any call to AWS, naming the files and the way out
	changed := filepath.Join(dir, "changed.yaml")
	if err := os.WriteFile(changed, []byte(strings.Replace(text, "209.220.51.50/32", "209.220.51.51/32", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	code, stdout, stderr = run("push", "aws", "-f", changed, "--tree", tree, "--state", state)
	if code != 1 || !strings.Contains(stderr, "push aws: "+tree+" is stale: ") || !strings.Contains(stderr, filepath.Join(tree, "roles", "agent", "ignition.json")+": error: differs") ||
		!strings.Contains(stderr, filepath.Join(state, "userdata", "nodes", "master-a", "ignition.json")+": error: differs") ||
		!strings.Contains(stderr, "nothing was delivered; run rampart gen -f "+changed+" -o "+tree+" --state "+state+", review what changed") || strings.Contains(stdout, "plan:") {
		t.Errorf("push of a stale tree: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = run("push", "aws", "-f", changed, "--tree", tree, "--state", state, "-o", "json")
	rep = pushReport{}
	if err := json.Unmarshal([]byte(stdout), &rep); code != 1 || err != nil || !strings.Contains(rep.Error, " is stale: ") || len(rep.Plan) != 0 {
		t.Errorf("push -o json of a stale tree: exit %d, %v, %+v", code, err, rep)
	}
	if all := counter.All(); len(all) != 0 {
		t.Errorf("the push of a stale tree called AWS: %v", all)
	}

	// an unknown role is a usage error, found before the state directory is read
	if code, _, stderr := run("push", "aws", "-f", file, "--state", filepath.Join(dir, "no-state"), "--role", "bootstrap"); code != 2 ||
		!strings.Contains(stderr, "--role bootstrap: not a role of cluster dcos-aws (roles: master, agent, public-agent)") {
		t.Errorf("--role bootstrap: exit %d, %q", code, stderr)
	}

	// another state directory, another CA: refused before any change, unless --new-ca
	other, otherTree := filepath.Join(dir, "other-state"), filepath.Join(dir, "other-out")
	if code, _, stderr := run("gen", "-f", file, "-o", otherTree, "--state", other); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, stderr)
	}
	take(counter)
	code, stdout, stderr = run("push", "aws", "-f", file, "--tree", otherTree, "--state", other)
	if code != 1 || !strings.Contains(stderr, "dcos-aws-master-a (rampart:etcd-ca=") || !strings.Contains(stderr, "were pushed with another etcd CA than the state directory's") ||
		!strings.Contains(stderr, "(the state directory: "+other+")") {
		t.Errorf("push from another state: exit %d, %q", code, stderr)
	}
	// -o json prints its report when the plan fails, the error in it
	code, stdout, _ = run("push", "aws", "-f", file, "--tree", otherTree, "--state", other, "-o", "json")
	rep = pushReport{}
	if err := json.Unmarshal([]byte(stdout), &rep); code != 1 || err != nil || rep.Cluster != "dcos-aws" || !strings.Contains(rep.Error, "were pushed with another etcd CA") || len(rep.Applied) != 0 {
		t.Errorf("push -o json from another state: exit %d, %v, %+v", code, err, rep)
	}
	if m := take(counter); len(m) != 0 {
		t.Errorf("the refused push made mutating calls %v", m)
	}
	if code, stdout, stderr := run("push", "aws", "-f", file, "--tree", otherTree, "--state", other, "--new-ca"); code != 0 || !strings.Contains(stdout, "~ tag launch-template dcos-aws-master-a: rampart:etcd-ca=") {
		t.Errorf("push --new-ca: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// and when Desire fails (a quota the groups do not fit)
	small := filepath.Join(dir, "small-quota.yaml")
	if err := os.WriteFile(small, []byte(strings.Replace(text, "bucket: dcos-aws-ignition", "bucket: dcos-aws-ignition\n    rule_quota: 5", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run("push", "aws", "-f", small, "--tree", otherTree, "--state", other, "-o", "json")
	rep = pushReport{}
	if err := json.Unmarshal([]byte(stdout), &rep); code != 1 || err != nil || rep.Region != "us-east-1" || !strings.Contains(rep.Error, "over the quota of 5") {
		t.Errorf("push -o json over the quota: exit %d, %v, %+v", code, err, rep)
	}

	// a rule by hand that opens Marathon to the world: rampart's changes
	// are made, the rule stays, and push exits 1 unless told to accept it
	groups, err := client.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: awssdk.String("group-name"), Values: []string{"dcos-aws-master"}}}})
	if err != nil || len(groups.SecurityGroups) != 1 {
		t.Fatalf("the masters' group: %v", err)
	}
	master := groups.SecurityGroups[0].GroupId
	if _, err := client.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: master, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(8080), ToPort: awssdk.Int32(8080), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: master, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(22), ToPort: awssdk.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("209.220.51.50/32")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	exposed := "security group dcos-aws-master: ingress rule tcp 8080 from 0.0.0.0/0 (\"\") opens unauthenticated control-plane ports to the world (Marathon tcp 8080)"
	code, stdout, stderr = run("push", "aws", "-f", file, "--tree", otherTree, "--state", other)
	if code != 1 || !strings.Contains(stdout, "\nerror: roles.master: "+exposed) || !strings.Contains(stdout, "applied 1 of 1 change(s):\n  + authorize ingress dcos-aws-master: tcp 22 from 209.220.51.50/32") ||
		!strings.Contains(stderr, "1 rule(s) rampart does not own open an unauthenticated control-plane port to the world") {
		t.Errorf("push with Marathon open to the world: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = run("push", "aws", "-f", file, "--tree", otherTree, "--state", other, "--allow-foreign-exposure", "-o", "json")
	rep = pushReport{}
	err = json.Unmarshal([]byte(stdout), &rep)
	// the exposure is one entry of the report, accepted: a warning
	var exposures []report.Entry
	for _, e := range rep.Entries {
		if e.Code == "aws.foreign-exposure" {
			exposures = append(exposures, e)
		}
	}
	if code != 0 || err != nil || len(exposures) != 1 || exposures[0].Severity != report.Warning || exposures[0].Path.String() != "roles.master" ||
		!strings.HasPrefix(exposures[0].Message, exposed) || !strings.HasSuffix(exposures[0].Message, " (accepted with --allow-foreign-exposure)") || len(rep.Plan) != 0 {
		t.Errorf("push --allow-foreign-exposure: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
}

// TestPushAWSKeysInUserdata: without a bucket the etcd members' keys would
// land in their launch templates' userdata: push refuses before any change
// (moto holds no group and no template afterwards), says how to get out
// (a private bucket) and, with -o json, carries the error in the report;
// --allow-keys-in-userdata accepts it with a warning. The machines' userdata
// is replaced by small stand-ins (a fake key in the members'): the real one
// may outgrow EC2's 16 KB as the firewall grows, and is then refused as too
// large before its keys matter.
func TestPushAWSKeysInUserdata(t *testing.T) {
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
	deliveredMachines = func(s *spec.Spec, tree string, st *pki.State) ([]delivery.Machine, error) {
		ms, err := reviewed.Machines(s, tree, st)
		for i := range ms {
			ms[i].Userdata[delivery.FormatIgnition] = []byte(`{"ignition":{"version":"3.3.0"}}`)
			if ms[i].EtcdCA != "" {
				ms[i].Userdata[delivery.FormatIgnition] = []byte(`{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/ssl/certs/etcd/server.key","contents":{"source":"data:,stand-in"},"mode":384}]}}`)
			}
		}
		return ms, err
	}
	defer func() { deliveredMachines = reviewed.Machines }()

	ctx := context.Background()
	client, err := aws.NewClient(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	vpc, err := client.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: awssdk.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../../fixtures/dcos-aws.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "dcos-aws.yaml")
	text := strings.Replace(string(data), "vpc-0a1b2c3d4e5f60718", awssdk.ToString(vpc.Vpc.VpcId), 1)
	text = strings.Replace(text, "    bucket: dcos-aws-ignition       # Ignition over 16 KB goes here\n", "", 1)
	if strings.Contains(text, "bucket:") {
		t.Fatal("the fixture's bucket line moved: the test needs a spec without a bucket")
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	if code, _, stderr := run("gen", "-f", file, "-o", tree, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, stderr)
	}
	// the state of moto, as the test reads it: rampart's groups and every template
	made := func() (groups, templates []string) {
		t.Helper()
		g, err := client.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: awssdk.String("vpc-id"), Values: []string{awssdk.ToString(vpc.Vpc.VpcId)}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, sg := range g.SecurityGroups {
			if name := awssdk.ToString(sg.GroupName); name != "default" {
				groups = append(groups, name)
			}
		}
		lt, err := client.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lt.LaunchTemplates {
			templates = append(templates, awssdk.ToString(l.LaunchTemplateName))
		}
		return groups, templates
	}
	take(counter)

	refused := "launch templates dcos-aws-master-a, dcos-aws-master-b, dcos-aws-master-c would carry etcd private keys in their userdata, readable by anyone allowed ec2:DescribeLaunchTemplateVersions: set provider.aws.bucket to a private bucket"
	code, stdout, stderr := run("push", "aws", "-f", file, "--tree", tree, "--state", state)
	if code != 1 || !strings.Contains(stderr, "push aws: "+refused) || !strings.Contains(stderr, "--allow-keys-in-userdata") || strings.Contains(stdout, "applied") {
		t.Errorf("push with keys and no bucket: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = run("push", "aws", "-f", file, "--tree", tree, "--state", state, "-o", "json")
	var rep pushReport
	if err := json.Unmarshal([]byte(stdout), &rep); code != 1 || err != nil || !strings.HasPrefix(rep.Error, "push aws: "+refused) || len(rep.Applied) != 0 || len(rep.Plan) != 0 {
		t.Errorf("push -o json with keys and no bucket: exit %d, %v, %+v", code, err, rep)
	}
	if all := counter.All(); len(all) != 0 {
		t.Errorf("the refused pushes called AWS: %v", all)
	}
	if groups, templates := made(); len(groups) != 0 || len(templates) != 0 {
		t.Errorf("after the refused pushes: groups %v, launch templates %v", groups, templates)
	}

	code, stdout, stderr = run("push", "aws", "-f", file, "--tree", tree, "--state", state, "--allow-keys-in-userdata")
	if code != 0 || !strings.Contains(stdout, "warning: launch templates dcos-aws-master-a, dcos-aws-master-b, dcos-aws-master-c carry etcd private keys in their userdata") ||
		!strings.Contains(stdout, "+ create launch-template dcos-aws-master-a: ") || !strings.Contains(stdout, "instance metadata v2 required with hop limit 1") {
		t.Errorf("push --allow-keys-in-userdata: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if groups, templates := made(); len(groups) != 3 || len(templates) != 5 {
		t.Errorf("after push --allow-keys-in-userdata: groups %v, launch templates %v", groups, templates)
	}

	if code, stdout, _ := run("push", "aws", "--help"); code != 0 || !strings.Contains(stdout, "--allow-keys-in-userdata") || !strings.Contains(stdout, "HttpPutResponseHopLimit") {
		t.Errorf("push aws --help: exit %d\n%s", code, stdout)
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

// bootsWith is the userdata of the default version of the launch template
// named, or, where that is a pointer config to S3, the object it points to.
func bootsWith(t *testing.T, ctx context.Context, client *aws.Client, name string) []byte {
	t.Helper()
	v, err := client.EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: awssdk.String(name), Versions: []string{"$Default"}})
	if err != nil || len(v.LaunchTemplateVersions) != 1 {
		t.Fatalf("%s: %v", name, err)
	}
	raw, err := base64.StdEncoding.DecodeString(awssdk.ToString(v.LaunchTemplateVersions[0].LaunchTemplateData.UserData))
	if err != nil {
		t.Fatal(err)
	}
	var ptr struct {
		Ignition struct {
			Config struct{ Replace struct{ Source string } }
		}
	}
	src := ""
	if json.Unmarshal(raw, &ptr) == nil {
		src = ptr.Ignition.Config.Replace.Source
	}
	if src == "" {
		return raw
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(src, "s3://"), "/")
	obj, err := client.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key}, func(o *s3.Options) {
		o.ResponseChecksumValidation = awssdk.ResponseChecksumValidationWhenRequired
	})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// take returns the mutating calls counted so far and starts counting anew.
func take(c *mototest.Calls) []string {
	defer c.Reset()
	return c.Mutating()
}
