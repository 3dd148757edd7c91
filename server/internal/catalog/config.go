package catalog

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Topic configuration keys, Kafka's names and meanings.
const (
	RetentionMS     = "retention.ms"
	RetentionBytes  = "retention.bytes"
	SegmentBytes    = "segment.bytes"
	SegmentMS       = "segment.ms"
	MaxMessageBytes = "max.message.bytes"
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
}

// configKey describes one key: its default (as Kafka spells it) and how to
// parse a value into a TopicConfig.
type configKey struct {
	def   string
	min   int64
	max   int64
	apply func(c *TopicConfig, v int64)
	help  string
}

const (
	minSegmentBytes    = 1 << 10
	maxMaxMessageBytes = 32 << 20 // below the server's 64 MiB gRPC limit
)

var configKeys = map[string]configKey{
	RetentionMS: {def: "604800000", min: -1, max: 1<<63 - 1, help: "milliseconds, -1 for no limit",
		apply: func(c *TopicConfig, v int64) { c.Retention = unlimited(v, time.Millisecond) }},
	RetentionBytes: {def: "-1", min: -1, max: 1<<63 - 1, help: "bytes per partition, -1 for no limit",
		apply: func(c *TopicConfig, v int64) { c.RetentionBytes = max(v, 0) }},
	SegmentBytes: {def: "1073741824", min: minSegmentBytes, max: 1 << 40, help: "bytes, at least 1024",
		apply: func(c *TopicConfig, v int64) { c.SegmentBytes = v }},
	SegmentMS: {def: "604800000", min: 1, max: 1<<63 - 1, help: "milliseconds, at least 1",
		apply: func(c *TopicConfig, v int64) { c.SegmentAge = time.Duration(v) * time.Millisecond }},
	MaxMessageBytes: {def: "1048576", min: 1, max: maxMaxMessageBytes, help: "bytes, 1 to 33554432",
		apply: func(c *TopicConfig, v int64) { c.MaxMessageBytes = int(v) }},
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

// ValidateConfig checks a user's configuration overrides.
func ValidateConfig(overrides map[string]string) error {
	_, err := ParseConfig(overrides)
	return err
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
		v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil || v < k.min || v > k.max {
			return TopicConfig{}, fmt.Errorf("%w: config %s=%q: want an integer (%s)", ErrInvalid, key, raw, k.help)
		}
		k.apply(&c, v)
	}
	for key := range overrides {
		if _, ok := configKeys[key]; !ok {
			return TopicConfig{}, fmt.Errorf("%w: unknown config key %q (known: %s)",
				ErrInvalid, key, strings.Join(slices.Sorted(maps.Keys(configKeys)), ", "))
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
