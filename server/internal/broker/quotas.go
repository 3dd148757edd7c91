package broker

import (
	"context"
	"errors"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/quota"
)

// SetQuota sets principal's quota (the default's with isDefault) to l in
// the cluster's metadata, replacing every rate it had; ErrInvalid, naming
// what to fix, for a bad principal or rate.
func (b *Broker) SetQuota(ctx context.Context, principal string, isDefault bool, l quota.Limits) error {
	if err := errors.Join(catalog.ValidateQuotaEntity(principal, isDefault), l.Validate()); err != nil {
		return errs.Newf(ErrInvalid, "%v", err)
	}
	rec := catalog.QuotaRecord(principal, l)
	rec.IsDefault = isDefault
	return b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_QuotaSet{QuotaSet: rec}})
}

// DeleteQuota deletes principal's quota (the default with isDefault), and
// says whether this broker's metadata had one.
func (b *Broker) DeleteQuota(ctx context.Context, principal string, isDefault bool) (bool, error) {
	if err := catalog.ValidateQuotaEntity(principal, isDefault); err != nil {
		return false, errs.Newf(ErrInvalid, "%v", err)
	}
	q, _ := b.catalog.Quotas()
	if _, ok := q.Principals[principal]; !ok && (!isDefault || q.Default.IsZero()) {
		return false, nil
	}
	rec := &metav1.QuotaDeleted{Principal: principal, IsDefault: isDefault}
	if err := b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_QuotaDeleted{QuotaDeleted: rec}}); err != nil {
		return false, err
	}
	return true, nil
}

// Quotas returns the cluster's quotas as this broker's metadata has them,
// and their version (see catalog.Quotas).
func (b *Broker) Quotas() (quota.Quotas, uint64) { return b.catalog.Quotas() }

// QuotasVersion is the quotas' version, cheaply.
func (b *Broker) QuotasVersion() uint64 { return b.catalog.QuotasVersion() }
