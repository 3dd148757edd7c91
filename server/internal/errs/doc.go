// Package errs makes errors that belong to a class and read as their own
// message alone.
//
// A class is a sentinel such as catalog.ErrInvalid or
// broker.ErrUnavailable: callers test it with errors.Is, and the server
// turns it into a gRPC code (server/status.go). Since the code already
// names the class, the message need not: wrapped as "%w: ...", the client
// would read "InvalidArgument: invalid argument: ...".
package errs
