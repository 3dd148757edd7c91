package assignor

import "fmt"

// Partition is one partition of a topic.
type Partition struct {
	Topic     string
	Partition int32
}

// Member is one member of a group as the assignor sees it.
type Member struct {
	ID     string
	Topics []string    // the topics it subscribes to
	Owned  []Partition // its current target assignment, kept where balance allows (stickiness)
}

// Assignor computes a group's target assignment.
type Assignor interface {
	Name() string // "uniform" or "range"
	// Assign returns every member's partitions (a key for every member, a
	// slice sorted by topic then partition, possibly empty). partitions
	// gives each topic's partition count; a subscribed topic missing from it
	// (not created yet, or deleted) is skipped; Owned partitions that no longer
	// exist or that the member no longer subscribes to are dropped.
	Assign(members []Member, partitions map[string]int32) map[string][]Partition
}

// Uniform returns the assignor that spreads partitions evenly over the
// members, keeping each member's owned partitions where balance allows.
func Uniform() Assignor { return uniform{} }

// Range returns the assignor that gives each member a contiguous range of
// every topic it subscribes to, as Kafka's RangeAssignor does.
func Range() Assignor { return rangeAssignor{} }

// ByName returns the assignor called name ("uniform", "range"); "" means uniform.
func ByName(name string) (Assignor, error) {
	switch name {
	case "", "uniform":
		return Uniform(), nil
	case "range":
		return Range(), nil
	}
	return nil, fmt.Errorf("assignor: unknown assignor %q (want uniform or range)", name)
}
