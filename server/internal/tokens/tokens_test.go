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
	s, err := Load(path, nil)
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
		if _, err := Load(write(t, content), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("a missing file loaded")
	}
}

// TestReloads: a token added to the file authenticates, and one removed
// no longer does, without a new Load; a file that no longer parses keeps
// the last good tokens.
func TestReloads(t *testing.T) {
	path := write(t, Line("User:alice", "t-alice")+"\n")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.w.SetInterval(0)
	if err := os.WriteFile(path, []byte(Line("User:bob", "t-bob")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, ok := s.Principal("t-bob"); !ok || p != "User:bob" {
		t.Fatalf("the added token: %q %v", p, ok)
	}
	if p, ok := s.Principal("t-alice"); ok {
		t.Fatalf("the revoked token still authenticates %q", p)
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, ok := s.Principal("t-bob"); !ok || p != "User:bob" {
		t.Fatalf("after a bad write: %q %v, want the last good tokens", p, ok)
	}
}
