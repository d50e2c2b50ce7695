package vmlab

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/internal/netlab"
)

// Config says what one VM is.
type Config struct {
	// Name is the VM's short name: in file names, messages and the tap
	// device's name (tap-<name>, cut to 15 characters).
	Name string
	// Ignition is an Ignition config file (a machine's ignition.json, or
	// the final userdata with its keys) that the real Ignition writes into
	// the root before the first boot. Ignition is the binary that runs it
	// (realtool.Ignition).
	Ignition, IgnitionBinary string
	// CloudConfig is a #cloud-config file that cloud-init reads from its
	// NoCloud seed on the first boot. A VM has Ignition or CloudConfig or
	// neither; without CloudConfig, cloud-init is disabled, as on Flatcar.
	CloudConfig string
	// Addrs are the VM's addresses on eth0, with their prefix lengths: the
	// lab's hosts are neighbours on the bridge.
	Addrs []netip.Prefix
	// SSHFrom is the lab namespace SSH runs from: a host on the same bridge
	// that the VM's firewall lets in on port 22 (an admin).
	SSHFrom *netlab.NS
	// AuthorizedKeys are more public keys ("ssh-ed25519 AAAA...") root
	// accepts, beside the VM's own client key (ClientKey).
	AuthorizedKeys []string
	// Listen are TCP ports a canary answers on (it echoes what it reads)
	// from before the network is configured, so that probes see whether
	// their packets reach a listening port.
	Listen []uint16
	// KernelArgs are added to the kernel's command line.
	KernelArgs []string
	// MemoryMiB and CPUs size the VM: 1024 and 1 when zero. One virtual CPU
	// by default: the lab runs more VMs at once than the host has cores,
	// and under TCG a VM's boot is bound by the host's CPU, not its own.
	MemoryMiB, CPUs int
	// BootTimeout bounds each boot, until SSH answers: DefaultBootTimeout
	// when zero.
	BootTimeout time.Duration
	// Prepare, if set, changes the VM's own files (the directory root,
	// copied over the image's root on the first boot) after Ignition or
	// the seed wrote them, to break a file on purpose.
	Prepare func(root string) error
}

// KeepEnv, set to 1, keeps each VM's directory (console, qemu's log, SSH
// keys) after the test, for a look at what went wrong.
const KeepEnv = "RAMPART_VM_KEEP"

// DefaultBootTimeout bounds a boot under TCG on a loaded 2-core machine.
const DefaultBootTimeout = 5 * time.Minute

// SSHTimeout bounds one command run over SSH.
const SSHTimeout = 2 * time.Minute

// VM is one running virtual machine of a test. Its methods may be called
// from any goroutine, except those that fail the test (WaitReady, MustSSH,
// Reboot, Stop), which belong to the test's goroutine.
type VM struct {
	// Name is Config.Name.
	Name string
	// Addrs are the VM's addresses, without their prefix lengths.
	Addrs []netip.Addr

	t       testing.TB
	cfg     Config
	dir     string
	console string
	keys    *sshKeys
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error

	mu     sync.Mutex
	bootID string
}

