package e2e

import (
	"strings"
	"testing"
)

// TestGroupCheckerFindsViolations feeds the consumer-group checker
// histories that break each of its rules, so that a passing
// TestConsumerGroups means something.
func TestGroupCheckerFindsViolations(t *testing.T) {
	acked := map[string]position{"a": {0, 0}, "b": {0, 1}, "c": {0, 2}, "d": {1, 0}}
	assign := func(at int64, owned ...int32) groupEvent {
		return groupEvent{T: at, Ev: "assign", Member: "m", Owned: owned}
	}
	batch := func(at int64, p int32, first int64, values ...string) groupEvent {
		e := groupEvent{T: at, Ev: "batch", P: p}
		for i, v := range values {
			e.Offsets = append(e.Offsets, first+int64(i))
			e.Values = append(e.Values, v)
		}
		return e
	}
	commit := func(at int64, p int32, next int64, ok bool) groupEvent {
		return groupEvent{T: at, Ev: "commit", P: p, Offset: next, OK: ok}
	}
	exit := func(at int64) groupEvent { return groupEvent{T: at, Ev: "exit"} }
	// base: g1 reads partition 0 up to b, commits, stops cleanly; g2 gets
	// partition 0 after it and reads c; g2 reads partition 1 throughout;
	// h1 reads everything.
	base := func() []*memberHistory {
		return []*memberHistory{
			{name: "g1", group: "g", events: []groupEvent{
				assign(10, 0), batch(11, 0, 0, "a", "b"), commit(12, 0, 2, true), exit(13)}},
			{name: "g2", group: "g", events: []groupEvent{
				assign(10, 1), batch(11, 1, 0, "d"), commit(12, 1, 1, true),
				assign(14, 0, 1), batch(15, 0, 2, "c"), commit(16, 0, 3, true)}},
			{name: "h1", group: "h", events: []groupEvent{
				assign(10, 0, 1), batch(11, 0, 0, "a", "b", "c"), batch(12, 1, 0, "d")}},
		}
	}
	if _, errs := checkGroups(acked, base(), "g1"); len(errs) != 0 {
		t.Fatalf("a correct history fails: %v", errs)
	}
	// g2 is given partition 0 before g1 reads its revocation, g1 having
	// read nothing more: an overlap, but no partition read twice at once.
	early := base()
	early[1].events[3].T = 12
	if res, errs := checkGroups(acked, early, "g1"); len(errs) != 0 || res.overlaps != 1 {
		t.Fatalf("an overlap with one reader: %d overlaps, errors %v", res.overlaps, errs)
	}
	cases := []struct {
		name string
		edit func(ms []*memberHistory)
		want string
	}{
		{"(a) an acked record g never read", func(ms []*memberHistory) {
			ms[1].events[4] = batch(15, 0, 3, "zz")
		}, "(a) group g never read 1 acked records, e.g. c"},
		{"(a) a record read elsewhere than its ack said", func(ms []*memberHistory) {
			ms[1].events[4] = batch(15, 0, 5, "c")
		}, "its ack put it at partition 0 offset 2"},
		{"(b) delivered before the assignment that gives it", func(ms []*memberHistory) {
			ms[1].events[4].T = 13
			ms[1].events[3].T = 14
			ms[1].events[3], ms[1].events[4] = ms[1].events[4], ms[1].events[3]
		}, "outside its ownership intervals"},
		{"(b) delivered after the revocation", func(ms []*memberHistory) {
			ms[1].events = append(ms[1].events, assign(17, 1), batch(18, 0, 3, "zz"))
		}, "outside its ownership intervals"},
		{"(b) delivered on a new stream before its assignment", func(ms []*memberHistory) {
			ms[1].events = append(ms[1].events, groupEvent{T: 17, Ev: "stream_end"}, batch(18, 1, 1, "zz"))
		}, "outside its ownership intervals"},
		{"(b) two members own a partition at once and both read", func(ms []*memberHistory) {
			// g2 is given partition 0 while g1 still reads it.
			ms[1].events[3].T = 10
			ms[1].events[4].T = 11
		}, "g1 and g2 both owned partition 0 from 10 to 13, and both were delivered it"},
		{"(b) a killed member's interval lasts to its last line", func(ms []*memberHistory) {
			// g1 is killed (no exit) after a batch g2 read at 15 too.
			ms[0].events = []groupEvent{assign(10, 0), batch(11, 0, 0, "a", "b"), commit(12, 0, 2, true), batch(16, 0, 2, "c")}
		}, "g1 and g2 both owned partition 0 from 14 to 16"},
		{"(c) a record the stopped member committed is read again", func(ms []*memberHistory) {
			ms[1].events[4] = batch(15, 0, 1, "b", "c")
		}, "(c) g2 was delivered partition 0 offset 1"},
		{"(c) the stopped member did not stop cleanly", func(ms []*memberHistory) {
			ms[0].events = ms[0].events[:3]
		}, "did not stop cleanly"},
		{"(d) group h missed a record", func(ms []*memberHistory) {
			ms[2].events = ms[2].events[:2]
		}, "(d) group h never read 1 acked records, e.g. d"},
	}
	for _, c := range cases {
		ms := base()
		c.edit(ms)
		_, errs := checkGroups(acked, ms, "g1")
		found := false
		for _, err := range errs {
			found = found || strings.Contains(err.Error(), c.want)
		}
		if !found {
			t.Errorf("%s: want an error containing %q, got %v", c.name, c.want, errs)
		}
	}
}
