package authz

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ResourceType is what an ACL is about (runnel.v1.AclResourceType).
type ResourceType int32

const (
	Topic   ResourceType = 1
	Group   ResourceType = 2
	Cluster ResourceType = 3
)

// Pattern is how an ACL's name matches (runnel.v1.AclPatternType).
type Pattern int32

const (
	Literal  Pattern = 1
	Prefixed Pattern = 2
)

// Operation is what a request does (runnel.v1.AclOperation).
type Operation int32

const (
	All      Operation = 1
	Produce  Operation = 2
	Consume  Operation = 3
	Create   Operation = 4
	Delete   Operation = 5
	Alter    Operation = 6
	Describe Operation = 7
	Commit   Operation = 8
)

// Permission is whether an ACL allows or denies (runnel.v1.AclPermission).
type Permission int32

const (
	Allow Permission = 1
	Deny  Permission = 2
)

// Wildcard, as a principal or a literal name, matches every one.
const Wildcard = "*"

var (
	resourceNames  = map[ResourceType]string{Topic: "topic", Group: "group", Cluster: "cluster"}
	patternNames   = map[Pattern]string{Literal: "literal", Prefixed: "prefixed"}
	operationNames = map[Operation]string{All: "all", Produce: "produce", Consume: "consume", Create: "create",
		Delete: "delete", Alter: "alter", Describe: "describe", Commit: "commit"}
	permissionNames = map[Permission]string{Allow: "allow", Deny: "deny"}
)

func (t ResourceType) String() string { return name(resourceNames, t) }
func (p Pattern) String() string      { return name(patternNames, p) }
func (o Operation) String() string    { return name(operationNames, o) }
func (p Permission) String() string   { return name(permissionNames, p) }

func name[K ~int32](names map[K]string, k K) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprintf("%d", k)
}

// Resource is what a request is about: a topic, a group, or the cluster
// (no name).
type Resource struct {
	Type ResourceType
	Name string
}

func (r Resource) String() string {
	if r.Type == Cluster {
		return "the cluster"
	}
	return fmt.Sprintf("%s %q", r.Type, r.Name)
}

// ACL allows or denies Principal the operation Op on the resources of
// Type that Name and Pattern select.
type ACL struct {
	Principal  string
	Type       ResourceType
	Name       string
	Pattern    Pattern
	Op         Operation
	Permission Permission
}

func (a ACL) String() string {
	name := fmt.Sprintf("%q", a.Name)
	if a.Pattern == Prefixed {
		name = fmt.Sprintf("prefix %q", a.Name)
	}
	if a.Type == Cluster {
		name = ""
	}
	return strings.TrimSpace(fmt.Sprintf("%s %s %s on %s %s", a.Permission, a.Principal, a.Op, a.Type, name))
}

// Validate says what is wrong with a, if anything. A cluster ACL's name
// is "*" (empty is taken as it: see Normalize).
func (a ACL) Validate() error {
	var errs []error
	if a.Principal == "" {
		errs = append(errs, errors.New(`principal is empty: name one ("User:alice"), or "*" for every principal`))
	}
	if _, ok := resourceNames[a.Type]; !ok {
		errs = append(errs, fmt.Errorf("resource type %d is not TOPIC, GROUP or CLUSTER", a.Type))
	}
	if _, ok := patternNames[a.Pattern]; !ok {
		errs = append(errs, fmt.Errorf("pattern type %d is not LITERAL or PREFIXED", a.Pattern))
	}
	if _, ok := operationNames[a.Op]; !ok {
		errs = append(errs, fmt.Errorf("operation %d is not one of ALL, PRODUCE, CONSUME, CREATE, DELETE, ALTER, DESCRIBE, COMMIT", a.Op))
	}
	if _, ok := permissionNames[a.Permission]; !ok {
		errs = append(errs, fmt.Errorf("permission %d is not ALLOW or DENY", a.Permission))
	}
	switch {
	case a.Name == "":
		errs = append(errs, errors.New(`resource name is empty: name the topic or group, or "*" for all of them`))
	case a.Type == Cluster && (a.Name != Wildcard || a.Pattern != Literal):
		errs = append(errs, errors.New("a cluster ACL names no resource: leave resource_name empty (or \"*\") and the pattern LITERAL"))
	case a.Pattern == Prefixed && a.Name == Wildcard:
		errs = append(errs, errors.New(`a PREFIXED ACL's name is a prefix: for every resource, use the LITERAL name "*"`))
	}
	return errors.Join(errs...)
}

