// Package buildinfo says which build of Runnel is running: the module
// version and the VCS commit the go command stamped into the binary
// (runtime/debug.ReadBuildInfo). It is computed here once for
// `runnel --version`, the runnel_build_info metric and DescribeCluster.
//
// The go command stamps the commit when it builds in a work tree with
// -buildvcs=auto (the default) or true; without it (no .git, or
// GOFLAGS=-buildvcs=false) the revision is unknown, and a binary built
// from a checkout rather than installed at a tagged version is "(devel)".
package buildinfo
