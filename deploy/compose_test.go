package deploy

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestCompose loads compose.yaml with compose-go, the Compose
// specification's own loader (it checks the file against the
// specification's schema, so an unknown or misplaced key fails), and
// checks the cluster it describes: three brokers with node ids 1 to 3
// and the same --peers, and an app sharing its sidecar's network.
func TestCompose(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithOsEnv, cli.WithName("runnel"))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var peers string
	for id := 1; id <= 3; id++ {
		name := fmt.Sprintf("broker%d", id)
		s, ok := project.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		value := func(key string) string {
			if v := s.Environment[key]; v != nil {
				return *v
			}
			return ""
		}
		if got := value("RUNNEL_NODE_ID"); got != fmt.Sprint(id) {
			t.Errorf("%s: RUNNEL_NODE_ID %q", name, got)
		}
		if got := value("RUNNEL_ADVERTISE"); got != name+":7400" {
			t.Errorf("%s: RUNNEL_ADVERTISE %q", name, got)
		}
		if id == 1 {
			peers = value("RUNNEL_PEERS")
		}
		if got := value("RUNNEL_PEERS"); got != "1=broker1:7402,2=broker2:7402,3=broker3:7402" || got != peers {
			t.Errorf("%s: RUNNEL_PEERS %q", name, got)
		}
		if len(s.Volumes) != 1 || s.Volumes[0].Target != "/var/lib/runnel" || s.Volumes[0].Type != types.VolumeTypeVolume {
			t.Errorf("%s: volumes %+v, want a named volume on /var/lib/runnel", name, s.Volumes)
		}
		if s.StopGracePeriod == nil || *s.StopGracePeriod <= types.Duration(10e9) {
			t.Errorf("%s: stop_grace_period %v, want over the broker's 10 s shutdown", name, s.StopGracePeriod)
		}
	}
	sidecar := project.Services["sidecar"]
	want := []string{"sidecar", "--upstream=broker1:7400,broker2:7400,broker3:7400", "--listen=127.0.0.1:7400", "--data-dir=/var/lib/runnel", "--spool-bytes=268435456"}
	if !slices.Equal(sidecar.Command, want) {
		t.Errorf("sidecar command %q, want %q", sidecar.Command, want)
	}
	if app := project.Services["app"]; app.NetworkMode != "service:sidecar" {
		t.Errorf("app network_mode %q, want service:sidecar (the sidecar's 127.0.0.1)", app.NetworkMode)
	}
}
