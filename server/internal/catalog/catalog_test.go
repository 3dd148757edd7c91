package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/internal/golden"
	"github.com/runnel-broker/runnel/server/internal/authz"
	"github.com/runnel-broker/runnel/server/internal/quota"
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

// TestBrokerRemoved: a broker is removed only once decommissioning; then
// it is gone, its node id never registers again, and a snapshot keeps
// both states.
func TestBrokerRemoved(t *testing.T) {
	c := New()
	apply := func(r *metav1.MetadataRecord) (Change, error) { return c.Apply(r) }
	register := &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerRegistered{BrokerRegistered: &metav1.BrokerRegistered{
		NodeId: 4, Address: "client:4", PeerAddress: "peer:4", Version: "v1"}}}
	decommission := &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerDecommissioning{BrokerDecommissioning: &metav1.BrokerDecommissioning{NodeId: 4}}}
	remove := &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerRemoved{BrokerRemoved: &metav1.BrokerRemoved{NodeId: 4}}}
	if _, err := apply(register); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(remove); !errors.Is(err, ErrInvalid) {
		t.Fatalf("removing a broker not decommissioning: %v, want ErrInvalid", err)
	}
	if _, err := apply(decommission); err != nil {
		t.Fatal(err)
	}
	if !c.IsDecommissioning(4) || !slices.Equal(c.Decommissioning(), []int32{4}) {
		t.Fatalf("decommissioning %v", c.Decommissioning())
	}
	snap, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := New()
	if err := restored.Restore(snap); err != nil || !restored.IsDecommissioning(4) {
		t.Fatalf("restored: decommissioning %v, %v", restored.Decommissioning(), err)
	}
	if ch, err := apply(remove); err != nil || ch.Removed != 4 {
		t.Fatalf("removing: %+v, %v", ch, err)
	}
	if _, ok := c.Broker(4); ok || c.IsDecommissioning(4) || !c.Removed(4) || c.BrokerVersion(4) != "" {
		t.Fatalf("after removal: brokers %v, decommissioning %v, removed %v", c.Brokers(), c.Decommissioning(), c.RemovedIDs())
	}
	for _, r := range []*metav1.MetadataRecord{register, decommission} {
		if _, err := apply(r); !errors.Is(err, ErrBrokerRemoved) {
			t.Fatalf("%v after removal: %v, want ErrBrokerRemoved", r, err)
		}
	}
	if snap, err = c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	restored = New()
	if err := restored.Restore(snap); err != nil || !restored.Removed(4) || len(restored.Brokers()) != 0 {
		t.Fatalf("restored: removed %v brokers %v, %v", restored.RemovedIDs(), restored.Brokers(), err)
	}
}

