package catalog

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runnel-broker/runnel/compression"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// Topic configuration keys, Kafka's names and meanings.
const (
	RetentionMS     = "retention.ms"
	RetentionBytes  = "retention.bytes"
	SegmentBytes    = "segment.bytes"
	SegmentMS       = "segment.ms"
	MaxMessageBytes = "max.message.bytes"
	// TimestampType, TimestampBeforeMaxMS and TimestampAfterMaxMS are
	// Kafka's message.timestamp.* (KIP-937 for before/after).
	TimestampType        = "message.timestamp.type"
	TimestampBeforeMaxMS = "message.timestamp.before.max.ms"
	TimestampAfterMaxMS  = "message.timestamp.after.max.ms"
	// CompressionType is Kafka's compression.type: "producer" stores each
	// batch as its producer compressed it (or did not), a codec makes the
	// broker store every batch so.
	CompressionType = "compression.type"
)

// compressionTypes are compression.type's values, Kafka's; from the
// second on, in compression.Codec order.
var compressionTypes = []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}

// The values of message.timestamp.type.
const (
	// CreateTime keeps the producer's timestamp (the broker's for a
	// record without one), within the topic's before/after bounds.
	CreateTime = "CreateTime"
	// LogAppendTime gives every record the broker's time.
	LogAppendTime = "LogAppendTime"
)

// TopicConfig is a topic's effective configuration.
type TopicConfig struct {
	// Retention deletes segments whose newest record is older (0: never).
	Retention time.Duration
	// RetentionBytes caps the partition size (0: no cap).
	RetentionBytes int64
	// SegmentBytes and SegmentAge roll the active segment.
	SegmentBytes int64
	SegmentAge   time.Duration
	// MaxMessageBytes is the largest record accepted (its encoded size).
	MaxMessageBytes int
	// LogAppendTime: records take the broker's time, not the producer's.
	LogAppendTime bool
	// TimestampBeforeMS and TimestampAfterMS bound how many milliseconds
	// a producer's timestamp may be behind or ahead of the broker's time
	// (CreateTime only; math.MaxInt64: no bound).
	TimestampBeforeMS int64
	TimestampAfterMS  int64
	// KeepProducerCompression: batches are stored as their producer
	// compressed them (compression.type=producer); else in Compression.
	KeepProducerCompression bool
	Compression             compression.Codec
}

// StoredCompression is the codec a batch that a producer sent compressed
// with sent is stored in.
func (c *TopicConfig) StoredCompression(sent compression.Codec) compression.Codec {
	if c.KeepProducerCompression {
		return sent
	}
	return c.Compression
}

// configKey describes one key: its default (as Kafka spells it) and how to
// parse a value into a TopicConfig.
type configKey struct {
	def string
	min int64
	max int64
	// enum, when set, lists the values the key takes (v is the index).
	enum  []string
	apply func(c *TopicConfig, v int64)
	help  string
	// refuseOnCreate rejects values a new topic may not set but that a
	// topic created by an older broker may hold (its meaning is kept).
	refuseOnCreate func(v int64) error
}

const (
	// MinSegmentBytes is the least segment.bytes a new topic may set (as
	// Redpanda's; Kafka allows 14 bytes but defaults to 1 GiB). Each segment
	// costs files, directory entries, index pages and a mapping while it is
	// read; 1 MiB keeps 20,000 small records in a few segments, not
	// thousands.
	MinSegmentBytes = 1 << 20
	// loadedMinSegmentBytes is the least a topic created by an older broker
	// may hold (the minimum was 1 KiB): it still loads, with its value.
	loadedMinSegmentBytes = 1 << 10
	// MaxRecordBytes is the most max.message.bytes may be; a record that
	// large still fits in one raft entry (the broker checks it).
	MaxRecordBytes = 32 << 20
)

