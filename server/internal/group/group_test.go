package group

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/runnel-broker/runnel/server/internal/assignor"
)

// TestGroup runs testdata/*.txt. Commands (at=S sets the time, in
// seconds from the start, for this and later commands; every command
// but can-commit prints the group after it):
//
//	new [session=S] [rebalance=S] [max=N]
//	topics orders=4 ...
//	join id=a topics=(orders,...) [instance=i]
//	detach id=a | leave id=a | depart id=a [unsettled=(orders/1,...)]
//	stopped id=a p=orders/1 [next=N] [settled]
//	committed id=a p=orders/1 [offset=N]
//	tick
//	can-commit id=a epoch=N p=orders/1
//
// `go test -rewrite` rewrites the expected output.
func TestGroup(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var g *Group
		start := time.Unix(1_000_000, 0)
		now := start
		ids := 0
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.HasArg("at") {
				var s int
				d.ScanArgs(t, "at", &s)
				now = start.Add(time.Duration(s) * time.Second)
			}
			arg := func(key string) string {
				var v string
				d.ScanArgs(t, key, &v)
				return v
			}
			partition := func() Partition {
				topic, p, ok := strings.Cut(arg("p"), "/")
				n, err := strconv.Atoi(p)
				if !ok || err != nil {
					t.Fatalf("p=%s: want topic/partition", arg("p"))
				}
				return Partition{Topic: topic, Partition: int32(n)}
			}
			switch d.Cmd {
			case "new":
				cfg := Config{SessionTimeout: 45 * time.Second, RebalanceTimeout: 30 * time.Second, Assignor: assignor.Uniform()}
				if d.HasArg("max") {
					d.ScanArgs(t, "max", &cfg.MaxMembers)
				}
				if d.HasArg("session") {
					var s int
					d.ScanArgs(t, "session", &s)
					cfg.SessionTimeout = time.Duration(s) * time.Second
				}
				if d.HasArg("rebalance") {
					var s int
					d.ScanArgs(t, "rebalance", &s)
					cfg.RebalanceTimeout = time.Duration(s) * time.Second
				}
				g = New("g", cfg)
			case "topics":
				counts := map[string]int32{}
				for _, a := range d.CmdArgs {
					if a.Key == "at" {
						continue
					}
					n, err := strconv.Atoi(a.Vals[0])
					if err != nil {
						t.Fatal(err)
					}
					counts[a.Key] = int32(n)
				}
				g.SetPartitions(now, counts)
			case "join":
				var topics []string
				for _, a := range d.CmdArgs {
					if a.Key == "topics" {
						topics = a.Vals
					}
				}
				j := Join{MemberID: arg("id"), Topics: topics}
				if d.HasArg("instance") {
					j.InstanceID = arg("instance")
					if j.MemberID == "-" {
						j.MemberID = ""
					}
				}
				got, _, err := g.Join(now, j, func() string { ids++; return fmt.Sprintf("m%d", ids) })
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				if got != arg("id") {
					return fmt.Sprintf("joined as %s\n", got) + dump(g, now, start)
				}
			case "detach":
				g.Detach(now, arg("id"))
			case "leave":
				g.Leave(now, arg("id"))
			case "depart":
				// depart id=a [unsettled=(orders/1,...)]
				unsettled := map[string]bool{}
				for _, a := range d.CmdArgs {
					if a.Key == "unsettled" {
						for _, v := range a.Vals {
							unsettled[v] = true
						}
					}
				}
				g.Depart(now, arg("id"), func(p Partition) bool { return !unsettled[fmt.Sprintf("%s/%d", p.Topic, p.Partition)] })
			case "stopped":
				var next int
				if d.HasArg("next") {
					d.ScanArgs(t, "next", &next)
				}
				g.Stopped(now, arg("id"), partition(), int64(next), d.HasArg("settled"))
			case "committed":
				var offset int
				if d.HasArg("offset") {
					d.ScanArgs(t, "offset", &offset)
				}
				g.Committed(now, arg("id"), partition(), int64(offset))
			case "tick":
				next := g.Tick(now)
				if next.IsZero() {
					return "next: none\n" + dump(g, now, start)
				}
				return fmt.Sprintf("next: %v\n", next.Sub(start).Seconds()) + dump(g, now, start)
			case "can-commit":
				var epoch int
				d.ScanArgs(t, "epoch", &epoch)
				if err := g.CanCommit(arg("id"), int32(epoch), partition()); err != nil {
					return "error: " + err.Error() + "\n"
				}
				return "ok\n"
			default:
				t.Fatalf("unknown command %s", d.Cmd)
			}
			return dump(g, now, start)
		})
	})
}

// dump prints the group: its epoch, then each member with its epoch,
// what it owns (revoking: *), its target, and its session state.
func dump(g *Group, now, start time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d\n", g.Epoch())
	for _, m := range g.Members() {
		fmt.Fprintf(&b, "%s: epoch %d owns %s", m.ID, m.Epoch, list(m.Owned))
		if len(m.Revoking) > 0 {
			fmt.Fprintf(&b, " revoking %s", list(m.Revoking))
		}
		fmt.Fprintf(&b, " target %s", list(m.Target))
		if !m.Attached {
			b.WriteString(" detached")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func list(ps []Partition) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprintf("%s/%d", p.Topic, p.Partition)
	}
	return "[" + strings.Join(s, " ") + "]"
}
