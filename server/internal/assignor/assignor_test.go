package assignor

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// The tests read testdata/<assignor>.txt, whose commands change a group
// and assign it:
//
//	topics orders=6 payments=3      the topics that exist, replacing all
//	join id=a topics=(orders)       a member joins, owning nothing
//	leave id=a                      a member leaves
//	subscribe id=a topics=(...)     a member changes its subscription
//	assign                          assign, print the result, keep it
//
// assign passes the members in the order they joined, each owning what
// the last assign gave it, and prints every member's partitions and
//
//	moved=N    partitions taken from a member still in the group
//	placed=N   partitions that had no owner there (new, or a leaver's)
//
// Every assign also checks the rules of checkRules. `go test -rewrite`
// rewrites the expected output.

func TestUniform(t *testing.T) { runFile(t, "testdata/uniform.txt", Uniform()) }

func TestRange(t *testing.T) { runFile(t, "testdata/range.txt", Range()) }

func runFile(t *testing.T, path string, a Assignor) {
	var s scenario
	datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "topics":
			s.partitions = map[string]int32{}
			for _, arg := range d.CmdArgs {
				var n int
				d.ScanArgs(t, arg.Key, &n)
				s.partitions[arg.Key] = int32(n)
			}
			return ""
		case "join":
			id := memberID(t, d)
			if s.index(id) >= 0 {
				d.Fatalf(t, "%s is a member already", id)
			}
			s.members = append(s.members, Member{ID: id, Topics: topicList(d)})
			return ""
		case "leave":
			i := s.mustIndex(t, d)
			s.members = slices.Delete(s.members, i, i+1)
			return ""
		case "subscribe":
			i := s.mustIndex(t, d)
			s.members[i].Topics = topicList(d)
			return ""
		case "assign":
			got := a.Assign(s.members, s.partitions)
			if err := checkRules(a, s.members, s.partitions, got); err != nil {
				d.Fatalf(t, "%v", err)
			}
			out := describe(s.members, got)
			s.keep(got)
			return out
		}
		d.Fatalf(t, "unknown command %q", d.Cmd)
		return ""
	})
}

// scenario is a group as a data file builds it.
type scenario struct {
	partitions map[string]int32
	members    []Member // in the order they joined
}

func (s *scenario) index(id string) int {
	return slices.IndexFunc(s.members, func(m Member) bool { return m.ID == id })
}

func (s *scenario) mustIndex(t *testing.T, d *datadriven.TestData) int {
	id := memberID(t, d)
	i := s.index(id)
	if i < 0 {
		d.Fatalf(t, "%s is not a member", id)
	}
	return i
}

// keep makes an assignment the members' target, owned from now on.
func (s *scenario) keep(got map[string][]Partition) {
	for i := range s.members {
		s.members[i].Owned = got[s.members[i].ID]
	}
}

func memberID(t *testing.T, d *datadriven.TestData) string {
	var id string
	d.ScanArgs(t, "id", &id)
	return id
}

func topicList(d *datadriven.TestData) []string {
	for _, arg := range d.CmdArgs {
		if arg.Key == "topics" {
			return slices.DeleteFunc(slices.Clone(arg.Vals), func(v string) bool { return v == "" })
		}
	}
	return nil
}

// describe prints each member's partitions, by ID, and how many moved
// from members (their Owned) to others.
func describe(members []Member, got map[string][]Partition) string {
	var b strings.Builder
	for _, id := range sortedKeys(got) {
		fmt.Fprintf(&b, "%s (%d): %s\n", id, len(got[id]), compact(got[id]))
	}
	before := map[Partition]string{}
	for _, m := range members {
		for _, p := range m.Owned {
			before[p] = m.ID
		}
	}
	moved, placed := 0, 0
	for id, parts := range got {
		for _, p := range parts {
			switch prev, ok := before[p]; {
			case !ok:
				placed++
			case prev != id:
				moved++
			}
		}
	}
	fmt.Fprintf(&b, "moved=%d placed=%d\n", moved, placed)
	return b.String()
}

// compact prints sorted partitions topic by topic, runs as ranges:
// "orders 0-2,5; payments 1".
func compact(parts []Partition) string {
	if len(parts) == 0 {
		return "-"
	}
	var topics []string
	for i := 0; i < len(parts); {
		name := parts[i].Topic
		var runs []string
		for i < len(parts) && parts[i].Topic == name {
			j := i
			for j+1 < len(parts) && parts[j+1].Topic == name && parts[j+1].Partition == parts[j].Partition+1 {
				j++
			}
			if j == i {
				runs = append(runs, fmt.Sprint(parts[i].Partition))
			} else {
				runs = append(runs, fmt.Sprintf("%d-%d", parts[i].Partition, parts[j].Partition))
			}
			i = j + 1
		}
		topics = append(topics, name+" "+strings.Join(runs, ","))
	}
	return strings.Join(topics, "; ")
}

func TestByName(t *testing.T) {
	for name, want := range map[string]string{"": "uniform", "uniform": "uniform", "range": "range"} {
		a, err := ByName(name)
		if err != nil || a.Name() != want {
			t.Errorf("ByName(%q) = %v, %v; want %s", name, a, err, want)
		}
	}
	if a, err := ByName("sticky"); err == nil {
		t.Errorf("ByName(sticky) = %v, want an error", a.Name())
	}
}

// TestDuplicateIDs: a member listed twice is one member with both
// subscriptions and both assignments, whichever entry comes first.
func TestDuplicateIDs(t *testing.T) {
	partitions := map[string]int32{"x": 2, "y": 2}
	first := Member{ID: "a", Topics: []string{"x"}, Owned: []Partition{{"x", 1}}}
	second := Member{ID: "a", Topics: []string{"y"}}
	other := Member{ID: "b", Topics: []string{"x", "y"}}
	for _, a := range []Assignor{Uniform(), Range()} {
		got := a.Assign([]Member{first, second, other}, partitions)
		merged := Member{ID: "a", Topics: []string{"x", "y"}, Owned: first.Owned}
		if err := checkRules(a, []Member{merged, other}, partitions, got); err != nil {
			t.Errorf("%s: %v", a.Name(), err)
		}
		if again := a.Assign([]Member{other, second, first}, partitions); !reflect.DeepEqual(again, got) {
			t.Errorf("%s: the other order gives %v, want %v", a.Name(), again, got)
		}
	}
}

func sortedKeys(m map[string][]Partition) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
