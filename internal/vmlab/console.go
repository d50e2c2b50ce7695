package vmlab

import (
	"os"
	"strings"
)

// Console is everything the VM wrote on its serial console so far, over
// all its boots.
func (vm *VM) Console() string {
	data, err := os.ReadFile(vm.console)
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(string(data), "\r\n", "\n")
}

// ConsoleTail is the console's last n lines.
func (vm *VM) ConsoleTail(n int) string {
	lines := strings.Split(strings.TrimRight(vm.Console(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// consoleLines is how many of the console's last lines a failure shows.
const consoleLines = 60
