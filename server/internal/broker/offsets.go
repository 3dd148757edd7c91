package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/errs"
	grp "github.com/runnel-broker/runnel/server/internal/group"
	"github.com/runnel-broker/runnel/server/internal/offsets"
	"github.com/runnel-broker/runnel/server/internal/records"
)

// MaxGroupNameLength bounds a consumer group's name: each commit stores
// it, and the offsets state machine keeps it in memory.
const MaxGroupNameLength = 255

// ValidateGroup checks the group name a request names.
func ValidateGroup(group string) error {
	switch {
	case group == "":
		return errs.Newf(ErrInvalid, "group is required")
	case len(group) > MaxGroupNameLength:
		return errs.Newf(ErrInvalid, "group name is %d bytes, the limit is %d", len(group), MaxGroupNameLength)
	}
	return nil
}

// Commit stores group's next offsets to read in topic and returns once
// the commit is durable, on the group's coordinator only (elsewhere: a
// *NotCoordinatorError). A group member's commit (member.ID set) is made
// only for partitions it holds (else ErrFenced); one of no member only
// while the group has no members (else ErrGroupNotEmpty).
func (b *Broker) Commit(ctx context.Context, group, topic string, positions map[int32]int64, member MemberCommit) error {
	if err := ValidateGroup(group); err != nil {
		return err
	}
	if len(member.ID) > MaxGroupNameLength {
		return errs.Newf(ErrInvalid, "member_id is %d bytes, the limit is %d", len(member.ID), MaxGroupNameLength)
	}
	t, err := b.catalog.Topic(topic)
	if err != nil {
		return err
	}
	if len(positions) == 0 {
		return errs.Newf(ErrInvalid, "no offsets to commit")
	}
	now := timestamppb.Now()
	recs := make(map[int32]records.Record, len(positions))
	for p, o := range positions {
		if p < 0 || p >= t.Partitions {
			return errs.Newf(ErrInvalid, "partition %d does not exist: topic %q has partitions 0 to %d",
				p, topic, t.Partitions-1)
		}
		if o < 0 {
			return errs.Newf(ErrInvalid, "partition %d: offset %d is negative", p, o)
		}
		c := &metav1.OffsetCommit{Group: group, Topic: topic, TopicId: t.ID, Partition: p, Offset: o, CommitTime: now}
		value, err := proto.Marshal(c)
		if err != nil {
			return err
		}
		recs[p] = records.New(offsets.Key(c), value, records.Timestamp{Seconds: now.Seconds, Nanos: now.Nanos})
	}
	committed := b.offsets.Committed(group, t.ID)
	allowed := func(g *grp.Group) ([]records.Record, error) {
		if member.ID == "" {
			if err := checkEmpty(g, "commit as one of them (member_id and member_epoch from its assignment), or read with a group of your own"); err != nil {
				return nil, err
			}
			return slices.Collect(maps.Values(recs)), nil
		}
		var out []records.Record
		for _, p := range slices.Sorted(maps.Keys(recs)) {
			err := g.CanCommit(member.ID, member.Epoch, grp.Partition{Topic: topic, Partition: p})
			if err == nil {
				out = append(out, recs[p])
				continue
			}
			// NB: committing again what is committed changes nothing: a
			// member leaving commits all it read, some of it committed
			// before and moved on already.
			if o, ok := committed[p]; ok && o == positions[p] {
				continue
			}
			return nil, errs.Newf(ErrFenced, "commit refused: %w", err)
		}
		return out, nil
	}
	if err := b.groups.commitChecked(ctx, group, allowed); err != nil {
		return err
	}
	if member.ID != "" {
		b.groups.memberCommitted(group, topic, positions, member)
	}
	return nil
}

// Committed returns group's committed offsets in topic by partition.
func (b *Broker) Committed(group, topic string) (map[int32]int64, error) {
	if err := ValidateGroup(group); err != nil {
		return nil, err
	}
	t, err := b.catalog.Topic(topic)
	if err != nil {
		return nil, err
	}
	return b.offsets.Committed(group, t.ID), nil
}

// applyOffsets is the state machine of the __consumer_offsets partitions.
func (b *Broker) applyOffsets(batch raftstore.Batch) error {
	commits, err := decodeValues(batch, func() *metav1.OffsetCommit { return &metav1.OffsetCommit{} })
	if err != nil {
		return fmt.Errorf("offsets batch at offset %d: %w", batch.BaseOffset, err)
	}
	for _, c := range commits {
		b.offsets.Apply(c)
	}
	return nil
}
