package vmlab

import (
	"os"
	"path/filepath"
)

// cloudCfg configures the image's cloud-init for the lab: the NoCloud
// datasource only (its seed is in the root), no network configuration from
// cloud-init (the VM's static network is systemd-networkd's), and the module
// lists cut down to what a rampart cloud-config uses (hostname, packages,
// write_files, runcmd); cloud-init's other modules would cost minutes under
// TCG and do nothing here.
const cloudCfg = `# vmlab: NoCloud only, the network left to systemd-networkd, and only the
# modules a rampart cloud-config uses.
datasource_list: [NoCloud]
network: {config: disabled}
cloud_init_modules: [seed_random, bootcmd, write_files, set_hostname, update_hostname]
cloud_config_modules: [runcmd]
cloud_final_modules: [package_update_upgrade_install, scripts_user, final_message]
`

// seedCloudInit puts userdata into the root's NoCloud seed directory, where
// cloud-init's NoCloud datasource finds it on the first boot, and
// configures cloud-init for the lab.
func seedCloudInit(root, name string, userdata []byte) error {
	seed := filepath.Join(root, "var", "lib", "cloud", "seed", "nocloud")
	if err := os.MkdirAll(seed, 0o700); err != nil {
		return err
	}
	meta := "instance-id: vmlab-" + name + "\nlocal-hostname: " + name + "\n"
	files := map[string][]byte{
		filepath.Join(seed, "user-data"):                                   userdata,
		filepath.Join(seed, "meta-data"):                                   []byte(meta),
		filepath.Join(root, "etc", "cloud", "cloud.cfg.d", "99-vmlab.cfg"): []byte(cloudCfg),
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// disableCloudInit keeps cloud-init from running in a VM that Ignition
// wrote, as on Flatcar, which has no cloud-init.
func disableCloudInit(root string) error {
	return os.WriteFile(filepath.Join(root, "etc", "cloud", "cloud-init.disabled"), nil, 0o644)
}
