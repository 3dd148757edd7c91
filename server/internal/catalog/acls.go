package catalog

import (
	"slices"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/server/internal/authz"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// ACLFromRecord is a metadata record's ACL.
func ACLFromRecord(b *metav1.AclBinding) authz.ACL {
	return authz.ACL{Principal: b.Principal, Type: authz.ResourceType(b.ResourceType), Name: b.ResourceName,
		Pattern: authz.Pattern(b.PatternType), Op: authz.Operation(b.Operation), Permission: authz.Permission(b.Permission)}
}

// ACLRecord is an ACL as a metadata record holds it.
func ACLRecord(a authz.ACL) *metav1.AclBinding {
	return &metav1.AclBinding{Principal: a.Principal, ResourceType: int32(a.Type), ResourceName: a.Name,
		PatternType: int32(a.Pattern), Operation: int32(a.Op), Permission: int32(a.Permission)}
}

// ACLs returns the cluster's ACLs, sorted by authz.Compare, and their
// version, which moves on every change.
func (c *Catalog) ACLs() ([]authz.ACL, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.acls), c.aclVersion
}

// ACLVersion is the ACLs' version alone (see ACLs), without a copy of them.
func (c *Catalog) ACLVersion() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.aclVersion
}

// applyACLs adds (or removes) the records' ACLs, with c.mu held. An
// invalid one changes nothing.
func (c *Catalog) applyACLs(bindings []*metav1.AclBinding, add bool) error {
	acls := make([]authz.ACL, 0, len(bindings))
	for _, b := range bindings {
		a := ACLFromRecord(b)
		if err := a.Validate(); err != nil {
			return errs.Newf(ErrInvalid, "ACL %v: %v", a, err)
		}
		acls = append(acls, a)
	}
	for _, a := range acls {
		i, found := slices.BinarySearchFunc(c.acls, a, authz.Compare)
		switch {
		case add && !found:
			c.acls = slices.Insert(c.acls, i, a)
		case !add && found:
			c.acls = slices.Delete(c.acls, i, i+1)
		}
	}
	c.aclVersion++
	return nil
}