// Start makes the VM's own files from cfg, plugs a tap
// device into the bridge and starts qemu in the bridge's namespace. It
// returns at once; WaitReady waits for the boot. The VM is killed, if it
// still runs, and its files removed when the test ends.
func Start(t testing.TB, img *Image, br *netlab.Bridge, cfg Config) *VM {
	t.Helper()
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 1024
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = DefaultBootTimeout
	}
	if cfg.SSHFrom == nil || len(cfg.Addrs) == 0 {
		t.Fatalf("vmlab: VM %s needs addresses and a namespace to reach it from (Config.Addrs, Config.SSHFrom)", cfg.Name)
	}
	vm := &VM{Name: cfg.Name, t: t, cfg: cfg, dir: t.TempDir(), exited: make(chan struct{})}
	if os.Getenv(KeepEnv) == "1" {
		dir, err := os.MkdirTemp("", "vmlab-"+cfg.Name+"-")
		if err != nil {
			t.Fatal(err)
		}
		vm.dir = dir
		t.Logf("vmlab: VM %s: its files (console, qemu's log, keys) are kept in %s", cfg.Name, dir)
	}
	for _, a := range cfg.Addrs {
		vm.Addrs = append(vm.Addrs, a.Addr())
	}
	vm.console = filepath.Join(vm.dir, "console.log")
	began := time.Now()
	own, err := vm.makeOwnFiles()
	if err != nil {
		t.Fatalf("vmlab: VM %s: %v", cfg.Name, err)
	}
	t.Logf("vmlab: VM %s: its own files made in %v", cfg.Name, time.Since(began).Round(100*time.Millisecond))

	tap := "tap-" + cfg.Name
	if len(tap) > 15 {
		tap = tap[:15]
	}
	br.NS.IP("tuntap", "add", "dev", tap, "mode", "tap")
	br.NS.IP("link", "set", tap, "master", br.Dev, "up")

	args := []string{"netns", "exec", br.NS.Name, "qemu-system-x86_64",
		"-name", "vmlab-" + cfg.Name, "-machine", "pc", "-accel", "tcg,thread=multi",
		"-m", strconv.Itoa(cfg.MemoryMiB), "-smp", strconv.Itoa(cfg.CPUs),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "file:" + vm.console,
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		// no_timer_check: under TCG on a loaded host the kernel's check of
		// the IO-APIC timer can miss its ticks and panic the boot ("IO-APIC +
		// timer doesn't work!"), as seen here; cloud images skip it too.
		"-append", strings.Join(append([]string{"root=/dev/vda", "rw", "rootfstype=ext4", "init=/usr/local/sbin/vmlab-init",
			"console=ttyS0,115200", "net.ifnames=0", "panic=-1", "loglevel=4", "systemd.show_status=1", "mitigations=off", "no_timer_check"}, cfg.KernelArgs...), " "),
		// The image's root, shared read-only: the VM writes to a throwaway
		// overlay (kept across its reboots, gone when qemu ends); its own
		// files on a second disk.
		"-drive", "file=" + img.Disk + ",format=raw,if=virtio,snapshot=on,cache=unsafe",
		"-drive", "file=" + own + ",format=raw,if=virtio,readonly=on",
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=" + randomMAC(),
		"-device", "virtio-rng-pci"}
	vm.cmd = exec.Command("ip", args...)
	logf, err := os.Create(filepath.Join(vm.dir, "qemu.log"))
	if err != nil {
		t.Fatal(err)
	}
	vm.cmd.Stdout, vm.cmd.Stderr = logf, logf
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := vm.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("vmlab: starting qemu for %s: %v", cfg.Name, err)
	}
	go func() {
		vm.waitErr = vm.cmd.Wait()
		logf.Close()
		close(vm.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-vm.exited:
		default:
			_ = vm.cmd.Process.Kill()
			<-vm.exited
		}
		// What the VM cost the host: under TCG the lab is bound by CPU,
		// so this, not the wall time, says what a change to the image or
		// a test saves.
		if st := vm.cmd.ProcessState; st != nil {
			t.Logf("vmlab: VM %s: qemu used %v of CPU in %v", cfg.Name, (st.UserTime() + st.SystemTime()).Round(100*time.Millisecond),
				time.Since(began).Round(time.Second))
		}
	})
	return vm
}

