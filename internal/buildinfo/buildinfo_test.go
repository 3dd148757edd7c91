package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"tagged", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}},
			true, "v1.2.3 (commit " + rev + ", go1.26.0)"},
		{"modified work tree", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}},
			true, "(devel) (commit " + rev + ", modified, go1.26.0)"},
		{"no VCS stamp", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			true, "(devel) (commit unknown, go1.26.0)"},
		{"no version", &debug.BuildInfo{GoVersion: "go1.26.0"}, true, "(devel) (commit unknown, go1.26.0)"},
		{"no build info", nil, false, "(devel) (commit unknown, " + runtime.Version() + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(tc.bi, tc.ok).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRead checks the test binary's own build: a version and the Go
// toolchain are always known.
func TestRead(t *testing.T) {
	info := Read()
	if info.Version == "" || info.GoVersion != runtime.Version() {
		t.Fatalf("Read() = %+v", info)
	}
}
