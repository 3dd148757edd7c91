package errs

import (
	"errors"
	"io"
	"testing"
)

func TestNewf(t *testing.T) {
	class := errors.New("invalid argument")
	err := Newf(class, "record %d: %w", 3, io.ErrUnexpectedEOF)
	if got, want := err.Error(), "record 3: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, class) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("%v is not its class and what it wraps", err)
	}
	if wrapped := Newf(class, "topic %q: %w", "t", err); !errors.Is(wrapped, io.ErrUnexpectedEOF) {
		t.Errorf("%v lost what it wraps", wrapped)
	}
}
