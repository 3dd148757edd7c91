package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel-broker/runnel/server"
)

// TestACLCommands, as a user would: a broker process with a token file,
// ACLs enforced and a superuser; the superuser creates ACLs with runnel
// acl, a principal produces and consumes by them, and what they do not
// allow is refused naming the principal, the operation and the resource.
func TestACLCommands(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	lines := server.TokenLine("User:admin", "admin-token") + "\n" + server.TokenLine("User:alice", "alice-token") + "\n"
	if err := os.WriteFile(tokens, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	broker, _ := serveProcess(t, "--token-file", tokens, "--authorization", "--superusers", "User:admin")
	ctx := context.Background()
	as := func(token, stdin string, args ...string) (string, string, error) {
		t.Helper()
		return run(ctx, stdin, append(args, "--broker", broker, "--token", token)...)
	}
	must := func(out, _ string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	wantErr := func(what string, _, _ string, err error, msg string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("%s: %v, want an error saying %q", what, err, msg)
		}
	}

	_, _, err := run(ctx, "", "topic", "list", "--broker", broker)
	wantErr("no token", "", "", err, "this broker takes authenticated calls only")
	must(as("admin-token", "", "topic", "create", "orders"))
	must(as("admin-token", "", "topic", "create", "audit"))
	o, e, err := as("alice-token", "", "topic", "create", "mine")
	wantErr("alice creates a topic", o, e, err, `principal "User:alice" is not allowed to create on topic "mine": no ACL allows it`)

	must(as("admin-token", "", "acl", "create", "--principal", "User:alice", "--operation", "produce,consume", "--topic", "ord", "--prefixed"))
	must(as("admin-token", "", "acl", "create", "--principal", "User:alice", "--operation", "consume", "--group", "billing"))
	list := must(as("admin-token", "", "acl", "list", "--principal", "User:alice"))
	for _, want := range []string{"User:alice  allow       produce    topic     ord      prefixed", "User:alice  allow       consume    group     billing  literal"} {
		if !strings.Contains(list, want) {
			t.Fatalf("acl list lacks %q:\n%s", want, list)
		}
	}

	must(as("alice-token", "one\ntwo\n", "produce", "orders"))
	o, e, err = as("alice-token", "x\n", "produce", "audit")
	wantErr("alice produces to audit (the SDK describes it first)", o, e, err, `principal "User:alice" is not allowed to describe on topic "audit"`)
	// NB: the group's members commit: consume on the group allows it.
	if out := must(as("alice-token", "", "consume", "orders", "--group", "billing")); out != "one\ntwo\n" {
		t.Fatalf("alice consumed %q", out)
	}
	if out := must(as("alice-token", "", "topic", "list")); strings.Contains(out, "audit") || !strings.Contains(out, "orders") {
		t.Fatalf("alice lists topics she may not describe:\n%s", out)
	}

	// A delete that names no ACL is refused, even with the token from the
	// environment (a flag set as well), rather than delete them all.
	t.Setenv("RUNNEL_TOKEN", "admin-token")
	_, _, err = run(ctx, "", "acl", "delete", "--broker", broker)
	wantErr("acl delete with nothing to narrow it", "", "", err, "no flag narrows what to delete")
	if out := must(run(ctx, "", "acl", "delete", "--principal", "User:alice", "--group", "billing", "--broker", broker)); out != "deleted 1 ACL(s)\n" {
		t.Fatalf("acl delete: %q", out)
	}
	o, e, err = as("alice-token", "", "consume", "orders", "--group", "billing")
	wantErr("alice consumes once her group ACL is deleted", o, e, err, `not allowed to consume on group "billing"`)
}
