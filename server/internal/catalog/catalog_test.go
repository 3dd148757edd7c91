package catalog

import (
	"errors"
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
	if c.Retention != 7*24*time.Hour || c.RetentionBytes != 0 || c.SegmentBytes != 1<<30 || c.MaxMessageBytes != 1<<20 {
		t.Fatalf("defaults = %+v", c)
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
	} {
		if _, err := ParseConfig(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseConfig(%v) = %v, want ErrInvalid", bad, err)
		}
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
