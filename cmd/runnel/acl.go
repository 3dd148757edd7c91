package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server"
)

func newACLCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "acl", Short: "Create, list and delete the cluster's ACLs (enforced by brokers started with --authorization)",
		Long: `Create, list and delete the cluster's ACLs, as Kafka's kafka-acls does. An ACL
allows (or, with --deny, denies) a principal operations on a topic, a group
or the cluster, named literally ("*": all of them) or by prefix (--prefixed).
Brokers started with --authorization enforce them: a request is allowed when
an ACL allows it and none denies it; with no ACL that matches, it is denied.
Allowing produce, consume, commit, alter or delete allows describe too, and
allowing consume on a group allows commit there (its members commit).

Operations: all, produce, consume, create, delete, alter, describe, commit.
Principals: User:NAME (from a bearer token or a client certificate),
User:ANONYMOUS, or "*" for every principal.`}
	cmd.AddCommand(newACLCreateCommand(), newACLListCommand(), newACLDeleteCommand())
	return cmd
}

// aclFlags are the flags that name ACLs: create's (every field), list's
// and delete's (a filter: each one left out matches anything).
type aclFlags struct {
	principal, topic, group string
	cluster, prefixed, deny bool
	allow                   bool
	operations              []string
}

func (f *aclFlags) register(cmd *cobra.Command, filter bool) {
	fs := cmd.Flags()
	fs.StringVar(&f.principal, "principal", "", `the principal: User:NAME, User:ANONYMOUS, or "*" for every one`)
	fs.StringVar(&f.topic, "topic", "", `a topic's name ("*": every topic; with --prefixed: a prefix)`)
	fs.StringVar(&f.group, "group", "", `a consumer group's name ("*": every group; with --prefixed: a prefix)`)
	fs.BoolVar(&f.cluster, "cluster", false, "the cluster (its brokers, partitions' placement and ACLs)")
	fs.BoolVar(&f.prefixed, "prefixed", false, "--topic or --group is a prefix: every name that begins with it")
	fs.StringSliceVar(&f.operations, "operation", nil, "operations, comma-separated: all, produce, consume, create, delete, alter, describe, commit")
	fs.BoolVar(&f.deny, "deny", false, "deny instead of allow")
	if filter {
		fs.BoolVar(&f.allow, "allow", false, "only ACLs that allow")
	}
}

var (
	aclOperations = map[string]runnelv1.AclOperation{"all": runnelv1.AclOperation_ACL_OPERATION_ALL,
		"produce": runnelv1.AclOperation_ACL_OPERATION_PRODUCE, "consume": runnelv1.AclOperation_ACL_OPERATION_CONSUME,
		"create": runnelv1.AclOperation_ACL_OPERATION_CREATE, "delete": runnelv1.AclOperation_ACL_OPERATION_DELETE,
		"alter": runnelv1.AclOperation_ACL_OPERATION_ALTER, "describe": runnelv1.AclOperation_ACL_OPERATION_DESCRIBE,
		"commit": runnelv1.AclOperation_ACL_OPERATION_COMMIT}
	aclResourceNames = map[runnelv1.AclResourceType]string{runnelv1.AclResourceType_ACL_RESOURCE_TYPE_TOPIC: "topic",
		runnelv1.AclResourceType_ACL_RESOURCE_TYPE_GROUP: "group", runnelv1.AclResourceType_ACL_RESOURCE_TYPE_CLUSTER: "cluster"}
)

// resource is the resource the flags name, if any.
func (f *aclFlags) resource() (runnelv1.AclResourceType, string, error) {
	n := 0
	for _, set := range []bool{f.topic != "", f.group != "", f.cluster} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return 0, "", errors.New("name one resource: --topic, --group or --cluster")
	case f.prefixed && f.topic == "" && f.group == "":
		return 0, "", errors.New("--prefixed needs --topic or --group")
	case f.topic != "":
		return runnelv1.AclResourceType_ACL_RESOURCE_TYPE_TOPIC, f.topic, nil
	case f.group != "":
		return runnelv1.AclResourceType_ACL_RESOURCE_TYPE_GROUP, f.group, nil
	case f.cluster:
		return runnelv1.AclResourceType_ACL_RESOURCE_TYPE_CLUSTER, "*", nil
	}
	return 0, "", nil
}

func (f *aclFlags) ops() ([]runnelv1.AclOperation, error) {
	var out []runnelv1.AclOperation
	for _, name := range f.operations {
		op, ok := aclOperations[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			return nil, fmt.Errorf("--operation %q: use all, produce, consume, create, delete, alter, describe or commit", name)
		}
		out = append(out, op)
	}
	return out, nil
}

func (f *aclFlags) pattern() runnelv1.AclPatternType {
	if f.prefixed {
		return runnelv1.AclPatternType_ACL_PATTERN_TYPE_PREFIXED
	}
	return runnelv1.AclPatternType_ACL_PATTERN_TYPE_LITERAL
}

func (f *aclFlags) permission() runnelv1.AclPermission {
	switch {
	case f.deny:
		return runnelv1.AclPermission_ACL_PERMISSION_DENY
	case f.allow:
		return runnelv1.AclPermission_ACL_PERMISSION_ALLOW
	}
	return runnelv1.AclPermission_ACL_PERMISSION_UNSPECIFIED
}

