package server

import (
	"context"
	"log/slog"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc/codes"
)

// logOptions log one "finished call" line per call, at callLevel.
var logOptions = []logging.Option{
	logging.WithLogOnEvents(logging.FinishCall),
	logging.WithLevels(callLevel),
}

// callLevel is the level of a call's "finished call" line, by its code.
// A broker answers thousands of calls a second, and most outcomes other
// than OK are the client's to handle (a missing topic, an offset past the
// end, a leader elsewhere): those are Debug, like the successes, so that
// Info and above keep what an operator acts on.
func callLevel(code codes.Code) logging.Level {
	switch code {
	case codes.OK, codes.Canceled, codes.DeadlineExceeded, codes.InvalidArgument, codes.NotFound,
		codes.AlreadyExists, codes.OutOfRange, codes.FailedPrecondition, codes.Aborted,
		codes.Unauthenticated, codes.PermissionDenied,
		// Not the leader, starting, shutting down: the client retries,
		// elsewhere if told where; elections are logged by raft.
		codes.Unavailable:
		return logging.LevelDebug
	case codes.ResourceExhausted:
		// A client met a limit the operator set (--max-request-bytes
		// and the like): worth knowing if it recurs.
		return logging.LevelInfo
	case codes.Unimplemented:
		// A client newer than this broker.
		return logging.LevelWarn
	default:
		// Internal, DataLoss, Unknown: the broker's own failures.
		return logging.LevelError
	}
}

// slogAdapter lets the logging interceptor write through slog.
func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}
