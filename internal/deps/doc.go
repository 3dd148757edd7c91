// Package deps holds no code: its test, deps_test.go, enforces the import
// rules of docs/architecture.md ("The packages and their import order"),
// as Go's own go/build/deps_test.go does for the standard library.
package deps