// randomRecord is a metadata record over a few names, ids and brokers, so
// that records often hit what earlier ones built (or conflict with it).
func randomRecord(rng *rand.Rand) *metav1.MetadataRecord {
	name := fmt.Sprintf("t%d", rng.IntN(4))
	id := fmt.Sprintf("id%d", rng.IntN(3))
	replicas := func() []int32 {
		out := []int32{}
		for n := int32(1); n <= 4; n++ {
			if rng.IntN(2) == 0 {
				out = append(out, n)
			}
		}
		return out
	}
	switch rng.IntN(12) {
	case 10, 11:
		// NB: some invalid (both, or neither, a rate negative), and the
		// default among the principals.
		principal := []string{"", "User:u0", "User:u1", "u2"}[rng.IntN(4)]
		isDefault := principal == "" || rng.IntN(8) == 0
		if rng.IntN(3) == 0 {
			return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_QuotaDeleted{QuotaDeleted: &metav1.QuotaDeleted{
				Principal: principal, IsDefault: isDefault}}}
		}
		rate := func() float64 { return []float64{0, 0, 1000, 1e6, -1}[rng.IntN(5)] }
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_QuotaSet{QuotaSet: &metav1.QuotaSet{Principal: principal, IsDefault: isDefault,
			ProduceBytesPerSec: rate(), ConsumeBytesPerSec: rate(), RequestsPerSec: rate()}}}
	case 8, 9:
		var acls []*metav1.AclBinding
		for range 1 + rng.IntN(3) {
			acls = append(acls, &metav1.AclBinding{Principal: fmt.Sprintf("User:u%d", rng.IntN(2)), ResourceType: int32(authz.Topic),
				ResourceName: name, PatternType: 1 + rng.Int32N(2), Operation: 1 + rng.Int32N(8), Permission: 1 + rng.Int32N(2)})
		}
		if rng.IntN(2) == 0 {
			return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_AclsCreated{AclsCreated: &metav1.AclsCreated{Acls: acls}}}
		}
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_AclsDeleted{AclsDeleted: &metav1.AclsDeleted{Acls: acls}}}
	case 6:
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerDecommissioning{BrokerDecommissioning: &metav1.BrokerDecommissioning{
			NodeId: 1 + rng.Int32N(6)}}}
	case 7:
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerRemoved{BrokerRemoved: &metav1.BrokerRemoved{
			NodeId: 1 + rng.Int32N(6)}}}
	case 0:
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_ClusterCreated{ClusterCreated: &metav1.ClusterCreated{ClusterId: id}}}
	case 1:
		n := 1 + rng.Int32N(3)
		tc := &metav1.TopicCreated{Name: name, TopicId: id, Partitions: n, ReplicationFactor: 2}
		if rng.IntN(2) == 0 {
			tc.Config = map[string]string{RetentionBytes: fmt.Sprint(4096 * (1 + rng.IntN(4)))}
		}
		for range n {
			tc.Assignments = append(tc.Assignments, &metav1.PartitionAssignment{Replicas: replicas()})
		}
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_TopicCreated{TopicCreated: tc}}
	case 2:
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_TopicDeleted{TopicDeleted: &metav1.TopicDeleted{Name: name, TopicId: id}}}
	case 3:
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_PartitionReassignment{PartitionReassignment: &metav1.PartitionReassignment{
			Topic: name, TopicId: id, Partition: rng.Int32N(3), TargetReplicas: replicas()}}}
	case 4:
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_PartitionReassigned{PartitionReassigned: &metav1.PartitionReassigned{
			Topic: name, TopicId: id, Partition: rng.Int32N(3), Replicas: replicas()}}}
	default:
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerRegistered{BrokerRegistered: &metav1.BrokerRegistered{
			NodeId: 1 + rng.Int32N(4), Address: fmt.Sprintf("c%d", rng.IntN(2)), PeerAddress: fmt.Sprintf("p%d", rng.IntN(2)),
			Initial: rng.IntN(2) == 0, Version: []string{"", "v1", "v2"}[rng.IntN(3)]}}}
	}
}

// TestSnapshotRestoreThenApplyIsReplay snapshots a catalog midway through
// a stream of random records, restores it into another and applies the
// rest there: each record has the same outcome as in the catalog that
// applied them all, and both end equal, field by field and in their
// snapshots' bytes.
func TestSnapshotRestoreThenApplyIsReplay(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var recs []*metav1.MetadataRecord
		for range 400 {
			// NB: through its encoding, as the log hands it over.
			b, err := proto.Marshal(randomRecord(rng))
			if err != nil {
				t.Fatal(err)
			}
			r := &metav1.MetadataRecord{}
			if err := proto.Unmarshal(b, r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		cut := rng.IntN(len(recs))
		replay, restored := New(), New()
		restored.Apply(recs[0]) // overwritten by the restore
		for _, r := range recs[:cut] {
			replay.Apply(r)
		}
		snap, err := replay.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if err := restored.Restore(snap); err != nil {
			t.Fatal(err)
		}
		for i, r := range recs[cut:] {
			wantChange, wantErr := replay.Apply(r)
			gotChange, gotErr := restored.Apply(r)
			if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) || !reflect.DeepEqual(wantChange, gotChange) {
				t.Fatalf("seed %d: record %d after a restore at %d: %+v, %v; replayed: %+v, %v",
					seed, cut+i, cut, gotChange, gotErr, wantChange, wantErr)
			}
		}
		if !reflect.DeepEqual(replay.Topics(), restored.Topics()) || !reflect.DeepEqual(replay.brokers, restored.brokers) ||
			!reflect.DeepEqual(replay.versions, restored.versions) || replay.ClusterID() != restored.ClusterID() ||
			!slices.Equal(replay.acls, restored.acls) || !reflect.DeepEqual(quotasOf(replay), quotasOf(restored)) {
			t.Fatalf("seed %d: restored at %d then applied: %+v %v %v; replayed: %+v %v %v", seed, cut,
				restored.Topics(), restored.brokers, restored.versions, replay.Topics(), replay.brokers, replay.versions)
		}
		a, _ := replay.Snapshot()
		b, _ := restored.Snapshot()
		if !bytes.Equal(a, b) {
			t.Fatalf("seed %d: the snapshots differ", seed)
		}
	}
	if err := New().Restore([]byte{0x08, 0x02}); err == nil {
		t.Fatal("a snapshot of version 2 restored")
	}
}

