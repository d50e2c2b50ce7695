// Package report is the one shape of everything rampart tells a user is
// wrong or worth a look: spec errors, audit findings, drift findings and a
// stale output tree. An Entry has a severity, a stable code, a typed path,
// a position and a message; a Report is the entries of one run, appended as
// they are found and rendered like a compiler's diagnostics or as JSON.
//
// Each package keeps its messages in one place, as Message values (code,
// severity, format), and makes entries from them with Message.At; tests
// compare entries by value (code, path, position) and one golden test
// checks the rendering.
package report
