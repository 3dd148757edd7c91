package e2e

import (
	"strings"
	"testing"
)

// TestHistoryCheckerFindsViolations feeds the checker histories that break
// each rule, so that a passing fault test means something.
func TestHistoryCheckerFindsViolations(t *testing.T) {
	base := func() *history {
		h := newHistory()
		h.ack([]string{"a", "b"}, ack{partition: 0, offset: 0, producer: 1, seq: 1})
		h.ack([]string{"c"}, ack{partition: 0, offset: 2, producer: 1, seq: 2})
		h.observe("consumer", 0, []observed{{0, "a"}, {1, "b"}})
		return h
	}
	good := map[int32][]string{0: {"a", "b", "c"}}
	if _, errs := base().check(map[string]map[int32][]string{"x": good, "y": good}); len(errs) != 0 {
		t.Fatalf("a correct history fails: %v", errs)
	}
	cases := []struct {
		name string
		edit func(h *history) map[string]map[int32][]string
		want string
	}{
		{"acked record lost", func(*history) map[string]map[int32][]string {
			return map[string]map[int32][]string{"x": {0: {"a", "b"}}}
		}, "is not in the log"},
		{"acked record moved", func(*history) map[string]map[int32][]string {
			return map[string]map[int32][]string{"x": {0: {"a", "c", "b"}}}
		}, "is at partition"},
		{"record no one wrote", func(*history) map[string]map[int32][]string {
			return map[string]map[int32][]string{"x": {0: {"a", "b", "c", "zz"}}}
		}, "never written"},
		{"record twice", func(*history) map[string]map[int32][]string {
			return map[string]map[int32][]string{"x": {0: {"a", "b", "c", "a"}}}
		}, "twice"},
		{"replicas differ", func(*history) map[string]map[int32][]string {
			return map[string]map[int32][]string{"x": good, "y": {0: {"a", "b", "d"}}}
		}, "through"},
		{"producer order broken", func(h *history) map[string]map[int32][]string {
			h.ack([]string{"d"}, ack{partition: 0, offset: 1, producer: 1, seq: 3})
			return map[string]map[int32][]string{"x": {0: {"a", "d", "c"}}}
		}, "after write"},
		{"consumer read a record that changed", func(h *history) map[string]map[int32][]string {
			h.observe("consumer", 0, []observed{{2, "z"}})
			return map[string]map[int32][]string{"x": good}
		}, "the final log differs"},
		{"consumer skipped an offset", func(h *history) map[string]map[int32][]string {
			h.observe("other", 0, []observed{{0, "a"}, {2, "c"}})
			return map[string]map[int32][]string{"x": good}
		}, "after 0"},
	}
	for _, c := range cases {
		h := base()
		logs := c.edit(h)
		_, errs := h.check(logs)
		found := false
		for _, err := range errs {
			found = found || strings.Contains(err.Error(), c.want)
		}
		if !found {
			t.Errorf("%s: want an error containing %q, got %v", c.name, c.want, errs)
		}
	}
}
