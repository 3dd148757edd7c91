package broker

import (
	"context"
	"errors"
	"fmt"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/server/internal/authz"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// CreateACLs adds ACLs to the cluster's metadata, each normalized and
// validated first (ErrInvalid naming what to fix).
func (b *Broker) CreateACLs(ctx context.Context, acls []authz.ACL) error {
	if len(acls) == 0 {
		return errs.Newf(ErrInvalid, "no ACL to create")
	}
	rec := &metav1.AclsCreated{}
	var bad []error
	for i, a := range acls {
		a = a.Normalize()
		if err := a.Validate(); err != nil {
			bad = append(bad, fmt.Errorf("ACL %d: %w", i, err))
			continue
		}
		rec.Acls = append(rec.Acls, catalog.ACLRecord(a))
	}
	if len(bad) > 0 {
		return errs.Newf(ErrInvalid, "%v", errors.Join(bad...))
	}
	return b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_AclsCreated{AclsCreated: rec}})
}

// DeleteACLs deletes the ACLs any of filters selects, as this broker's
// metadata has them, and returns them.
func (b *Broker) DeleteACLs(ctx context.Context, filters []authz.Filter) ([]authz.ACL, error) {
	if len(filters) == 0 {
		return nil, errs.Newf(ErrInvalid, "no filter: name what to delete (an empty filter deletes every ACL)")
	}
	acls, _ := b.catalog.ACLs()
	rec := &metav1.AclsDeleted{}
	var deleted []authz.ACL
	for _, a := range acls {
		for _, f := range filters {
			if f.Selects(a) {
				deleted = append(deleted, a)
				rec.Acls = append(rec.Acls, catalog.ACLRecord(a))
				break
			}
		}
	}
	if len(deleted) == 0 {
		return nil, nil
	}
	if err := b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_AclsDeleted{AclsDeleted: rec}}); err != nil {
		return nil, err
	}
	return deleted, nil
}

// ACLs returns the cluster's ACLs as this broker's metadata has them, and
// their version (see catalog.ACLs).
func (b *Broker) ACLs() ([]authz.ACL, uint64) { return b.catalog.ACLs() }

// ACLVersion is the version of the ACLs this broker has (see ACLs).
func (b *Broker) ACLVersion() uint64 { return b.catalog.ACLVersion() }
