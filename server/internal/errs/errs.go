package errs

import "fmt"

// Newf returns an error whose message is fmt.Errorf(format, args...)'s
// and which errors.Is matches to class, as well as to whatever format
// wraps with %w.
func Newf(class error, format string, args ...any) error {
	return &classError{class: class, err: fmt.Errorf(format, args...)}
}

type classError struct{ class, err error }

func (e *classError) Error() string   { return e.err.Error() }
func (e *classError) Unwrap() []error { return []error{e.class, e.err} }