// makeOwnFiles writes the VM's own files (its name, network, SSH keys,
// canary and first-boot machine id; what Ignition writes, or cloud-init's
// seed), runs Config.Prepare on them and makes the disk that carries them;
// it returns the disk's path. The image's vmlab-init copies them over the
// image's root on the first boot, before systemd starts.
func (vm *VM) makeOwnFiles() (string, error) {
	cfg := vm.cfg
	own := filepath.Join(vm.dir, "own")
	root := filepath.Join(own, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(own)
	files := map[string]string{
		// systemd takes this boot for the first (and applies the presets).
		"etc/machine-id":                       "uninitialized\n",
		"etc/hostname":                         cfg.Name + "\n",
		"etc/systemd/network/10-vmlab.network": networkdConfig(cfg.Addrs),
	}
	if len(cfg.Listen) > 0 {
		files["etc/systemd/system/vmlab-canary.socket"] = canarySocket(cfg.Listen)
	}
	if err := writeFiles(root, files); err != nil {
		return "", err
	}
	if len(cfg.Listen) > 0 {
		wants := filepath.Join(root, "etc", "systemd", "system", "sockets.target.wants")
		if err := os.MkdirAll(wants, 0o755); err != nil {
			return "", err
		}
		if err := os.Symlink("/etc/systemd/system/vmlab-canary.socket", filepath.Join(wants, "vmlab-canary.socket")); err != nil {
			return "", err
		}
	}
	keys, err := newSSHKeys(vm.dir, cfg.Name, cfg.Addrs)
	if err != nil {
		return "", err
	}
	vm.keys = keys
	if err := keys.install(root, cfg.AuthorizedKeys); err != nil {
		return "", err
	}
	switch {
	case cfg.Ignition != "" && cfg.CloudConfig != "":
		return "", fmt.Errorf("both Ignition and CloudConfig are set")
	case cfg.Ignition != "":
		if cfg.IgnitionBinary == "" {
			return "", fmt.Errorf("Config.Ignition without Config.IgnitionBinary")
		}
		if err := applyIgnition(cfg.IgnitionBinary, cfg.Ignition, root, vm.dir); err != nil {
			return "", err
		}
		if err := disableCloudInit(root); err != nil {
			return "", err
		}
	case cfg.CloudConfig != "":
		data, err := os.ReadFile(cfg.CloudConfig)
		if err != nil {
			return "", err
		}
		if err := seedCloudInit(root, cfg.Name, data); err != nil {
			return "", err
		}
	default:
		if err := disableCloudInit(root); err != nil {
			return "", err
		}
	}
	if cfg.Prepare != nil {
		if err := cfg.Prepare(root); err != nil {
			return "", fmt.Errorf("Config.Prepare: %w", err)
		}
	}
	disk := filepath.Join(vm.dir, "own.raw")
	return disk, makeOwnDisk(own, disk)
}

// randomMAC is a locally administered unicast MAC address (QEMU's 52:54:00
// prefix).
func randomMAC() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", b[0], b[1], b[2])
}

// WaitReady waits until the VM answers SSH from Config.SSHFrom and returns
// the boot's id. A VM that stops, or does not answer within the boot
// timeout, fails the test with the console's last lines.
func (vm *VM) WaitReady() string {
	vm.t.Helper()
	id, err := vm.waitBoot("")
	if err != nil {
		vm.fail("%v", err)
	}
	return id
}

// waitBoot polls SSH until the VM answers with a boot id other than not.
func (vm *VM) waitBoot(not string) (string, error) {
	began := time.Now()
	deadline := began.Add(vm.cfg.BootTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-vm.exited:
			return "", fmt.Errorf("qemu exited (%v) before the VM answered SSH", vm.waitErr)
		default:
		}
		out, err := vm.keys.run(vm.cfg.SSHFrom.Name, vm.Addrs[0], "cat /proc/sys/kernel/random/boot_id", 15*time.Second)
		id := strings.TrimSpace(out)
		if err == nil && id != "" && id != not {
			vm.mu.Lock()
			vm.bootID = id
			vm.mu.Unlock()
			vm.t.Logf("vmlab: VM %s answered SSH %v after waiting (boot %s)", vm.Name, time.Since(began).Round(100*time.Millisecond), id)
			return id, nil
		}
		if err != nil {
			last = err
		}
		time.Sleep(2 * time.Second)
	}
	return "", fmt.Errorf("no SSH answer from %s within %v (last: %v)", vm.Addrs[0], vm.cfg.BootTimeout, last)
}

