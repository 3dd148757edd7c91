package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Devel is the version of a build with none stamped: built from a work
// tree, not installed at a module version.
const Devel = "(devel)"

// Info identifies a build.
type Info struct {
	// Version is the main module's version: a tag (v1.2.3), a
	// pseudo-version (v0.0.0-20260101120000-0123456789ab+dirty), or Devel.
	Version string
	// Revision is the VCS commit built, "" when not stamped.
	Revision string
	// Modified says the work tree had uncommitted changes.
	Modified bool
	// GoVersion is the Go toolchain that built it (go1.26.0).
	GoVersion string
}

// Read returns this binary's build.
var Read = sync.OnceValue(func() Info { return fromBuildInfo(debug.ReadBuildInfo()) })

// fromBuildInfo reads what the go command stamped; ok is false in a
// binary built without module support.
func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	info := Info{Version: Devel, GoVersion: runtime.Version()}
	if !ok {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Version = v
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the build as `runnel --version` prints it:
//
//	v1.2.3 (commit 0123456789abcdef0123456789abcdef01234567, go1.26.0)
//	(devel) (commit 0123456789abcdef0123456789abcdef01234567, modified, go1.26.0)
//	(devel) (commit unknown, go1.26.0)
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (commit ")
	if i.Revision == "" {
		b.WriteString("unknown")
	} else {
		b.WriteString(i.Revision)
	}
	if i.Modified {
		b.WriteString(", modified")
	}
	b.WriteString(", ")
	b.WriteString(i.GoVersion)
	b.WriteString(")")
	return b.String()
}
