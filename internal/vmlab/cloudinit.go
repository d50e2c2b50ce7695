package vmlab

import (
	"os"
	"path/filepath"
)

// seedCloudInit puts userdata into the NoCloud seed directory of the VM's
// own files, where cloud-init's NoCloud datasource finds it on the first
// boot (the image configures cloud-init for the lab: NoCloud only, and the
// modules a rampart cloud-config uses).
func seedCloudInit(root, name string, userdata []byte) error {
	seed := filepath.Join(root, "var", "lib", "cloud", "seed", "nocloud")
	if err := os.MkdirAll(seed, 0o700); err != nil {
		return err
	}
	meta := "instance-id: vmlab-" + name + "\nlocal-hostname: " + name + "\n"
	if err := os.WriteFile(filepath.Join(seed, "meta-data"), []byte(meta), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(seed, "user-data"), userdata, 0o600)
}

// disableCloudInit keeps cloud-init from running in a VM that Ignition
// wrote, as on Flatcar, which has no cloud-init.
func disableCloudInit(root string) error {
	return writeFiles(root, map[string]string{"etc/cloud/cloud-init.disabled": ""})
}
