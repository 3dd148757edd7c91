package tokens

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoad: a token authenticates its principal; another does not; the
// file holds hashes only.
func TestLoad(t *testing.T) {
	path := write(t, "# the team\n\n"+Line("User:alice", "s3cret-a")+"\n  "+Line("User:bob", "s3cret-b")+"  \n")
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("%d tokens", s.Len())
	}
	for token, want := range map[string]string{"s3cret-a": "User:alice", "s3cret-b": "User:bob"} {
		if p, ok := s.Principal(token); !ok || p != want {
			t.Errorf("token %q: %q %v, want %q", token, p, ok, want)
		}
	}
	for _, token := range []string{"", "s3cret", "s3cret-a ", Hash("s3cret-a")} {
		if p, ok := s.Principal(token); ok {
			t.Errorf("token %q authenticated %q", token, p)
		}
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "s3cret") {
		t.Fatal("the file holds a token")
	}
}

// TestLoadRefusesBadLines: each says the file, the line and what to fix.
func TestLoadRefusesBadLines(t *testing.T) {
	for content, want := range map[string]string{
		"User:a\n":                 ":1: want PRINCIPAL sha256:HEX",
		"User:a s3cret\n":          ":1: want PRINCIPAL sha256:HEX",
		"# x\nUser:a sha256:abc\n": ":2: the hash is not 64 hex digits",
		Line("User:a", "t") + "\n" + Line("User:b", "t") + "\n": ":2: the same token is listed twice",
	} {
		if _, err := Load(write(t, content)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file loaded")
	}
}
