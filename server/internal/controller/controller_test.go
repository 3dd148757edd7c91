package controller

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// The tests read testdata/<name>.txt: see each command's runner for its
// arguments. `go test -rewrite` rewrites the expected output.

func TestPlace(t *testing.T) {
	var brokers []int32
	var existing [][]int32
	datadriven.RunTest(t, "testdata/place.txt", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "brokers":
			// brokers ids=(1,2,3): a new cluster, with no topics.
			brokers, existing = ids(t, d, "ids"), nil
			return ""
		case "place":
			// place partitions=N rf=N [seed=N]: a new topic, which the
			// catalog then holds. Without a seed ties go to the first.
			var partitions, rf int
			d.ScanArgs(t, "partitions", &partitions)
			d.ScanArgs(t, "rf", &rf)
			var intN func(int) int
			if d.HasArg("seed") {
				var seed uint64
				d.ScanArgs(t, "seed", &seed)
				intN = rand.New(rand.NewPCG(seed, seed)).IntN
			}
			placed, err := Place(brokers, existing, int32(partitions), int32(rf), intN)
			if err != nil {
				return "error: " + err.Error()
			}
			existing = append(existing, placed...)
			var b strings.Builder
			for p, replicas := range placed {
				fmt.Fprintf(&b, "%d: %v\n", p, replicas)
			}
			leads, holds := map[int32]int{}, map[int32]int{}
			for _, replicas := range existing {
				leads[replicas[0]]++
				for _, id := range replicas {
					holds[id]++
				}
			}
			b.WriteString("catalog:")
			for _, id := range brokers {
				fmt.Fprintf(&b, " %d leads %d holds %d;", id, leads[id], holds[id])
			}
			return strings.TrimSuffix(b.String(), ";") + "\n"
		}
		return unknown(t, d)
	})
}

func TestBalanceLeaders(t *testing.T) {
	datadriven.RunTest(t, "testdata/balance.txt", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "balance":
			// balance self=N, then a line per partition self leads:
			//   NAME preferred=N caught-up=(...) [moving]
			var self int
			d.ScanArgs(t, "self", &self)
			var led []Led
			for _, line := range lines(d.Input) {
				name, args := parseLine(t, d, line)
				l := Led{Partition: name, Preferred: one(t, d, args, "preferred"), CaughtUp: list(t, d, args, "caught-up")}
				_, l.Moving = args["moving"]
				led = append(led, l)
			}
			var b strings.Builder
			for _, tr := range BalanceLeaders(int32(self), led) {
				fmt.Fprintf(&b, "transfer %s to %d\n", tr.Partition, tr.To)
			}
			if b.Len() == 0 {
				return "none\n"
			}
			return b.String()
		}
		return unknown(t, d)
	})
}

func TestHandOff(t *testing.T) {
	datadriven.RunTest(t, "testdata/handoff.txt", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "handoff":
			// handoff self=N, then a line per group self leads:
			//   NAME voters=(...) caught-up=(...)
			var self int
			d.ScanArgs(t, "self", &self)
			var leading []Leading
			for _, line := range lines(d.Input) {
				name, args := parseLine(t, d, line)
				leading = append(leading, Leading{Partition: name, Voters: list(t, d, args, "voters"), CaughtUp: list(t, d, args, "caught-up")})
			}
			var b strings.Builder
			for _, tr := range HandOff(int32(self), leading) {
				fmt.Fprintf(&b, "transfer %s to %d\n", tr.Partition, tr.To)
			}
			if b.Len() == 0 {
				return "none\n"
			}
			return b.String()
		}
		return unknown(t, d)
	})
}

