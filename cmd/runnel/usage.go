package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// showUsageOnMisuse makes every command of the tree under root answer a
// command line it cannot take (a missing or extra argument, an unknown
// flag or subcommand, a bad flag value) with its usage line after the
// error, rather than the error alone ("accepts 1 arg(s), received 0") or
// the whole help, which SilenceUsage keeps for --help: an error from
// running the command (a broker's answer) says nothing of usage.
//
// A command grouping others (topic, cluster, ...) prints its help when
// called alone, and refuses arguments, so that a mistyped subcommand is
// an error, not the help and success.
func showUsageOnMisuse(root *cobra.Command) {
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, err) })
	// NB: the grouping commands run (to check their arguments) but are
	// not to be used alone: their help shows "runnel topic [command]"
	// only, not "runnel topic [flags]" too.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(),
		"{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
		if !cmd.Runnable() {
			cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
			cmd.Args = noSubcommand
			cmd.SuggestionsMinimumDistance = 2 // cobra's own default
		}
		if check := cmd.Args; check != nil {
			cmd.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return usageError(cmd, err)
				}
				return nil
			}
		}
	}
	walk(root)
}

// noSubcommand is the Args of a command grouping others: reached with an
// argument, it is not one of them.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		err = fmt.Errorf("%w: did you mean %s?", err, strings.Join(s, " or "))
	}
	return err
}

// usageError is err followed by cmd's usage line and where to read more.
func usageError(cmd *cobra.Command, err error) error {
	use := cmd.UseLine()
	if cmd.HasAvailableSubCommands() {
		use = cmd.CommandPath() + " [command]"
	}
	return &misuseError{err: err, use: use, path: cmd.CommandPath()}
}

// misuseError is a command line a command cannot take: what is wrong,
// then how to use the command.
type misuseError struct {
	err       error
	use, path string
}

func (e *misuseError) Error() string {
	return fmt.Sprintf("%v\nUsage: %s\nRun '%s --help' for more.", e.err, e.use, e.path)
}

func (e *misuseError) Unwrap() error { return e.err }
