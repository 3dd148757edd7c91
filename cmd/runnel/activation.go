package main

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/runnel-broker/runnel/server"
)

// activationNames are the names runnel serve takes listeners by in
// LISTEN_FDNAMES (systemd's FileDescriptorName=), one for each of its
// listeners: --listen, --http-listen and --peer-listen.
var activationNames = []string{"grpc", "http", "peer"}

// activatedListeners takes the listening sockets a parent passed by
// systemd's socket activation (fds 3 on, LISTEN_FDS, LISTEN_FDNAMES,
// LISTEN_PID) into cfg, where each one overrides its --*-listen flag, and
// returns the names taken. Nothing passed, or passed to another process
// (LISTEN_PID), takes nothing. It clears the variables, so that no child
// of the broker takes the sockets as its own.
func activatedListeners(cfg *server.Config) (taken []string, err error) {
	want := -1
	if pid, err := strconv.Atoi(os.Getenv("LISTEN_PID")); err == nil && pid == os.Getpid() {
		want, _ = strconv.Atoi(os.Getenv("LISTEN_FDS"))
	}
	byName, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	var all []net.Listener
	for _, ls := range byName {
		all = append(all, ls...)
	}
	fail := func(format string, args ...any) ([]string, error) {
		for _, l := range all {
			l.Close()
		}
		return nil, fmt.Errorf("socket activation: "+format, args...)
	}
	if want > 0 && len(all) < want {
		return fail("LISTEN_FDS=%d, but %d of the passed descriptors are listening sockets: pass listening stream sockets only", want, len(all))
	}
	var names []string
	for name := range byName {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ls := byName[name]
		if !slices.Contains(activationNames, name) {
			return fail("a socket named %q (LISTEN_FDNAMES): runnel serve takes %s", name, strings.Join(activationNames, ", "))
		}
		if len(ls) > 1 {
			return fail("%d sockets named %q (LISTEN_FDNAMES): pass one of each name", len(ls), name)
		}
	}
	for _, name := range names {
		l := byName[name][0]
		switch name {
		case "grpc":
			cfg.Listener = l
		case "http":
			cfg.HTTPListener = l
		case "peer":
			cfg.PeerListener = l
		}
	}
	return names, nil
}
