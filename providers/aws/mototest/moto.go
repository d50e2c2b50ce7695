// Package mototest runs a real moto_server (the AWS emulator) for tests:
// started on a free loopback port, reset between tests, and found on PATH
// (moto_server, or python3 -m moto.server).
package mototest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Server is a running moto_server.
type Server struct {
	URL string // http://127.0.0.1:PORT
	cmd *exec.Cmd
	log *os.File
}

// ErrMissing: neither moto_server nor python3 with moto is installed.
var ErrMissing = errors.New("moto is not installed: neither moto_server nor python3 -m moto.server runs (pip install 'moto[server]')")

// Start runs a moto_server on a free loopback port and waits until it
// answers. Its output goes to a temporary file, named in errors.
func Start() (*Server, error) {
	argv, err := command()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	log, err := os.CreateTemp("", "moto-server-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], append(argv[1:], "-H", "127.0.0.1", "-p", strconv.Itoa(port))...)
	cmd.Stdout, cmd.Stderr = log, log
	// the server dies with the test binary, also when a timeout kills it
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %v: %w", argv, err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: log}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-exited:
			log.Close()
			return nil, fmt.Errorf("moto_server exited before answering (%v); its output is in %s", err, log.Name())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("moto_server did not answer on %s within a minute; its output is in %s", s.URL, log.Name())
		}
	}
}

func command() ([]string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return []string{p}, nil
	}
	if p, err := exec.LookPath("python3"); err == nil {
		if exec.Command(p, "-c", "import moto.server").Run() == nil {
			return []string{p, "-m", "moto.server"}, nil
		}
	}
	return nil, ErrMissing
}

// Reset forgets every resource (POST /moto-api/reset).
func (s *Server) Reset() error {
	resp, err := http.Post(s.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto reset: %s", resp.Status)
	}
	return nil
}

// Close stops the server and removes its log.
func (s *Server) Close() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	s.log.Close()
	os.Remove(s.log.Name())
}

// Env points the AWS SDK's default chain at the server, with dummy
// credentials and no shared profile files or instance metadata.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":            s.URL,
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// Setenv applies Env to the process; tests that use it do not run in
// parallel.
func (s *Server) Setenv() error {
	for k, v := range s.Env() {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Require fails the test when the server could not start and RAMPART_REAL=1
// says the real emulator must be there, and skips it otherwise.
func Require(t testing.TB, s *Server, err error) {
	t.Helper()
	if s != nil {
		if err := s.Reset(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if os.Getenv("RAMPART_REAL") == "1" {
		t.Fatalf("moto_server is required (RAMPART_REAL=1): %v", err)
	}
	t.Skipf("no moto_server: %v", err)
}