// SSH runs a shell command on the VM as root, over SSH from Config.SSHFrom
// to the VM's first address, and returns its standard output.
func (vm *VM) SSH(command string) (string, error) {
	return vm.keys.runConnected(vm.cfg.SSHFrom.Name, vm.Addrs[0], command, SSHTimeout)
}

// SSHFrom runs a shell command on the VM as root over SSH from the
// namespace ns to the VM's address to.
func (vm *VM) SSHFrom(ns *netlab.NS, to netip.Addr, command string) (string, error) {
	return vm.keys.runConnected(ns.Name, to, command, SSHTimeout)
}

// MustSSH is SSH that fails the test when the command fails.
func (vm *VM) MustSSH(command string) string {
	vm.t.Helper()
	out, err := vm.SSH(command)
	if err != nil {
		vm.fail("%v\n%s", err, out)
	}
	return out
}

// Reboot reboots the VM (systemctl reboot) and waits until it answers SSH
// from a new boot; it returns the new boot's id.
func (vm *VM) Reboot() string {
	vm.t.Helper()
	vm.mu.Lock()
	old := vm.bootID
	vm.mu.Unlock()
	if old == "" {
		vm.t.Fatalf("vmlab: Reboot of %s before WaitReady", vm.Name)
	}
	// The connection may end before ssh hears the answer: the reboot is
	// judged by the new boot id.
	_, _ = vm.keys.run(vm.cfg.SSHFrom.Name, vm.Addrs[0], "systemctl reboot", 30*time.Second)
	id, err := vm.waitBoot(old)
	if err != nil {
		vm.fail("after reboot: %v", err)
	}
	return id
}

// Stop powers the VM off (systemctl poweroff) and waits for qemu to end;
// a VM that does not end within two minutes is killed and fails the test.
func (vm *VM) Stop() {
	vm.t.Helper()
	select {
	case <-vm.exited:
		return
	default:
	}
	_, _ = vm.keys.run(vm.cfg.SSHFrom.Name, vm.Addrs[0], "systemctl poweroff", 30*time.Second)
	select {
	case <-vm.exited:
	case <-time.After(2 * time.Minute):
		_ = vm.cmd.Process.Kill()
		<-vm.exited
		vm.fail("did not power off within 2m; killed")
	}
}

// HostKey is the VM's SSH host public key ("ssh-ed25519 AAAA... comment"),
// made before the VM and installed in its root; KnownHosts is a
// known_hosts file naming it for each of the VM's addresses, and
// ClientKey the private key file root accepts.
func (vm *VM) HostKey() string {
	data, err := os.ReadFile(vm.keys.hostPub)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// KnownHosts is the path of a known_hosts file with the VM's host key for
// each of its addresses.
func (vm *VM) KnownHosts() string { return vm.keys.knownHosts }

// ClientKey is the path of the private key the VM's root accepts.
func (vm *VM) ClientKey() string { return vm.keys.clientKey }

// fail fails the test with the VM's console's last lines, and what qemu
// said when it has ended.
func (vm *VM) fail(format string, args ...any) {
	vm.t.Helper()
	msg := fmt.Sprintf("vmlab: VM %s: %s\n--- last lines of its console ---\n%s", vm.Name, fmt.Sprintf(format, args...), vm.ConsoleTail(consoleLines))
	select {
	case <-vm.exited:
		out, _ := os.ReadFile(filepath.Join(vm.dir, "qemu.log"))
		msg += fmt.Sprintf("\n--- qemu ended (%v) ---\n%s", vm.waitErr, out)
	default:
	}
	vm.t.Fatal(msg)
}
