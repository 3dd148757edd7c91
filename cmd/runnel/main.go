// Command runnel is the Runnel broker and its command-line client: one
// binary that serves (runnel serve; runnel dev for a local cluster) and
// talks to a broker (topic, produce, consume, bench).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// NB: the first signal asks the command to stop cleanly (serve
	// shuts down, bench prints its summary); a second one, once the
	// signals are the default again, ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", describeError(err))
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "runnel",
		Short:         "Runnel: a streaming broker with Kafka's model and a gRPC API",
		Version:       buildinfo.Read().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return flagsFromEnv(cmd.Flags())
		},
	}
	root.AddCommand(newServeCommand(), newDevCommand(), newSidecarCommand(), newTopicCommand(), newPartitionCommand(), newClusterCommand(), newGroupCommand(), newACLCommand(), newQuotaCommand(), newTokenCommand(), newHealthCommand(), newProduceCommand(), newConsumeCommand(), newBenchCommand())
	showUsageOnMisuse(root)
	return root
}

// flagsFromEnv sets every flag the command line left unset from its
// RUNNEL_* variable: --data-dir from RUNNEL_DATA_DIR, and so on.
func flagsFromEnv(flags *pflag.FlagSet) error {
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "RUNNEL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := flags.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

// describeError shows a gRPC status as "NOT_FOUND: message": the code by
// its name in the gRPC specification (what grpcurl's JSON, Google's
// APIs and the other languages' SDKs print), then the broker's message,
// which says what happened without restating the code. A status wrapped
// in another error (a record's, a list of brokers' answers) is shown so
// where it stands in the text.
func describeError(err error) string {
	return statusText.ReplaceAllStringFunc(err.Error(), func(m string) string {
		name := statusText.FindStringSubmatch(m)[1]
		for c := range codes.Code(17) {
			if c.String() == name {
				return codeName(c) + ": "
			}
		}
		return name + ": " // Code(42): not one the specification names
	})
}

// statusText is how a status prints as an error (status.Error's format).
var statusText = regexp.MustCompile(`rpc error: code = (\w+(?:\(\d+\))?) desc = `)

// codeName is a code's name in the gRPC specification: InvalidArgument
// is INVALID_ARGUMENT.
func codeName(c codes.Code) string {
	name := c.String()
	if strings.Contains(name, "(") {
		return name // Code(17): not one the specification names
	}
	if c == codes.Canceled {
		return "CANCELLED" // the specification's spelling, not Go's
	}
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(name[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// acksFlag is --acks: when a produce request is acknowledged. Unset, the
// request leaves acks unset, which a broker takes as all and a sidecar
// as "once spooled".
type acksFlag runnelv1.Acks

// acksUsage is --acks's help, for every command that produces.
const acksUsage = "when records are acknowledged: all (a quorum has them on disk) or leader (default: unset, which a broker takes as all and a sidecar acknowledges once spooled)"

func (f *acksFlag) String() string {
	switch runnelv1.Acks(*f) {
	case runnelv1.Acks_ACKS_LEADER:
		return "leader"
	case runnelv1.Acks_ACKS_ALL:
		return "all"
	}
	return ""
}

func (f *acksFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "all":
		*f = acksFlag(runnelv1.Acks_ACKS_ALL)
	case "leader":
		*f = acksFlag(runnelv1.Acks_ACKS_LEADER)
	default:
		return errors.New("use all (a quorum of replicas has the records on disk) or leader (the leader has)")
	}
	return nil
}

func (f *acksFlag) Type() string { return "all|leader" }
