package authz

import (
	"fmt"
	"strings"
	"testing"
)

// TestAuthorizeMatrix checks every principal × operation × resource of a
// set of ACLs (literal and prefixed, allow and deny, "*" principals and
// names, an implied DESCRIBE and COMMIT, a superuser) against the requests written
// out below as allowed: every other one must be denied.
func TestAuthorizeMatrix(t *testing.T) {
	acls := []ACL{
		{"User:alice", Topic, "orders", Literal, Produce, Allow},
		{"User:alice", Topic, "orders-", Prefixed, Consume, Allow},
		{"User:alice", Topic, "orders-secret", Literal, Consume, Deny},
		{"*", Topic, "*", Literal, Describe, Allow},
		{"User:bob", Group, "app-", Prefixed, All, Allow},
		{"User:bob", Group, "app-prod", Literal, Delete, Deny},
		{"User:bob", Topic, "*", Literal, Consume, Allow},
		{"User:ops", Cluster, "*", Literal, Alter, Allow},
		{"User:carol", Group, "other", Literal, Consume, Allow},
	}
	z := New(acls, []string{"User:admin"})
	principals := []string{"User:alice", "User:bob", "User:ops", "User:carol", "User:admin", "User:ANONYMOUS"}
	ops := []Operation{Produce, Consume, Create, Delete, Alter, Describe, Commit}
	resources := []Resource{{Topic, "orders"}, {Topic, "orders-eu"}, {Topic, "orders-secret"}, {Topic, "logs"},
		{Group, "app-x"}, {Group, "app-prod"}, {Group, "other"}, {Cluster, ""}}

	allowed := map[string]bool{}
	allow := func(principal string, ops []Operation, rs ...Resource) {
		for _, op := range ops {
			for _, r := range rs {
				allowed[key(principal, op, r)] = true
			}
		}
	}
	allTopics := resources[:4]
	for _, p := range principals {
		allow(p, []Operation{Describe}, allTopics...) // "*" describes every topic
	}
	allow("User:admin", ops, resources...)
	allow("User:alice", []Operation{Produce}, Resource{Topic, "orders"})
	allow("User:alice", []Operation{Consume}, Resource{Topic, "orders-eu"}) // not orders-secret: denied
	allow("User:bob", ops, Resource{Group, "app-x"})
	allow("User:bob", []Operation{Produce, Consume, Create, Alter, Describe, Commit}, Resource{Group, "app-prod"})
	allow("User:bob", []Operation{Consume}, allTopics...)
	allow("User:ops", []Operation{Alter, Describe}, Resource{Cluster, ""})                // DESCRIBE implied by ALTER
	allow("User:carol", []Operation{Consume, Commit, Describe}, Resource{Group, "other"}) // a group's members commit

	for _, p := range principals {
		for _, op := range ops {
			for _, r := range resources {
				d := z.Authorize(p, op, r)
				if want := allowed[key(p, op, r)]; d.Allowed != want {
					t.Errorf("%s: allowed %v (%s), want %v", key(p, op, r), d.Allowed, d.Reason, want)
				}
			}
		}
	}
	d := z.Authorize("User:alice", Consume, Resource{Topic, "orders-secret"})
	if !strings.Contains(d.Reason, `an ACL denies it: deny User:alice consume on topic "orders-secret"`) {
		t.Errorf("a denial's reason: %q", d.Reason)
	}
	if d := z.Authorize("User:carol", Produce, Resource{Topic, "orders"}); d.Reason != "no ACL allows it" {
		t.Errorf("no ACL's reason: %q", d.Reason)
	}
}

func key(principal string, op Operation, r Resource) string {
	return fmt.Sprintf("%s %s %s", principal, op, r)
}

// TestValidate: what an ACL may not be, each refused with what to fix.
func TestValidate(t *testing.T) {
	good := ACL{"User:a", Topic, "t", Literal, Produce, Allow}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (ACL{Principal: "User:a", Type: Cluster, Op: Alter, Permission: Allow}).Normalize().Validate(); err != nil {
		t.Fatalf("a cluster ACL with no name, normalized: %v", err)
	}
	for _, c := range []struct {
		acl  ACL
		want string
	}{
		{ACL{"", Topic, "t", Literal, Produce, Allow}, "principal is empty"},
		{ACL{"User:a", 9, "t", Literal, Produce, Allow}, "resource type 9"},
		{ACL{"User:a", Topic, "t", 7, Produce, Allow}, "pattern type 7"},
		{ACL{"User:a", Topic, "t", Literal, 0, Allow}, "operation 0"},
		{ACL{"User:a", Topic, "t", Literal, Produce, 3}, "permission 3"},
		{ACL{"User:a", Topic, "", Literal, Produce, Allow}, "resource name is empty"},
		{ACL{"User:a", Cluster, "c", Literal, Alter, Allow}, "a cluster ACL names no resource"},
		{ACL{"User:a", Topic, "*", Prefixed, Produce, Allow}, "use the LITERAL name"},
	} {
		if err := c.acl.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.acl, err, c.want)
		}
	}
}

// TestFilterSelects: zero fields match anything, set ones must be equal.
func TestFilterSelects(t *testing.T) {
	a := ACL{"User:a", Topic, "t", Prefixed, Produce, Deny}
	for _, c := range []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Principal: "User:a", Type: Topic, Name: "t", Pattern: Prefixed, Op: Produce, Permission: Deny}, true},
		{Filter{Principal: "User:b"}, false},
		{Filter{Type: Group}, false},
		{Filter{Name: "u"}, false},
		{Filter{Pattern: Literal}, false},
		{Filter{Op: Consume}, false},
		{Filter{Permission: Allow}, false},
	} {
		if got := c.f.Selects(a); got != c.want {
			t.Errorf("%+v selects %v: %v, want %v", c.f, a, got, c.want)
		}
	}
}
