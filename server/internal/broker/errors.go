package broker

import (
	"errors"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/catalog"
)

// The errors a Broker returns; callers test them with errors.Is. The
// wrapping message says what was wrong and how to fix it.
var (
	// ErrTopicNotFound: the topic does not exist or was deleted.
	ErrTopicNotFound = catalog.ErrTopicNotFound
	// ErrTopicExists: CreateTopic with a name that is taken.
	ErrTopicExists = catalog.ErrTopicExists
	// ErrInvalid: a request that can never succeed as sent (bad name,
	// partition, size, configuration).
	ErrInvalid = catalog.ErrInvalid
	// ErrOffsetOutOfRange: an offset outside [log start, high watermark].
	ErrOffsetOutOfRange = raftstore.ErrOffsetOutOfRange
	// ErrUnavailable: the broker cannot serve the request now (shutting
	// down, no leader); retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")
)
