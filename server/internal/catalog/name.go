package catalog

import (
	"strings"

	"github.com/runnel-broker/runnel/server/internal/errs"
)

// MaxTopicNameLength is Kafka's limit.
const MaxTopicNameLength = 249

// InternalPrefix starts the names of the broker's own topics; users cannot
// create topics with it.
const InternalPrefix = "__"

// ValidateTopicName applies Kafka's rule: 1 to 249 characters of
// [a-zA-Z0-9._-], not "." or "..". Names starting with "__" are reserved.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return errs.Newf(ErrInvalid, "topic name is empty")
	case len(name) > MaxTopicNameLength:
		return errs.Newf(ErrInvalid, "topic name is %d characters, the limit is %d", len(name), MaxTopicNameLength)
	case name == "." || name == "..":
		return errs.Newf(ErrInvalid, "topic name cannot be %q", name)
	case strings.HasPrefix(name, InternalPrefix):
		return errs.Newf(ErrInvalid, "topic name %q: names starting with %q are reserved for internal topics", name, InternalPrefix)
	}
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errs.Newf(ErrInvalid, "topic name %q has %q at position %d: use only letters, digits, '.', '_' and '-'", name, c, i)
		}
	}
	return nil
}
