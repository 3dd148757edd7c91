package e2e

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"
)

// memberHistory is what one consumer process of a group wrote, in order
// (groupEvent lines).
type memberHistory struct {
	name, group string
	events      []groupEvent
}

// end is when the process ended: its exit line after a clean stop, else
// (kill -9) its last line.
func (m *memberHistory) end() int64 {
	if len(m.events) == 0 {
		return 0
	}
	return m.events[len(m.events)-1].T
}

// interval is a time a member owned a partition: from the assignment
// event that gave it to the event that took it away (an assignment
// without it, the end of the stream, the end of the process).
type interval struct{ from, to int64 }

type delivery struct {
	member string
	p      int32
	at     int64
	ev     groupEvent
}

// groupCheck is what checkGroups looked at.
type groupCheck struct {
	acked, deliveries, records, intervals int
	// overlaps: intervals of two members of a partition that overlap
	// (only one of them being delivered it then): a member that had
	// nothing beyond the committed offset gives a partition up at once,
	// before it has read its revocation.
	overlaps int
}

// checkGroups checks the consumer-group model against the histories:
//
//	(a) every acked record was delivered to group g at least once, as
//	    the record its ack placed (partition, offset);
//	(b) a member is delivered a partition only within its own ownership
//	    intervals, and no two members of a group are delivered a
//	    partition while their intervals of it overlap;
//	(c) after the clean stop of member stopped (its exit line), no
//	    record it had committed as processed (below its last successful
//	    commit in the partition) is delivered again to anyone in g;
//	(d) every other group (h) read every acked record too.
//
// acked maps each acknowledged value to where its ack put it.
func checkGroups(acked map[string]position, members []*memberHistory, stopped string) (groupCheck, []error) {
	var errs []error
	fail := func(format string, args ...any) {
		if len(errs) < 30 {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	res := groupCheck{acked: len(acked)}
	intervals := map[string]map[int32][]interval{} // member -> partition -> intervals
	var deliveries []delivery
	groups := map[string]bool{}
	for _, m := range members {
		groups[m.group] = true
		ivs := map[int32][]interval{}
		open := map[int32]int64{}
		closeAll := func(at int64) {
			for p, from := range open {
				ivs[p] = append(ivs[p], interval{from, at})
			}
			clear(open)
		}
		for _, e := range m.events {
			switch e.Ev {
			case "assign":
				now := map[int32]bool{}
				for _, p := range e.Owned {
					now[p] = true
					if _, ok := open[p]; !ok {
						open[p] = e.T
					}
				}
				for p, from := range open {
					if !now[p] {
						ivs[p] = append(ivs[p], interval{from, e.T})
						delete(open, p)
					}
				}
			case "stream_end", "exit":
				closeAll(e.T)
			case "batch":
				if _, ok := open[e.P]; !ok {
					fail("(b) %s was delivered partition %d offsets %d-%d at %d outside its ownership intervals (it owns %v)",
						m.name, e.P, e.Offsets[0], e.Offsets[len(e.Offsets)-1], e.T, slices.Sorted(maps.Keys(open)))
				}
				deliveries = append(deliveries, delivery{member: m.name, p: e.P, at: e.T, ev: e})
			}
		}
		closeAll(m.end())
		for _, l := range ivs {
			res.intervals += len(l)
		}
		intervals[m.name] = ivs
	}
	groupOf := map[string]string{}
	for _, m := range members {
		groupOf[m.name] = m.group
	}
	// (b): no two members are delivered a partition while their
	// intervals overlap.
	byMember := map[string]map[int32][]int64{} // member -> partition -> delivery times
	for _, d := range deliveries {
		if byMember[d.member] == nil {
			byMember[d.member] = map[int32][]int64{}
		}
		byMember[d.member][d.p] = append(byMember[d.member][d.p], d.at)
	}
	within := func(member string, p int32, from, to int64) (int64, bool) {
		for _, at := range byMember[member][p] {
			if from <= at && at <= to {
				return at, true
			}
		}
		return 0, false
	}
	for i, x := range members {
		for _, y := range members[i+1:] {
			if x.group != y.group {
				continue
			}
			for p, xs := range intervals[x.name] {
				for _, ix := range xs {
					for _, iy := range intervals[y.name][p] {
						from, to := max(ix.from, iy.from), min(ix.to, iy.to)
						if from >= to {
							continue
						}
						res.overlaps++
						xat, xread := within(x.name, p, from, to)
						yat, yread := within(y.name, p, from, to)
						if xread && yread {
							fail("(b) %s and %s both owned partition %d from %d to %d, and both were delivered it then (%s at %d, %s at %d)",
								x.name, y.name, p, from, to, x.name, xat, y.name, yat)
						}
					}
				}
			}
		}
	}
	// (a), (d): every group read every acked record, where its ack put it.
	for grp := range groups {
		read := map[string]bool{}
		for _, d := range deliveries {
			if groupOf[d.member] != grp {
				continue
			}
			for i, v := range d.ev.Values {
				read[v] = true
				if grp == "g" {
					res.records++
				}
				if a, ok := acked[v]; ok && (a.partition != d.p || a.offset != d.ev.Offsets[i]) {
					fail("%s read %q at partition %d offset %d; its ack put it at partition %d offset %d", d.member, v, d.p, d.ev.Offsets[i], a.partition, a.offset)
				}
			}
		}
		rule := "(d)"
		if grp == "g" {
			rule = "(a)"
		}
		var missing []string
		for v := range acked {
			if !read[v] {
				missing = append(missing, v)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			fail("%s group %s never read %d acked records, e.g. %v at %v", rule, grp, len(missing), missing[0], acked[missing[0]])
		}
	}
	// (c): what the stopped member committed is not read again after it
	// stopped.
	if stopped != "" {
		var s *memberHistory
		for _, m := range members {
			if m.name == stopped {
				s = m
			}
		}
		if s == nil || len(s.events) == 0 || s.events[len(s.events)-1].Ev != "exit" {
			fail("(c) member %s did not stop cleanly (no exit line)", stopped)
		} else {
			committed := map[int32]int64{}
			for _, e := range s.events {
				if e.Ev == "commit" && e.OK {
					committed[e.P] = max(committed[e.P], e.Offset)
				}
			}
			stop := s.end()
			for _, d := range deliveries {
				if d.at <= stop || groupOf[d.member] != s.group {
					continue
				}
				for i, o := range d.ev.Offsets {
					if o < committed[d.p] {
						fail("(c) %s was delivered partition %d offset %d (%q) at %d, after %s stopped at %d having committed up to %d there",
							d.member, d.p, o, d.ev.Values[i], d.at, stopped, stop, committed[d.p])
					}
				}
			}
		}
	}
	res.deliveries = len(deliveries)
	return res, errs
}

// rebalance is how long partitions went unread across one change of a
// group's members.
type rebalance struct {
	change string
	// moved: for each partition that went to another member, from the
	// last record the old owner was delivered to the first the new owner
	// was.
	moved []time.Duration
	// maxPause: the longest time any partition went without a delivery
	// across the change (moved or not).
	maxPause time.Duration
}

func (r rebalance) String() string {
	var moved []string
	for _, d := range r.moved {
		moved = append(moved, d.Round(time.Millisecond).String())
	}
	return fmt.Sprintf("%s: %d partitions moved, last record of the old owner to first of the new: %v; longest pause of any partition %v",
		r.change, len(r.moved), moved, r.maxPause.Round(time.Millisecond))
}

// rebalanceTimes measures the rebalances of group grp at the times of
// changes (UnixNano, in order; each one's window ends at the next).
func rebalanceTimes(members []*memberHistory, grp string, changes map[string]int64) []rebalance {
	byPartition := map[int32][]delivery{}
	for _, m := range members {
		if m.group != grp {
			continue
		}
		for _, e := range m.events {
			if e.Ev == "batch" {
				byPartition[e.P] = append(byPartition[e.P], delivery{member: m.name, p: e.P, at: e.T, ev: e})
			}
		}
	}
	for _, ds := range byPartition {
		slices.SortFunc(ds, func(a, b delivery) int { return cmp.Compare(a.at, b.at) })
	}
	names := slices.SortedFunc(maps.Keys(changes), func(a, b string) int { return cmp.Compare(changes[a], changes[b]) })
	var out []rebalance
	for i, name := range names {
		at, until := changes[name], int64(math.MaxInt64)
		if i+1 < len(names) {
			until = changes[names[i+1]]
		}
		r := rebalance{change: name}
		for _, p := range slices.Sorted(maps.Keys(byPartition)) {
			ds := byPartition[p]
			first := sort.Search(len(ds), func(i int) bool { return ds[i].at > at })
			if first == 0 || first == len(ds) {
				continue
			}
			owner := ds[first-1].member
			for j := first - 1; j+1 < len(ds) && ds[j+1].at < until; j++ {
				r.maxPause = max(r.maxPause, time.Duration(ds[j+1].at-ds[j].at))
			}
			for j := first; j < len(ds) && ds[j].at < until; j++ {
				if ds[j].member != owner {
					k := j - 1
					for ds[k].member != owner {
						k--
					}
					r.moved = append(r.moved, time.Duration(ds[j].at-ds[k].at))
					break
				}
			}
		}
		out = append(out, r)
	}
	return out
}
