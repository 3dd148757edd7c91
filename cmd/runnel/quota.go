package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func newQuotaCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "quota", Short: "Set, list and delete the cluster's quotas: produce, consume and request rates per principal",
		Long: `Set, list and delete the cluster's quotas, as Kafka's client quotas: rates per
second for a principal (--principal User:alice), or for every principal
without the rate in a quota of its own (--default). Each broker enforces each
rate on the calls its clients make to it: a principal over a rate has its
responses delayed until it is back under (throttled), and a request that
would wait longer than 30 s fails RESOURCE_EXHAUSTED.

Rates: --produce-bytes-per-sec (bytes of records produced),
--consume-bytes-per-sec (bytes of subscribe responses) and --requests-per-sec
(unary calls, produce requests, subscribe calls). Each is optional: one left
out is not limited, or, for a principal, is the default's.`}
	cmd.AddCommand(newQuotaSetCommand(), newQuotaListCommand(), newQuotaDeleteCommand())
	return cmd
}

// quotaEntity are the flags that name whose quota: a principal's or the
// default.
type quotaEntity struct {
	principal string
	isDefault bool
}

func (e *quotaEntity) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&e.principal, "principal", "", "the principal: User:NAME (from a bearer token or a client certificate), or User:ANONYMOUS")
	cmd.Flags().BoolVar(&e.isDefault, "default", false, "the default quota, for every principal without the rate in a quota of its own")
}

func (e *quotaEntity) check() error {
	switch {
	case e.principal != "" && e.isDefault:
		return errors.New("--principal and --default: name one")
	case e.principal == "" && !e.isDefault:
		return errors.New("name whose quota: --principal User:NAME, or --default")
	}
	return nil
}

func newQuotaSetCommand() *cobra.Command {
	var (
		e                quotaEntity
		produce, consume float64
		requests         float64
	)
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Set a principal's quota, or the default: the rates given replace every rate it had",
		Example: `  runnel quota set --principal User:alice --produce-bytes-per-sec 10e6
  runnel quota set --principal User:bob --consume-bytes-per-sec 5e6 --requests-per-sec 200
  runnel quota set --default --produce-bytes-per-sec 50e6 --consume-bytes-per-sec 100e6`,
		Args: cobra.NoArgs,
	}
	e.register(cmd)
	fs := cmd.Flags()
	fs.Float64Var(&produce, "produce-bytes-per-sec", 0, "bytes of records produced per second (as the producer encoded them)")
	fs.Float64Var(&consume, "consume-bytes-per-sec", 0, "bytes of subscribe responses per second")
	fs.Float64Var(&requests, "requests-per-sec", 0, "requests per second: unary calls, produce requests, subscribe calls")
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := e.check(); err != nil {
			return err
		}
		q := &runnelv1.Quota{Principal: e.principal, IsDefault: e.isDefault}
		for _, r := range []struct {
			flag string
			v    float64
			to   **float64
		}{
			{"produce-bytes-per-sec", produce, &q.ProduceBytesPerSec},
			{"consume-bytes-per-sec", consume, &q.ConsumeBytesPerSec},
			{"requests-per-sec", requests, &q.RequestsPerSec},
		} {
			if !cmd.Flags().Changed(r.flag) {
				continue
			}
			if !(r.v > 0) {
				return fmt.Errorf("--%s %v: give a positive rate, or leave the flag out for none", r.flag, r.v)
			}
			*r.to = &r.v
		}
		if q.ProduceBytesPerSec == nil && q.ConsumeBytesPerSec == nil && q.RequestsPerSec == nil {
			return errors.New("give a rate: --produce-bytes-per-sec, --consume-bytes-per-sec or --requests-per-sec (to remove a quota: runnel quota delete)")
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := adm.SetQuota(cmd.Context(), q); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "set the quota of %s\n", quotaOwner(q))
		return nil
	}
	return cmd
}

func newQuotaListCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the quotas: the default first, then by principal", Args: cobra.NoArgs,
		Example: "  runnel quota list"}
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		quotas, err := adm.ListQuotas(cmd.Context())
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PRINCIPAL\tPRODUCE_BYTES/S\tCONSUME_BYTES/S\tREQUESTS/S")
		for _, q := range quotas {
			fmt.Fprintln(w, strings.Join([]string{quotaOwner(q), rate(q.ProduceBytesPerSec), rate(q.ConsumeBytesPerSec), rate(q.RequestsPerSec)}, "\t"))
		}
		return w.Flush()
	}
	return cmd
}

// quotaOwner is whose quota q is: its principal, or <default>, as Kafka
// prints the default entity.
func quotaOwner(q *runnelv1.Quota) string {
	if q.IsDefault {
		return "<default>"
	}
	return q.Principal
}

// rate is a rate of the list's table: "-" when unset.
func rate(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

func newQuotaDeleteCommand() *cobra.Command {
	var e quotaEntity
	cmd := &cobra.Command{Use: "delete", Short: "Delete a principal's quota, or the default", Args: cobra.NoArgs,
		Example: "  runnel quota delete --principal User:alice\n  runnel quota delete --default"}
	e.register(cmd)
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := e.check(); err != nil {
			return err
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		deleted, err := adm.DeleteQuota(cmd.Context(), e.principal, e.isDefault)
		if err != nil {
			return err
		}
		owner := quotaOwner(&runnelv1.Quota{Principal: e.principal, IsDefault: e.isDefault})
		if !deleted {
			fmt.Fprintf(cmd.OutOrStdout(), "%s has no quota\n", owner)
			return nil
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted the quota of %s\n", owner)
		return nil
	}
	return cmd
}
