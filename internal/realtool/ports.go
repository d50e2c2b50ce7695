package realtool

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// FreePorts picks two different random high ports, below Linux's ephemeral
// range, that are free on every one of addrs (loopback addresses a test
// runs its real etcd members on).
func FreePorts(t testing.TB, addrs ...string) (a, b int) {
	t.Helper()
	free := func(port int) bool {
		for _, addr := range addrs {
			l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
			if err != nil {
				return false
			}
			l.Close()
		}
		return true
	}
	for range 200 {
		a, b = 20000+rand.IntN(12000), 20000+rand.IntN(12000)
		if a != b && free(a) && free(b) {
			return a, b
		}
	}
	t.Fatalf("no two free ports on %v between 20000 and 32000", addrs)
	return 0, 0
}