// quotasOf is c's quotas, with an empty map as none.
func quotasOf(c *Catalog) quota.Quotas {
	q, _ := c.Quotas()
	if len(q.Principals) == 0 {
		q.Principals = nil
	}
	return q
}

// TestGoldenCatalogSnapshot pins the catalog snapshot's encoding: a
// catalog with a topic being reassigned, config overrides, brokers and
// their builds. The golden bytes restore to the same catalog.
func TestGoldenCatalogSnapshot(t *testing.T) {
	c := New()
	for _, r := range []*metav1.MetadataRecord{
		{Change: &metav1.MetadataRecord_ClusterCreated{ClusterCreated: &metav1.ClusterCreated{ClusterId: "c-1"}}},
		{Change: &metav1.MetadataRecord_BrokerRegistered{BrokerRegistered: &metav1.BrokerRegistered{NodeId: 1, Address: "a:1", PeerAddress: "p:1", Initial: true, Version: "v1.2.3"}}},
		{Change: &metav1.MetadataRecord_BrokerRegistered{BrokerRegistered: &metav1.BrokerRegistered{NodeId: 2, Address: "a:2", PeerAddress: "p:2", Initial: true}}},
		{Change: &metav1.MetadataRecord_TopicCreated{TopicCreated: &metav1.TopicCreated{Name: "orders", TopicId: "id-o", Partitions: 2, ReplicationFactor: 1,
			Config:      map[string]string{RetentionBytes: "8192"},
			Assignments: []*metav1.PartitionAssignment{{Replicas: []int32{1}}, {Replicas: []int32{2}}}}}},
		{Change: &metav1.MetadataRecord_TopicCreated{TopicCreated: &metav1.TopicCreated{Name: "audit", TopicId: "id-a", Partitions: 1, ReplicationFactor: 2,
			Assignments: []*metav1.PartitionAssignment{{Replicas: []int32{1, 2}}}}}},
		{Change: &metav1.MetadataRecord_PartitionReassignment{PartitionReassignment: &metav1.PartitionReassignment{Topic: "orders", TopicId: "id-o", Partition: 1, TargetReplicas: []int32{1, 2}}}},
	} {
		if _, err := c.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := golden.Check(t, "catalog_snapshot.golden", snap)
	r := New()
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Topics(), c.Topics()) || !reflect.DeepEqual(r.brokers, c.brokers) ||
		!reflect.DeepEqual(r.versions, c.versions) || r.ClusterID() != "c-1" {
		t.Fatalf("restored %+v %v %v, want %+v %v %v", r.Topics(), r.brokers, r.versions, c.Topics(), c.brokers, c.versions)
	}
}

// TestACLs: ACLs created are held once each, in order; deleted ones go;
// a record with an invalid ACL changes nothing; every change moves the
// version.
func TestACLs(t *testing.T) {
	c := New()
	apply := func(r *metav1.MetadataRecord) error {
		t.Helper()
		_, err := c.Apply(r)
		return err
	}
	create := func(acls ...authz.ACL) *metav1.MetadataRecord {
		r := &metav1.AclsCreated{}
		for _, a := range acls {
			r.Acls = append(r.Acls, ACLRecord(a))
		}
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_AclsCreated{AclsCreated: r}}
	}
	a := authz.ACL{Principal: "User:a", Type: authz.Topic, Name: "t", Pattern: authz.Literal, Op: authz.Produce, Permission: authz.Allow}
	b := authz.ACL{Principal: "*", Type: authz.Group, Name: "g-", Pattern: authz.Prefixed, Op: authz.Consume, Permission: authz.Deny}
	if err := apply(create(b, a, a)); err != nil {
		t.Fatal(err)
	}
	acls, v1 := c.ACLs()
	if !slices.Equal(acls, []authz.ACL{a, b}) {
		t.Fatalf("ACLs %v, want %v", acls, []authz.ACL{a, b})
	}
	bad := a
	bad.Op = 0
	if err := apply(create(bad, b)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an invalid ACL: %v, want ErrInvalid", err)
	}
	if err := apply(&metav1.MetadataRecord{Change: &metav1.MetadataRecord_AclsDeleted{AclsDeleted: &metav1.AclsDeleted{
		Acls: []*metav1.AclBinding{ACLRecord(a)}}}}); err != nil {
		t.Fatal(err)
	}
	acls, v2 := c.ACLs()
	if !slices.Equal(acls, []authz.ACL{b}) || v2 == v1 {
		t.Fatalf("after deleting %v: %v (version %d, was %d)", a, acls, v2, v1)
	}
}