// filters are the ACL filters the flags name: one per operation (or one
// for any operation).
func (f *aclFlags) filters() ([]*runnelv1.AclFilter, error) {
	rt, name, err := f.resource()
	if err != nil {
		return nil, err
	}
	if f.deny && f.allow {
		return nil, errors.New("--allow and --deny: give one, or neither for both")
	}
	ops, err := f.ops()
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		ops = []runnelv1.AclOperation{runnelv1.AclOperation_ACL_OPERATION_UNSPECIFIED}
	}
	var out []*runnelv1.AclFilter
	for _, op := range ops {
		flt := &runnelv1.AclFilter{Principal: f.principal, ResourceType: rt, ResourceName: name, Operation: op, Permission: f.permission()}
		if f.prefixed {
			flt.PatternType = runnelv1.AclPatternType_ACL_PATTERN_TYPE_PREFIXED
		}
		out = append(out, flt)
	}
	return out, nil
}

func newACLCreateCommand() *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs: one for each --operation",
		Example: `  runnel acl create --principal User:alice --operation produce,consume --topic orders- --prefixed
  runnel acl create --principal User:alice --operation consume --group billing
  runnel acl create --principal '*' --operation describe --topic '*'
  runnel acl create --principal User:bob --operation consume --topic orders-secret --deny
  runnel acl create --principal User:ops --operation alter --cluster`,
		Args: cobra.NoArgs,
	}
	f.register(cmd, false)
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		rt, name, err := f.resource()
		if err != nil {
			return err
		}
		ops, err := f.ops()
		switch {
		case err != nil:
			return err
		case f.principal == "":
			return errors.New(`--principal is required (User:NAME, or "*" for every principal)`)
		case rt == 0:
			return errors.New("name the resource: --topic, --group or --cluster")
		case len(ops) == 0:
			return errors.New("--operation is required")
		}
		var acls []*runnelv1.Acl
		perm := f.permission()
		if perm == runnelv1.AclPermission_ACL_PERMISSION_UNSPECIFIED {
			perm = runnelv1.AclPermission_ACL_PERMISSION_ALLOW
		}
		for _, op := range ops {
			acls = append(acls, &runnelv1.Acl{Principal: f.principal, ResourceType: rt, ResourceName: name, PatternType: f.pattern(),
				Operation: op, Permission: perm})
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := adm.CreateACLs(cmd.Context(), acls...); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created %d ACL(s)\n", len(acls))
		return nil
	}
	return cmd
}

func newACLListCommand() *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{Use: "list", Short: "List ACLs: all, or those the flags select", Args: cobra.NoArgs,
		Example: "  runnel acl list\n  runnel acl list --principal User:alice\n  runnel acl list --topic orders"}
	f.register(cmd, true)
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		filters, err := f.filters()
		if err != nil {
			return err
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		seen := map[string]bool{}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PRINCIPAL\tPERMISSION\tOPERATION\tRESOURCE\tNAME\tPATTERN")
		for _, flt := range filters {
			acls, err := adm.ListACLs(cmd.Context(), flt)
			if err != nil {
				return err
			}
			for _, a := range acls {
				line := aclLine(a)
				if !seen[line] {
					seen[line] = true
					fmt.Fprintln(w, line)
				}
			}
		}
		return w.Flush()
	}
	return cmd
}

// aclLine is an ACL as a line of the list's table.
func aclLine(a *runnelv1.Acl) string {
	perm, op, pattern := "allow", "?", "literal"
	if a.Permission == runnelv1.AclPermission_ACL_PERMISSION_DENY {
		perm = "deny"
	}
	for name, o := range aclOperations {
		if o == a.Operation {
			op = name
		}
	}
	if a.PatternType == runnelv1.AclPatternType_ACL_PATTERN_TYPE_PREFIXED {
		pattern = "prefixed"
	}
	return strings.Join([]string{a.Principal, perm, op, aclResourceNames[a.ResourceType], a.ResourceName, pattern}, "\t")
}

func newACLDeleteCommand() *cobra.Command {
	var (
		f   aclFlags
		all bool
	)
	cmd := &cobra.Command{Use: "delete", Short: "Delete the ACLs the flags select", Args: cobra.NoArgs,
		Example: "  runnel acl delete --principal User:alice --topic orders --operation produce\n  runnel acl delete --principal User:bob\n  runnel acl delete --all"}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&all, "all", false, "delete every ACL (needed when no other flag narrows it)")
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		filters, err := f.filters()
		if err != nil {
			return err
		}
		narrowed := false
		for _, name := range []string{"principal", "topic", "group", "cluster", "prefixed", "operation", "deny", "allow"} {
			narrowed = narrowed || cmd.Flags().Changed(name)
		}
		if !narrowed && !all {
			return errors.New("no flag narrows what to delete: name a principal, resource or operation, or give --all to delete every ACL")
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		deleted, err := adm.DeleteACLs(cmd.Context(), filters...)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted %d ACL(s)\n", len(deleted))
		return nil
	}
	return cmd
}

func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Make bearer tokens for a broker's --token-file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "create PRINCIPAL",
		Short: "Make a random token for PRINCIPAL: print it, and the line of --token-file that accepts it",
		Long: `Make a random token (32 random bytes, base64url) for PRINCIPAL and print it,
then the line to add to the brokers' --token-file: the file holds the token's
SHA-256 hash only. Give the token to the client (runnel --token, an SDK's
token option, grpcurl -H "authorization: Bearer TOKEN").`,
		Example: "  runnel token create User:alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			token := base64.RawURLEncoding.EncodeToString(b)
			fmt.Fprintf(cmd.OutOrStdout(), "token: %s\nline for --token-file:\n%s\n", token, server.TokenLine(args[0], token))
			return nil
		},
	})
	return cmd
}