// Normalize fills what an ACL may leave unset: a cluster's name ("*") and
// the pattern (LITERAL).
func (a ACL) Normalize() ACL {
	if a.Pattern == 0 {
		a.Pattern = Literal
	}
	if a.Type == Cluster && a.Name == "" {
		a.Name = Wildcard
	}
	return a
}

// Compare orders ACLs by resource type, name, pattern, principal,
// operation and permission.
func Compare(a, b ACL) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Pattern, b.Pattern),
		cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Op, b.Op), cmp.Compare(a.Permission, b.Permission))
}

// selects says whether a is about r.
func (a ACL) selects(r Resource) bool {
	if a.Type != r.Type {
		return false
	}
	switch a.Pattern {
	case Literal:
		return a.Name == Wildcard || a.Name == r.Name || r.Type == Cluster
	case Prefixed:
		return strings.HasPrefix(r.Name, a.Name)
	}
	return false
}

// covers says whether a, allowing or denying its operation, speaks of op:
// the same, ALL, or, for an allow, one that implies op (DESCRIBE, or
// COMMIT from CONSUME).
func (a ACL) covers(op Operation) bool {
	if a.Op == op || a.Op == All {
		return true
	}
	if a.Permission != Allow {
		return false
	}
	switch op {
	case Describe:
		switch a.Op {
		case Produce, Consume, Commit, Alter, Delete:
			return true
		}
	case Commit:
		// NB: as Kafka's READ on a group: its members commit.
		return a.Op == Consume && a.Type == Group
	}
	return false
}

// Decision is an authorization's outcome.
type Decision struct {
	Allowed bool
	// Reason says why, for a denial's message: "an ACL denies it: ...",
	// "no ACL allows it".
	Reason string
}

// Authorizer decides from ACLs, sorted by Compare, and superusers.
type Authorizer struct {
	acls       []ACL
	superusers map[string]bool
}

// New is an authorizer of acls (in any order) and superusers.
func New(acls []ACL, superusers []string) *Authorizer {
	a := &Authorizer{acls: slices.SortedFunc(slices.Values(acls), Compare), superusers: map[string]bool{}}
	for _, s := range superusers {
		a.superusers[s] = true
	}
	return a
}

// Authorize decides whether principal may do op on r.
func (z *Authorizer) Authorize(principal string, op Operation, r Resource) Decision {
	if z.superusers[principal] {
		return Decision{Allowed: true, Reason: "a superuser"}
	}
	var allowed *ACL
	for i, a := range z.acls {
		if (a.Principal != principal && a.Principal != Wildcard) || !a.selects(r) || !a.covers(op) {
			continue
		}
		if a.Permission == Deny {
			return Decision{Reason: "an ACL denies it: " + a.String()}
		}
		if allowed == nil {
			allowed = &z.acls[i]
		}
	}
	if allowed == nil {
		return Decision{Reason: "no ACL allows it"}
	}
	return Decision{Allowed: true, Reason: allowed.String()}
}

// Filter selects ACLs: each field zero matches any value.
type Filter struct {
	Principal  string
	Type       ResourceType
	Name       string
	Pattern    Pattern
	Op         Operation
	Permission Permission
}

// Selects says whether the filter selects a.
func (f Filter) Selects(a ACL) bool {
	return (f.Principal == "" || f.Principal == a.Principal) && (f.Type == 0 || f.Type == a.Type) &&
		(f.Name == "" || f.Name == a.Name) && (f.Pattern == 0 || f.Pattern == a.Pattern) &&
		(f.Op == 0 || f.Op == a.Op) && (f.Permission == 0 || f.Permission == a.Permission)
}
