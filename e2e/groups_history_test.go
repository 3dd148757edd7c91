package e2e

import (
	"fmt"
	"maps"
	"slices"
	"sort"
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
}

// checkGroups checks the consumer-group model against the histories:
//
//	(a) every acked record was delivered to group g at least once, as
//	    the record its ack placed (partition, offset);
//	(b) a member is delivered a partition only within its own ownership
//	    intervals, and never within another member's interval of that
//	    partition: no two members of a group read a partition at once;
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
	// (b): no delivery inside another member's interval.
	for _, d := range deliveries {
		for _, m := range members {
			if m.name == d.member || m.group != groupOf[d.member] {
				continue
			}
			for _, iv := range intervals[m.name][d.p] {
				if iv.from < d.at && d.at < iv.to {
					fail("(b) %s was delivered partition %d offsets %d-%d at %d, while %s owned it (from %d to %d)",
						d.member, d.p, d.ev.Offsets[0], d.ev.Offsets[len(d.ev.Offsets)-1], d.at, m.name, iv.from, iv.to)
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
