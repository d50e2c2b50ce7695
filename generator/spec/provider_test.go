package spec_test

import (
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestProviderFixtures: the provider sections of the bundled fixtures decode
// to the values written, with the defaults filled in.
func TestProviderFixtures(t *testing.T) {
	aws, err := spec.LoadFile("../../fixtures/dcos-aws.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if aws.Provider.Name() != "aws" || aws.Provider.Packet != nil {
		t.Fatalf("dcos-aws: provider %q, want aws only", aws.Provider.Name())
	}
	want := spec.AWS{Region: "us-east-1", VPC: "vpc-0a1b2c3d4e5f60718", Bucket: "dcos-aws-ignition", RuleQuota: spec.DefaultRuleQuota}
	got := *aws.Provider.AWS
	got.Pos = spec.Pos{}
	if got != want {
		t.Errorf("dcos-aws: provider.aws = %+v, want %+v", got, want)
	}
	if aws.Provider.AWS.Pos.Line == 0 {
		t.Error("dcos-aws: provider.aws has no position")
	}

	pk, err := spec.LoadFile("../../fixtures/dcos-packet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if pk.Provider.Name() != "packet" || pk.Provider.AWS != nil {
		t.Fatalf("dcos-packet: provider %q, want packet only", pk.Provider.Name())
	}
	wantP := spec.Packet{Project: "1f0c2a4e-3b5d-4c6e-8f70-123456789abc", Metro: "da", Plan: "c3.small.x86", OS: "flatcar_stable"}
	gotP := *pk.Provider.Packet
	gotP.Pos = spec.Pos{}
	if gotP != wantP {
		t.Errorf("dcos-packet: provider.packet = %+v, want %+v", gotP, wantP)
	}

	none, err := spec.LoadFile("../../fixtures/coreos-web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if none.Provider.Name() != "" {
		t.Errorf("coreos-web names provider %q, want none", none.Provider.Name())
	}
}

// TestRuleQuotaSetting: rule_quota overrides AWS's default.
func TestRuleQuotaSetting(t *testing.T) {
	s, err := spec.Parse("t.yaml", []byte(`version: 1
cluster: c
roles:
  web: {zone: public}
provider:
  aws: {region: eu-central-1, vpc: vpc-0a1b2c3d, rule_quota: 120}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Provider.AWS.RuleQuota != 120 {
		t.Errorf("rule_quota = %d, want 120", s.Provider.AWS.RuleQuota)
	}
}
