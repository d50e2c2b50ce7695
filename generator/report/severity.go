package report

import "fmt"

// Severity says how much an entry matters: an Error fails the command, a
// Warning fails it only when asked (--strict), Info never does.
type Severity int

// Severities, most severe first.
const (
	Error Severity = iota + 1
	Warning
	Info
)

var severityNames = map[Severity]string{Error: "error", Warning: "warning", Info: "info"}

// String is the severity's name: error, warning or info.
func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText writes the severity's name (JSON output).
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	for k, n := range severityNames {
		if n == string(b) {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q (error, warning or info)", b)
}
