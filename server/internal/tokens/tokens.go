package tokens

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/runnel-broker/runnel/internal/filewatch"
)

// hashPrefix marks a token's hash in the file.
const hashPrefix = "sha256:"

// Hash is how the file holds token.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// Line is the file's line for principal's token.
func Line(principal, token string) string { return principal + " " + Hash(token) }

// Set is the tokens of a file, read again when it changes (package
// filewatch): a token added or revoked takes effect within a second, and
// a file that no longer parses keeps the last good tokens.
type Set struct{ w *filewatch.File[*table] }

// table is the tokens of one reading of the file.
type table struct {
	hashes [][sha256.Size]byte
	owners []string
}

// Load reads a token file. Its errors name the file and the line.
func Load(path string, logger *slog.Logger) (*Set, error) {
	w, err := filewatch.Watch("token file", []string{path}, func() (*table, error) { return read(path) }, logger)
	if err != nil {
		return nil, err
	}
	return &Set{w: w}, nil
}

func read(path string) (*table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &table{}
	seen := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || !strings.HasPrefix(fields[1], hashPrefix) {
			return nil, fmt.Errorf("%s:%d: want PRINCIPAL sha256:HEX (runnel token create prints one), not %q", path, n, line)
		}
		raw, err := hex.DecodeString(strings.TrimPrefix(fields[1], hashPrefix))
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: the hash is not 64 hex digits", path, n)
		}
		h := [sha256.Size]byte(raw)
		if seen[h] {
			return nil, fmt.Errorf("%s:%d: the same token is listed twice", path, n)
		}
		seen[h] = true
		s.hashes, s.owners = append(s.hashes, h), append(s.owners, fields[0])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Principal is the principal token authenticates, false if none. It
// compares every hash in constant time.
func (s *Set) Principal(token string) (string, bool) {
	t := s.w.Get()
	h := sha256.Sum256([]byte(token))
	found := -1
	for i, known := range t.hashes {
		if subtle.ConstantTimeCompare(h[:], known[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return t.owners[found], true
}

// Check says whether the tokens in use are the file's (nil), or why it
// does not load: the last good tokens are kept meanwhile.
func (s *Set) Check() error { return s.w.Check() }

// Len is how many tokens the set holds.
func (s *Set) Len() int { return len(s.w.Get().hashes) }