func TestReassign(t *testing.T) {
	datadriven.RunTest(t, "testdata/reassign.txt", func(t *testing.T, d *datadriven.TestData) string {
		g := group(t, d)
		target := ids(t, d, "target")
		switch d.Cmd {
		case "reassign":
			// reassign leader=N voters=(...) [outgoing=(...)]
			// [learners=(...)] [caught-up=(...)] target=(...)
			// [not-joinable]: the next step. caught-up defaults to the
			// voters.
			step, err := Reassign(g, target)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			return step.String() + "\n"
		case "walk":
			// walk, with reassign's arguments and [lag=N]: the steps, each
			// applied as raft would, until the move is done. A learner is
			// caught up lag rounds (default 1) after it was added; raft
			// leaves a joint configuration one round after entering it.
			lag := 1
			if d.HasArg("lag") {
				d.ScanArgs(t, "lag", &lag)
			}
			added := map[int32]int{}
			var b strings.Builder
			for round := 1; round <= 20; round++ {
				g.CaughtUp = slices.Clone(g.Conf.Voters)
				for _, id := range g.Conf.Learners {
					if round-added[id] >= lag {
						g.CaughtUp = append(g.CaughtUp, id)
					}
				}
				step, err := Reassign(g, target)
				if err != nil {
					fmt.Fprintf(&b, "%d: error: %v\n", round, err)
					break
				}
				fmt.Fprintf(&b, "%d: %s\n", round, step)
				if step.Action == Finish {
					break
				}
				if len(g.Conf.VotersOutgoing) > 0 {
					g.Conf.VotersOutgoing = nil
				}
				switch step.Action {
				case ChangeConf:
					for _, c := range step.Changes {
						if c.Op == AddLearner {
							added[c.Node] = round
						}
					}
					g.Conf = apply(g.Conf, step.Changes)
				case TransferLeadership:
					g.Leader = step.To
				}
				fmt.Fprintf(&b, "   %s\n", describe(g))
			}
			return b.String()
		}
		return unknown(t, d)
	})
}

func TestAddJoined(t *testing.T) {
	datadriven.RunTest(t, "testdata/joined.txt", func(t *testing.T, d *datadriven.TestData) string {
		g := group(t, d)
		members := ids(t, d, "members")
		switch d.Cmd {
		case "add-joined":
			// add-joined leader=N voters=(...) [learners=(...)]
			// [outgoing=(...)] members=(...) [not-joinable]: the next step.
			return AddJoined(g, members).String() + "\n"
		case "walk":
			// walk, with add-joined's arguments: the steps, each applied,
			// until one waits.
			var b strings.Builder
			for round := 1; round <= 20; round++ {
				step := AddJoined(g, members)
				fmt.Fprintf(&b, "%d: %s\n", round, step)
				if step.Action != ChangeConf {
					break
				}
				g.Conf = apply(g.Conf, step.Changes)
				fmt.Fprintf(&b, "   %s\n", describe(g))
			}
			return b.String()
		}
		return unknown(t, d)
	})
}

// apply changes cs as raft does: several changes at once enter a joint
// configuration, whose outgoing voters are the voters before.
func apply(cs Conf, changes []Change) Conf {
	next := Conf{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)}
	for _, c := range changes {
		next.Voters = slices.DeleteFunc(next.Voters, func(id int32) bool { return id == c.Node })
		next.Learners = slices.DeleteFunc(next.Learners, func(id int32) bool { return id == c.Node })
		switch c.Op {
		case AddLearner:
			next.Learners = append(next.Learners, c.Node)
		case AddVoter:
			next.Voters = append(next.Voters, c.Node)
		}
	}
	if len(changes) > 1 && !slices.Equal(sorted(next.Voters), sorted(cs.Voters)) {
		next.VotersOutgoing = slices.Clone(cs.Voters)
	}
	return next
}

func describe(g Group) string {
	s := fmt.Sprintf("leader=%d voters=%v", g.Leader, g.Conf.Voters)
	if len(g.Conf.VotersOutgoing) > 0 {
		s += fmt.Sprintf(" outgoing=%v", g.Conf.VotersOutgoing)
	}
	if len(g.Conf.Learners) > 0 {
		s += fmt.Sprintf(" learners=%v", g.Conf.Learners)
	}
	return s
}

