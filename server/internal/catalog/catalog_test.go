package catalog

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
)

func TestValidateTopicName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"a.b_c-D9", true},
		{strings.Repeat("x", 249), true},
		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("x", 250), false},
		{"has space", false},
		{"slash/y", false},
		{"ünïcode", false},
		{"__consumer_offsets", false},
	} {
		err := ValidateTopicName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateTopicName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateTopicName(%q) = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention != 7*24*time.Hour || c.RetentionBytes != 0 || c.SegmentBytes != 1<<30 || c.MaxMessageBytes != 1<<20 ||
		c.LogAppendTime || c.TimestampBeforeMS != math.MaxInt64 || c.TimestampAfterMS != 3600000 {
		t.Fatalf("defaults = %+v", c)
	}
	c, err = ParseConfig(map[string]string{TimestampType: LogAppendTime, TimestampBeforeMaxMS: "0", TimestampAfterMaxMS: "5"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.LogAppendTime || c.TimestampBeforeMS != 0 || c.TimestampAfterMS != 5 {
		t.Fatalf("timestamp overrides = %+v", c)
	}
	c, err = ParseConfig(map[string]string{RetentionMS: "-1", RetentionBytes: "4096", MaxMessageBytes: "100"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention != 0 || c.RetentionBytes != 4096 || c.MaxMessageBytes != 100 {
		t.Fatalf("overrides = %+v", c)
	}
	for _, bad := range []map[string]string{
		{"retention.hours": "1"},
		{RetentionMS: "soon"},
		{RetentionMS: "-2"},
		{SegmentBytes: "10"},
		{MaxMessageBytes: "0"},
		{MaxMessageBytes: "999999999"},
		{TimestampType: "createtime"},
		{TimestampAfterMaxMS: "-1"},
	} {
		if _, err := ParseConfig(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseConfig(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestRetentionBytesZero: a new topic may not set retention.bytes=0
// (Kafka would keep nothing; Runnel once read it as no limit), but a topic
// an older broker created with it still loads, with no limit, so that
// replaying the metadata log neither loses the topic nor deletes its data.
func TestRetentionBytesZero(t *testing.T) {
	zero := map[string]string{RetentionBytes: "0"}
	if err := ValidateConfig(zero); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "-1 for no limit") {
		t.Fatalf("ValidateConfig(retention.bytes=0) = %v", err)
	}
	c, err := ParseConfig(zero)
	if err != nil || c.RetentionBytes != 0 {
		t.Fatalf("ParseConfig(retention.bytes=0) = %+v, %v; want no limit", c, err)
	}
	if err := ValidateConfig(map[string]string{RetentionBytes: "-1"}); err != nil {
		t.Fatal(err)
	}
}

// TestSegmentBytesMinimum: a new topic may not set segment.bytes below
// MinSegmentBytes, but a topic an older broker created with a smaller value
// (the floor was 1 KiB) still loads with it.
func TestSegmentBytesMinimum(t *testing.T) {
	small := map[string]string{SegmentBytes: "4096"}
	if err := ValidateConfig(small); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ValidateConfig(segment.bytes=4096) = %v, want ErrInvalid", err)
	}
	if c, err := ParseConfig(small); err != nil || c.SegmentBytes != 4096 {
		t.Fatalf("ParseConfig(segment.bytes=4096) = %+v, %v; want it loaded as is", c, err)
	}
	if err := ValidateConfig(map[string]string{SegmentBytes: "1048576"}); err != nil {
		t.Fatal(err)
	}
}

func TestApply(t *testing.T) {
	c := New()
	created := &metav1.MetadataRecord{Change: &metav1.MetadataRecord_TopicCreated{TopicCreated: &metav1.TopicCreated{
		Name: "orders", TopicId: "id1", Partitions: 3, ReplicationFactor: 1,
		Assignments: []*metav1.PartitionAssignment{{Replicas: []int32{1}}, {Replicas: []int32{1}}, {Replicas: []int32{1}}},
	}}}
	ch, err := c.Apply(created)
	if err != nil || ch.Created == nil || ch.Created.Partitions != 3 {
		t.Fatalf("Apply(create) = %+v, %v", ch, err)
	}
	if _, err := c.Apply(created); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create = %v, want ErrTopicExists", err)
	}
	wrongID := &metav1.MetadataRecord{Change: &metav1.MetadataRecord_TopicDeleted{TopicDeleted: &metav1.TopicDeleted{Name: "orders", TopicId: "other"}}}
	if _, err := c.Apply(wrongID); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("delete of another incarnation = %v, want ErrTopicNotFound", err)
	}
	del := &metav1.MetadataRecord{Change: &metav1.MetadataRecord_TopicDeleted{TopicDeleted: &metav1.TopicDeleted{Name: "orders", TopicId: "id1"}}}
	if ch, err := c.Apply(del); err != nil || ch.Deleted == nil {
		t.Fatalf("Apply(delete) = %+v, %v", ch, err)
	}
	if _, err := c.Topic("orders"); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("Topic after delete = %v", err)
	}
}

func TestReassignment(t *testing.T) {
	c := New()
	apply := func(r *metav1.MetadataRecord) (Change, error) {
		t.Helper()
		return c.Apply(r)
	}
	if _, err := apply(&metav1.MetadataRecord{Change: &metav1.MetadataRecord_TopicCreated{TopicCreated: &metav1.TopicCreated{
		Name: "t", TopicId: "id1", Partitions: 2, ReplicationFactor: 2,
		Assignments: []*metav1.PartitionAssignment{{Replicas: []int32{1, 2}}, {Replicas: []int32{2, 3}}},
	}}}); err != nil {
		t.Fatal(err)
	}
	start := func(id string, p int32, target ...int32) (Change, error) {
		return apply(&metav1.MetadataRecord{Change: &metav1.MetadataRecord_PartitionReassignment{PartitionReassignment: &metav1.PartitionReassignment{
			Topic: "t", TopicId: id, Partition: p, TargetReplicas: target}}})
	}
	done := func(p int32, replicas ...int32) (Change, error) {
		return apply(&metav1.MetadataRecord{Change: &metav1.MetadataRecord_PartitionReassigned{PartitionReassigned: &metav1.PartitionReassigned{
			Topic: "t", TopicId: "id1", Partition: p, Replicas: replicas}}})
	}
	before, _ := c.Topic("t")
	if ch, err := start("id1", 0, 1, 2); err != nil || ch.Reassigning != nil {
		t.Fatalf("reassigning to the current replicas: %+v, %v; want no change", ch, err)
	}
	if _, err := start("other", 0, 3); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("reassigning a partition of another incarnation: %v", err)
	}
	if _, err := start("id1", 5, 3); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reassigning partition 5 of 2: %v", err)
	}
	ch, err := start("id1", 0, 3, 2)
	if err != nil || ch.Reassigning == nil || ch.Partition != 0 {
		t.Fatalf("start: %+v, %v", ch, err)
	}
	tp, _ := c.Topic("t")
	if got := tp.Replicas(0); !slices.Equal(got, []int32{3, 2, 1}) || !tp.HasMoved(0) || tp.HasMoved(1) {
		t.Fatalf("while going: replicas %v, moved %v %v", got, tp.HasMoved(0), tp.HasMoved(1))
	}
	if before.Targets[0] != nil || before.HasMoved(0) {
		t.Fatal("a reader's earlier topic changed under it")
	}
	if _, err := start("id1", 0, 3, 4); err != nil {
		t.Fatalf("replacing the target: %v", err)
	}
	if _, err := done(0, 3, 2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("completing a replaced target: %v, want ErrInvalid", err)
	}
	if ch, err := done(0, 3, 4); err != nil || ch.Reassigned == nil {
		t.Fatalf("complete: %+v, %v", ch, err)
	}
	tp, _ = c.Topic("t")
	if !slices.Equal(tp.Assignments[0], []int32{3, 4}) || len(tp.Targets) != 0 || !slices.Equal(tp.Replicas(0), []int32{3, 4}) {
		t.Fatalf("after: assignments %v targets %v", tp.Assignments, tp.Targets)
	}

	// Replication factor 2 to 3: it changes once both partitions have 3.
	if _, err := start("id1", 0, 3, 4, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := done(0, 3, 4, 1); err != nil {
		t.Fatal(err)
	}
	if tp, _ = c.Topic("t"); tp.ReplicationFactor != 2 {
		t.Fatalf("replication factor %d with partitions of 3 and 2 replicas, want 2 still", tp.ReplicationFactor)
	}
	if _, err := start("id1", 1, 2, 3, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := done(1, 2, 3, 4); err != nil {
		t.Fatal(err)
	}
	if tp, _ = c.Topic("t"); tp.ReplicationFactor != 3 {
		t.Fatalf("replication factor %d with every partition on 3 replicas, want 3", tp.ReplicationFactor)
	}
}

// TestBrokerVersion checks that a registration records the broker's build,
// one without a build keeps the known one, and a refused one changes
// nothing.
func TestBrokerVersion(t *testing.T) {
	c := New()
	register := func(id int32, peer, version string) (Change, error) {
		return c.Apply(&metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerRegistered{BrokerRegistered: &metav1.BrokerRegistered{
			NodeId: id, Address: "client:1", PeerAddress: peer, Version: version,
		}}})
	}
	steps := []struct {
		what         string
		peer         string
		version      string
		wantErr      error
		wantRegister bool
		wantVersion  string
	}{
		{"joined, written by the broker joined through", "peer:1", "", nil, true, ""},
		{"its own registration on start", "peer:1", "v1", nil, false, "v1"},
		{"joining again through another", "peer:1", "", nil, false, "v1"},
		{"upgraded", "peer:1", "v2", nil, false, "v2"},
		{"another broker under its id", "peer:2", "v3", ErrBrokerExists, false, "v2"},
	}
	for _, s := range steps {
		ch, err := register(4, s.peer, s.version)
		if !errors.Is(err, s.wantErr) || (ch.Registered == 4) != s.wantRegister {
			t.Fatalf("%s: Apply = %+v, %v; want error %v, registered %v", s.what, ch, err, s.wantErr, s.wantRegister)
		}
		if got := c.BrokerVersion(4); got != s.wantVersion {
			t.Fatalf("%s: version %q, want %q", s.what, got, s.wantVersion)
		}
	}
}
