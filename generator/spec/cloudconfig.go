package spec

import "github.com/rampart-cluster/rampart/generator/report"

// CloudConfig says which program reads the cloud-config output.
type CloudConfig struct {
	// Flavor is cloud-config.flavor: FlavorCoreOS (the default for
	// flatcar) or FlavorCloudInit.
	Flavor string
	Pos    Pos // where cloud-config: was written, or the os's position when not given
}

// Values of cloud-config.flavor.
const (
	// FlavorCloudInit is cloud-init's cloud-config: write_files, packages
	// and runcmd.
	FlavorCloudInit = "cloud-init"
	// FlavorCoreOS is what Flatcar's coreos-cloudinit runs: write_files
	// and coreos.units; no packages, no runcmd.
	FlavorCoreOS = "coreos"
)

// buildCloudConfig defaults the flavour and refuses cloud-config for
// Fedora CoreOS, which reads none.
func (d *decoder) buildCloudConfig(s *Spec, r *raw) {
	s.CloudConfig = r.cloudConfig
	if s.CloudConfig.Pos.Line == 0 {
		s.CloudConfig.Pos = s.OS.Pos
	}
	if s.CloudConfig.Flavor == "" {
		s.CloudConfig.Flavor = FlavorCloudInit
		if s.OS.Variant == "flatcar" {
			s.CloudConfig.Flavor = FlavorCoreOS
		}
	}
	if s.OS.Variant != "fcos" {
		return
	}
	if r.outNode != nil && s.Wants(OutputCloudConfig) {
		for i, item := range r.outNode.Content {
			if item.Value == OutputCloudConfig {
				d.errorf(item, index(report.At("outputs"), i), msgCloudConfigOnFCOS)
			}
		}
	}
	if r.flavorNode != nil {
		d.errorf(r.flavorNode, report.At("cloud-config", "flavor"), msgCloudConfigOnFCOS)
	}
}
