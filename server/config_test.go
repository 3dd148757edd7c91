package server

import (
	"strings"
	"testing"
)

// TestConfigValidate checks that each bad cluster configuration is
// refused with a message naming what to fix, and that good ones pass.
func TestConfigValidate(t *testing.T) {
	three := map[int32]string{1: "10.0.0.1:7400", 2: "10.0.0.2:7400", 3: "10.0.0.3:7400"}
	for _, tc := range []struct {
		name    string
		cfg     Config
		mention string // "" for a valid configuration
	}{
		{"single node default", Config{}, ""},
		{"static cluster", Config{NodeID: 2, Peers: three}, ""},
		{"not among the peers", Config{NodeID: 4, Peers: three}, "not among the peers"},
		{"join", Config{NodeID: 4, Listen: "10.0.0.4:7400", Join: "10.0.0.1:7400"}, ""},
		{"join on every interface, advertised", Config{NodeID: 4, Listen: "0.0.0.0:7400", Advertise: "runnel-3.runnel:7400", Join: "10.0.0.1:7400"}, ""},
		{"join on every interface", Config{NodeID: 4, Listen: "0.0.0.0:7400", Join: "10.0.0.1:7400"}, "--advertise"},
		{"join on every v6 interface", Config{NodeID: 4, Listen: "[::]:7400", Join: "10.0.0.1:7400"}, "--advertise"},
		{"join and peers", Config{NodeID: 2, Peers: three, Join: "10.0.0.1:7400"}, "not both"},
		{"join without a port", Config{NodeID: 4, Join: "10.0.0.1"}, "join address"},
		{"advertise without a port", Config{Advertise: "runnel-0"}, "advertised address"},
		{"advertise other than the peers say", Config{NodeID: 1, Peers: three, AdvertisePeer: "10.9.9.9:7400"}, "drop one"},
		{"clients elsewhere than the peers", Config{NodeID: 1, Peers: three, Advertise: "10.9.9.9:7400"}, ""},
		{"static cluster on every interface", Config{NodeID: 1, Peers: three, Listen: "0.0.0.0:7400"}, "--advertise"},
		{"join, peers on every interface", Config{NodeID: 4, PeerListen: "0.0.0.0:7402", Join: "10.0.0.1:7402"}, "--advertise-peer"},
		{"join, peers on every interface, advertised", Config{NodeID: 4, PeerListen: "0.0.0.0:7402", AdvertisePeer: "runnel-3.runnel:7402", Join: "10.0.0.1:7402"}, ""},
		{"peer listen without a port", Config{PeerListen: "127.0.0.1"}, "peer listen address"},
		{"request limits at their most", Config{MaxRequestBytes: MaxRequestBytesLimit, MaxRequestRecords: MaxRequestRecordsLimit}, ""},
		{"request bytes over the entry limit", Config{MaxRequestBytes: MaxRequestBytesLimit + 1}, "max request bytes"},
		{"negative request bytes", Config{MaxRequestBytes: -1}, "max request bytes"},
		{"request records over the limit", Config{MaxRequestRecords: MaxRequestRecordsLimit + 1}, "max request records"},
		{"small budget, its stream share defaulted", Config{MaxInflightBytes: 1 << 20}, ""},
		{"budget under 1 MiB", Config{MaxInflightBytes: 1<<20 - 1}, "max inflight bytes"},
		{"stream share over the budget", Config{MaxInflightBytes: 64 << 20, MaxStreamInflightBytes: 64<<20 + 1}, "max stream inflight bytes"},
		{"stream share under 64 KiB", Config{MaxStreamInflightBytes: 64<<10 - 1}, "max stream inflight bytes"},
		{"stream window under 64 KiB", Config{StreamWindowBytes: 64<<10 - 1}, "stream window bytes"},
		{"stream window over 16 MiB", Config{StreamWindowBytes: 16<<20 + 1}, "stream window bytes"},
		{"negative keepalive", Config{KeepaliveTime: -1}, "negative"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.mention == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.mention != "" && (err == nil || !strings.Contains(err.Error(), tc.mention)):
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.mention)
		}
	}
}