var configKeys = map[string]configKey{
	RetentionMS: {def: "604800000", min: -1, max: 1<<63 - 1, help: "milliseconds, -1 for no limit",
		apply: func(c *TopicConfig, v int64) { c.Retention = unlimited(v, time.Millisecond) }},
	// NB: 0 meant no limit before it was refused; Kafka deletes every
	// closed segment at 0. Topics created with it keep no limit.
	RetentionBytes: {def: "-1", min: -1, max: 1<<63 - 1, help: "bytes per partition, -1 for no limit",
		apply: func(c *TopicConfig, v int64) { c.RetentionBytes = max(v, 0) },
		refuseOnCreate: func(v int64) error {
			if v == 0 {
				return errors.New("0 would keep no data (Kafka deletes every closed segment at 0): use -1 for no limit, or a positive size")
			}
			return nil
		}},
	SegmentBytes: {def: "1073741824", min: loadedMinSegmentBytes, max: 1 << 40, help: "bytes, at least 1048576",
		apply: func(c *TopicConfig, v int64) { c.SegmentBytes = v },
		refuseOnCreate: func(v int64) error {
			if v < MinSegmentBytes {
				return fmt.Errorf("segments under %d bytes are refused: each costs files and a mapping while it is read", MinSegmentBytes)
			}
			return nil
		}},
	SegmentMS: {def: "604800000", min: 1, max: 1<<63 - 1, help: "milliseconds, at least 1",
		apply: func(c *TopicConfig, v int64) { c.SegmentAge = time.Duration(v) * time.Millisecond }},
	MaxMessageBytes: {def: "1048576", min: 1, max: MaxRecordBytes, help: "bytes, 1 to 33554432",
		apply: func(c *TopicConfig, v int64) { c.MaxMessageBytes = int(v) }},
	CompressionType: {def: "producer", enum: compressionTypes, help: strings.Join(compressionTypes, ", "),
		apply: func(c *TopicConfig, v int64) {
			c.KeepProducerCompression, c.Compression = v == 0, compression.Codec(max(v-1, 0))
		}},
	TimestampType: {def: CreateTime, enum: []string{CreateTime, LogAppendTime}, help: "CreateTime or LogAppendTime",
		apply: func(c *TopicConfig, v int64) { c.LogAppendTime = v == 1 }},
	// Kafka's defaults (4.0): no bound into the past, one hour ahead.
	TimestampBeforeMaxMS: {def: "9223372036854775807", min: 0, max: 1<<63 - 1, help: "milliseconds, 9223372036854775807 for no bound",
		apply: func(c *TopicConfig, v int64) { c.TimestampBeforeMS = v }},
	TimestampAfterMaxMS: {def: "3600000", min: 0, max: 1<<63 - 1, help: "milliseconds, 9223372036854775807 for no bound",
		apply: func(c *TopicConfig, v int64) { c.TimestampAfterMS = v }},
}

func unlimited(v int64, unit time.Duration) time.Duration {
	if v < 0 {
		return 0
	}
	if v > int64(1<<63-1)/int64(unit) {
		return 0 // longer than time.Duration holds: no limit in practice
	}
	return time.Duration(v) * unit
}

// ValidateConfig checks a user's configuration overrides for a new topic:
// ParseConfig's rules, and values only older topics may hold.
func ValidateConfig(overrides map[string]string) error {
	if _, err := ParseConfig(overrides); err != nil {
		return err
	}
	for _, key := range slices.Sorted(maps.Keys(overrides)) {
		k := configKeys[key]
		if k.refuseOnCreate == nil {
			continue
		}
		v, _ := strconv.ParseInt(strings.TrimSpace(overrides[key]), 10, 64)
		if err := k.refuseOnCreate(v); err != nil {
			return errs.Newf(ErrInvalid, "config %s=%q: %v", key, overrides[key], err)
		}
	}
	return nil
}

// ParseConfig returns the effective configuration of a topic with these
// overrides.
func ParseConfig(overrides map[string]string) (TopicConfig, error) {
	var c TopicConfig
	for _, key := range slices.Sorted(maps.Keys(configKeys)) {
		k := configKeys[key]
		raw, ok := overrides[key]
		if !ok {
			raw = k.def
		}
		if k.enum != nil {
			i := slices.Index(k.enum, strings.TrimSpace(raw))
			if i < 0 {
				return TopicConfig{}, errs.Newf(ErrInvalid, "config %s=%q: want %s", key, raw, k.help)
			}
			k.apply(&c, int64(i))
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil || v < k.min || v > k.max {
			return TopicConfig{}, errs.Newf(ErrInvalid, "config %s=%q: want an integer (%s)", key, raw, k.help)
		}
		k.apply(&c, v)
	}
	for key := range overrides {
		if _, ok := configKeys[key]; !ok {
			return TopicConfig{}, errs.Newf(ErrInvalid, "unknown config key %q (known: %s)",
				key, strings.Join(slices.Sorted(maps.Keys(configKeys)), ", "))
		}
	}
	return c, nil
}

// EffectiveConfig returns every key's value: the overrides, defaults for
// the rest.
func EffectiveConfig(overrides map[string]string) map[string]string {
	out := make(map[string]string, len(configKeys))
	for key, k := range configKeys {
		out[key] = k.def
		if v, ok := overrides[key]; ok {
			out[key] = strings.TrimSpace(v)
		}
	}
	return out
}
