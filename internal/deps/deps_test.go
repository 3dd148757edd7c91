package deps

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/runnel-broker/runnel/"

// allowed lists, for every package of the module, the packages of the
// module it may import (tests aside). Imports go one way, down:
//
//	cmd → server → server/internal/* → raftstore → raftstore/internal/segment
//	client → gen, partitioner
//
// A package missing here fails the test: place it before you add it.
var allowed = map[string][]string{
	"raftstore/internal/fsops":     {},
	"raftstore/internal/crashfs":   {"raftstore/internal/fsops"},
	"raftstore/internal/segment":   {"raftstore/internal/fsops"},
	"raftstore/internal/producers": {"gen/runnel/raftstore/v1"},
	"raftstore": {"raftstore/internal/segment", "raftstore/internal/fsops", "raftstore/internal/producers",
		"gen/runnel/raftstore/v1"},
	"raftstore/transport": {"raftstore", "internal/redial", "gen/runnel/raft/v1"},
	// A sidecar's spool: queues on the segment log, public so that the
	// sidecar (outside raftstore) can use it.
	"raftstore/spool": {"raftstore/internal/segment", "raftstore/internal/fsops", "raftstore/internal/producers",
		"gen/runnel/raftstore/v1"},

	// Content read from files, read again when they change: TLS
	// material, the token file, a JWKS.
	"internal/filewatch": {},
	// TLS material from files, reloaded when they change: the server's
	// listeners and the CLI's dials share it.
	"internal/tlsfiles": {"internal/filewatch"},
	// How soon every gRPC client of ours dials a lost broker again.
	"internal/redial": {},

	"internal/buildinfo":         {},
	"server/internal/errs":       {},
	"server/internal/records":    {"compression"},
	"server/internal/controller": {},
	"server/internal/authz":      {},
	"server/internal/tokens":     {"internal/filewatch"},
	"server/internal/jwks":       {"internal/filewatch"},
	"server/internal/certname":   {},
	"server/internal/quota":      {"server/internal/errs"},
	"server/internal/assignor":   {},
	"server/internal/catalog":    {"server/internal/errs", "server/internal/authz", "server/internal/quota", "compression", "gen/runnel/meta/v1"},
	"server/internal/offsets":    {"partitioner", "gen/runnel/meta/v1"},
	"server/internal/group":      {"server/internal/assignor"},
	"server/internal/broker": {"raftstore", "server/internal/assignor", "server/internal/authz", "server/internal/quota", "server/internal/catalog", "server/internal/controller", "server/internal/errs", "server/internal/group",
		"server/internal/offsets", "partitioner", "compression", "server/internal/records", "internal/buildinfo",
		"gen/runnel/meta/v1"},
	// The edge: what speaks gRPC.
	"server/internal/wire": {},
	"server/internal/peer": {"raftstore", "server/internal/broker", "server/internal/errs", "server/internal/wire", "internal/redial",
		"gen/runnel/v1", "gen/runnel/raft/v1"},
	"server": {"raftstore", "raftstore/transport", "server/internal/authz", "server/internal/tokens", "server/internal/jwks", "server/internal/certname", "server/internal/quota", "server/internal/broker", "server/internal/catalog", "server/internal/group", "compression",
		"server/internal/errs", "server/internal/peer", "server/internal/wire", "internal/buildinfo", "internal/tlsfiles",
		"gen/runnel/v1", "gen/runnel/raft/v1"},

	// Kafka's murmur2, public so that the broker and the Go SDK share one
	// implementation and a key lands on the same partition either way.
	"partitioner": {},
	// The batch codecs, public for the same reason: a batch the SDK
	// compresses is one the broker stores and decompresses.
	"compression": {},

	"recordbatch": {"compression", "gen/runnel/v1"},

	"client": {"gen/runnel/v1", "partitioner", "compression", "recordbatch", "internal/redial"},
	// The sidecar: the public API on localhost, a spool, the cluster
	// behind it.
	"sidecar":    {"raftstore/spool", "partitioner", "compression", "recordbatch", "internal/redial", "internal/tlsfiles", "gen/runnel/v1"},
	"cmd/runnel": {"client", "compression", "server", "sidecar", "internal/buildinfo", "internal/tlsfiles", "gen/runnel/v1"},

	"docs/barebench": {},
	"e2e":            {},
	"internal/deps":  {},
	// Test support: only tests import them.
	"internal/golden":    {},
	"internal/testcerts": {},
}

// noRPC are the packages that must not depend on gRPC, even through
// another package: the store and the broker are driven by the server
// (with server/internal/peer and wire), which alone speaks gRPC.
var noRPC = []string{"raftstore", "raftstore/spool", "raftstore/internal/segment", "raftstore/internal/fsops", "raftstore/internal/producers",
	"server/internal/broker", "server/internal/catalog", "server/internal/offsets", "partitioner", "compression", "server/internal/records", "server/internal/errs",
	"server/internal/controller", "server/internal/assignor", "server/internal/authz", "server/internal/tokens", "server/internal/jwks", "server/internal/certname", "server/internal/quota", "internal/buildinfo", "internal/tlsfiles", "internal/testcerts"}

// noRaft are the packages that must not depend on raft either: the
// controller and the assignors plan from plain ids and states, so that
// their decisions are pure functions, tested from data files.
var noRaft = []string{"server/internal/controller", "server/internal/assignor"}

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", module+"...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		if strings.HasPrefix(name, "gen/") {
			checkGen(t, name, p.Imports)
			continue
		}
		seen++
		rules, ok := allowed[name]
		if !ok {
			t.Errorf("package %s has no import rules: add it to allowed, in its layer", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, internal := strings.CutPrefix(imp, module)
			if internal && !slices.Contains(rules, dep) {
				t.Errorf("%s imports %s, which the rules do not allow (imports go down: see docs/architecture.md)", name, dep)
			}
		}
		if slices.Contains(noRaft, name) {
			for _, dep := range p.Deps {
				if dep == "go.etcd.io/raft/v3" || strings.HasPrefix(dep, "go.etcd.io/raft/v3/") {
					t.Errorf("%s depends on %s: it plans from plain ids and states", name, dep)
					break
				}
			}
		}
		if slices.Contains(noRPC, name) {
			for _, dep := range p.Deps {
				if dep == "google.golang.org/grpc" || strings.HasPrefix(dep, "google.golang.org/grpc/") {
					t.Errorf("%s depends on %s: only the server and the transport speak gRPC", name, dep)
					break
				}
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("%d packages listed, %d in the rules: remove the rules of packages that are gone", seen, len(allowed))
	}
}

// checkGen: generated code imports only generated code.
func checkGen(t *testing.T, name string, imports []string) {
	for _, imp := range imports {
		if dep, internal := strings.CutPrefix(imp, module); internal && !strings.HasPrefix(dep, "gen/") {
			t.Errorf("generated %s imports %s", name, dep)
		}
	}
}
