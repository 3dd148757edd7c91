package catalog

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/quota"
)

// QuotaRecord is a quota as a metadata record holds it: principal's, or
// the default's when principal is empty.
func QuotaRecord(principal string, l quota.Limits) *metav1.QuotaSet {
	return &metav1.QuotaSet{Principal: principal, IsDefault: principal == "",
		ProduceBytesPerSec: l.ProduceBytes, ConsumeBytesPerSec: l.ConsumeBytes, RequestsPerSec: l.Requests}
}

// QuotaFromRecord is a metadata record's quota: its principal ("" for the
// default) and its rates.
func QuotaFromRecord(r *metav1.QuotaSet) (string, quota.Limits) {
	return r.Principal, quota.Limits{ProduceBytes: r.ProduceBytesPerSec, ConsumeBytes: r.ConsumeBytesPerSec, Requests: r.RequestsPerSec}
}

// ValidateQuotaEntity says what is wrong with whom a quota is for, if
// anything: the default, or one principal, not both.
func ValidateQuotaEntity(principal string, isDefault bool) error {
	switch {
	case isDefault && principal != "":
		return fmt.Errorf("both the default and principal %q: name one", principal)
	case isDefault:
		return nil
	}
	return quota.ValidatePrincipal(principal)
}

// validateQuota is ValidateQuotaEntity and the rates' Validate, as
// ErrInvalid.
func validateQuota(r *metav1.QuotaSet) (string, quota.Limits, error) {
	p, l := QuotaFromRecord(r)
	if err := errors.Join(ValidateQuotaEntity(r.Principal, r.IsDefault), l.Validate()); err != nil {
		return "", quota.Limits{}, errs.Newf(ErrInvalid, "quota %s: %v", quotaName(p), err)
	}
	return p, l, nil
}

func quotaName(principal string) string {
	if principal == "" {
		return "default"
	}
	return fmt.Sprintf("of %q", principal)
}

// Quotas returns the cluster's quotas, and their version, which moves on
// every change.
func (c *Catalog) Quotas() (quota.Quotas, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return quota.Quotas{Default: c.quotas.Default, Principals: maps.Clone(c.quotas.Principals)}, c.quotaVersion.Load()
}

// QuotasVersion is the quotas' version (see Quotas), without a lock:
// callers on the hot path read the quotas again when it moves.
func (c *Catalog) QuotasVersion() uint64 { return c.quotaVersion.Load() }

// applyQuotaSet sets a quota, with c.mu held; an invalid one changes
// nothing.
func (c *Catalog) applyQuotaSet(r *metav1.QuotaSet) error {
	p, l, err := validateQuota(r)
	if err != nil {
		return err
	}
	if p == "" {
		c.quotas.Default = l
	} else {
		if c.quotas.Principals == nil {
			c.quotas.Principals = map[string]quota.Limits{}
		}
		c.quotas.Principals[p] = l
	}
	c.quotaVersion.Add(1)
	return nil
}

// applyQuotaDeleted deletes a quota, with c.mu held; deleting one not
// there changes nothing.
func (c *Catalog) applyQuotaDeleted(r *metav1.QuotaDeleted) error {
	if err := ValidateQuotaEntity(r.Principal, r.IsDefault); err != nil {
		return errs.Newf(ErrInvalid, "deleting a quota: %v", err)
	}
	if r.IsDefault {
		c.quotas.Default = quota.Limits{}
	} else {
		delete(c.quotas.Principals, r.Principal)
	}
	c.quotaVersion.Add(1)
	return nil
}

// quotaRecords are the quotas as a snapshot holds them: the default
// first, then by principal; with c.mu held.
func (c *Catalog) quotaRecords() []*metav1.QuotaSet {
	var out []*metav1.QuotaSet
	if !c.quotas.Default.IsZero() {
		out = append(out, QuotaRecord("", c.quotas.Default))
	}
	for _, p := range slices.Sorted(maps.Keys(c.quotas.Principals)) {
		out = append(out, QuotaRecord(p, c.quotas.Principals[p]))
	}
	return out
}

// restoreQuotas is a snapshot's quotas, validated.
func restoreQuotas(recs []*metav1.QuotaSet) (quota.Quotas, error) {
	var q quota.Quotas
	for i, r := range recs {
		p, l, err := validateQuota(r)
		if err != nil {
			return quota.Quotas{}, fmt.Errorf("catalog snapshot: %w", err)
		}
		switch {
		case p == "" && i != 0:
			return quota.Quotas{}, errors.New("catalog snapshot: the default quota is not first")
		case p == "":
			q.Default = l
			continue
		case i > 0 && strings.Compare(recs[i-1].Principal, p) >= 0:
			return quota.Quotas{}, errors.New("catalog snapshot: its quotas are not sorted")
		}
		if q.Principals == nil {
			q.Principals = map[string]quota.Limits{}
		}
		q.Principals[p] = l
	}
	return q, nil
}
