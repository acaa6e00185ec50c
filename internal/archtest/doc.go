// Package archtest holds no code, only tests that keep the architecture
// from drifting: the import rules of ARCHITECTURE.md ("Packages and the
// direction of imports"), checked against `go list -deps`, and STYLE.md's
// rule that every package says what it owns in a package comment.
//
// When a rule has to change, change ARCHITECTURE.md and the table in
// arch_test.go together.
package archtest