// TestQuotas: a quota set replaces the principal's (or the default's)
// rates; an invalid one changes nothing and says what to fix; a deleted
// one goes; every change moves the version; a snapshot keeps them.
func TestQuotas(t *testing.T) {
	c := New()
	apply := func(r *metav1.MetadataRecord) error {
		_, err := c.Apply(r)
		return err
	}
	set := func(principal string, isDefault bool, l quota.Limits) *metav1.MetadataRecord {
		r := QuotaRecord(principal, l)
		r.IsDefault = isDefault
		return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_QuotaSet{QuotaSet: r}}
	}
	for _, r := range []*metav1.MetadataRecord{
		set("User:a", false, quota.Limits{ProduceBytes: 100, Requests: 5}),
		set("User:a", false, quota.Limits{ConsumeBytes: 7}), // replaces
		set("", true, quota.Limits{ProduceBytes: 1}),
		set("User:b", false, quota.Limits{Requests: 2}),
	} {
		if err := apply(r); err != nil {
			t.Fatal(err)
		}
	}
	q, v1 := c.Quotas()
	want := quota.Quotas{Default: quota.Limits{ProduceBytes: 1},
		Principals: map[string]quota.Limits{"User:a": {ConsumeBytes: 7}, "User:b": {Requests: 2}}}
	if !reflect.DeepEqual(q, want) || c.QuotasVersion() != v1 {
		t.Fatalf("quotas %+v (version %d, %d), want %+v", q, v1, c.QuotasVersion(), want)
	}
	for _, bad := range []struct {
		r    *metav1.MetadataRecord
		want string
	}{
		{set("User:a", false, quota.Limits{ProduceBytes: -5}), "produce rate is -5"},
		{set("User:a", false, quota.Limits{}), "no rate set"},
		{set("alice", false, quota.Limits{Requests: 1}), "not TYPE:NAME"},
		{set("User:a", true, quota.Limits{Requests: 1}), "name one"},
		{&metav1.MetadataRecord{Change: &metav1.MetadataRecord_QuotaDeleted{QuotaDeleted: &metav1.QuotaDeleted{}}}, "no principal"},
	} {
		if err := apply(bad.r); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want ErrInvalid saying %q", bad.r, err, bad.want)
		}
	}
	if got, v := c.Quotas(); !reflect.DeepEqual(got, want) || v != v1 {
		t.Fatalf("invalid records changed the quotas: %+v (version %d, was %d)", got, v, v1)
	}
	snap, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := New()
	if err := restored.Restore(snap); err != nil || !reflect.DeepEqual(quotasOf(restored), want) {
		t.Fatalf("restored %+v, %v; want %+v", quotasOf(restored), err, want)
	}
	for _, r := range []*metav1.QuotaDeleted{{Principal: "User:a"}, {IsDefault: true}, {Principal: "User:nobody"}} {
		if err := apply(&metav1.MetadataRecord{Change: &metav1.MetadataRecord_QuotaDeleted{QuotaDeleted: r}}); err != nil {
			t.Fatal(err)
		}
	}
	want = quota.Quotas{Principals: map[string]quota.Limits{"User:b": {Requests: 2}}}
	if got, v := c.Quotas(); !reflect.DeepEqual(got, want) || v == v1 {
		t.Fatalf("after deleting: %+v (version %d, was %d), want %+v", got, v, v1, want)
	}
}