// group reads a Group from the arguments leader, voters, outgoing,
// learners, caught-up (default: the voters) and not-joinable.
func group(t *testing.T, d *datadriven.TestData) Group {
	var leader int
	if d.HasArg("leader") {
		d.ScanArgs(t, "leader", &leader)
	}
	g := Group{
		Leader:   int32(leader),
		Conf:     Conf{Voters: ids(t, d, "voters"), VotersOutgoing: ids(t, d, "outgoing"), Learners: ids(t, d, "learners")},
		Joinable: !d.HasArg("not-joinable"),
	}
	g.CaughtUp = g.Conf.Voters
	if d.HasArg("caught-up") {
		g.CaughtUp = ids(t, d, "caught-up")
	}
	return g
}

// ids reads key=(1,2,3) from the command line; none if it is missing.
func ids(t *testing.T, d *datadriven.TestData, key string) []int32 {
	for _, arg := range d.CmdArgs {
		if arg.Key == key {
			return parseIDs(t, d, arg.Vals)
		}
	}
	return nil
}

func parseIDs(t *testing.T, d *datadriven.TestData, vals []string) []int32 {
	var out []int32
	for _, v := range vals {
		if v == "" {
			continue // key=()
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			d.Fatalf(t, "%q: %v", v, err)
		}
		out = append(out, int32(n))
	}
	return out
}

func lines(input string) []string {
	var out []string
	for _, l := range strings.Split(input, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// parseLine reads an input line, "NAME key=value ...", as the command
// line is read.
func parseLine(t *testing.T, d *datadriven.TestData, line string) (string, map[string][]string) {
	name, cmdArgs, err := datadriven.ParseLine(line)
	if err != nil {
		d.Fatalf(t, "%s: %v", line, err)
	}
	args := map[string][]string{}
	for _, a := range cmdArgs {
		args[a.Key] = a.Vals
	}
	return name, args
}

func one(t *testing.T, d *datadriven.TestData, args map[string][]string, key string) int32 {
	got := parseIDs(t, d, args[key])
	if len(got) != 1 {
		d.Fatalf(t, "%s: want one id, got %v", key, args[key])
	}
	return got[0]
}

func list(t *testing.T, d *datadriven.TestData, args map[string][]string, key string) []int32 {
	return parseIDs(t, d, args[key])
}

func sorted(s []int32) []int32 { return slices.Sorted(slices.Values(s)) }

func unknown(t *testing.T, d *datadriven.TestData) string {
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func TestDecommission(t *testing.T) {
	datadriven.RunTest(t, "testdata/decommission.txt", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "decommission":
			// decommission leaving=N brokers=(...), then a line per
			// partition: NAME replicas=(...) [target=(...)], or per group
			// every broker replicates: NAME internal voters=(...)
			// [learners=(...)].
			var leaving int
			d.ScanArgs(t, "leaving", &leaving)
			var holdings []Holding
			var internal []Conf
			for _, line := range lines(d.Input) {
				name, args := parseLine(t, d, line)
				if _, ok := args["internal"]; ok {
					internal = append(internal, Conf{Voters: list(t, d, args, "voters"), Learners: list(t, d, args, "learners")})
					continue
				}
				h := Holding{Partition: name, Replicas: list(t, d, args, "replicas")}
				if _, ok := args["target"]; ok {
					h.Target = list(t, d, args, "target")
				}
				holdings = append(holdings, h)
			}
			drain, err := Decommission(int32(leaving), ids(t, d, "brokers"), holdings, internal)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			var b strings.Builder
			for _, m := range drain.Moves {
				fmt.Fprintf(&b, "move %s to %v\n", m.Partition, m.Replicas)
			}
			for _, p := range drain.Moving {
				fmt.Fprintf(&b, "moving %s\n", p)
			}
			if drain.Done {
				b.WriteString("done\n")
			} else {
				b.WriteString("not done\n")
			}
			return b.String()
		case "remove-left":
			// remove-left, with add-joined's group arguments and
			// leaving=(...): the next step.
			return RemoveLeft(group(t, d), ids(t, d, "leaving")).String() + "\n"
		}
		return unknown(t, d)
	})
}
