package client

import (
	"context"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// SetQuota sets a principal's quota, or the default (see runnelv1.Quota):
// its rates replace every rate the quota had. ALTER on the cluster.
func (a *Admin) SetQuota(ctx context.Context, q *runnelv1.Quota) error {
	return a.call(ctx, "set quota", true, func(ctx context.Context, s runnelv1.AdminServiceClient) error {
		_, err := s.SetQuota(ctx, &runnelv1.SetQuotaRequest{Quota: q})
		return err
	})
}

// ListQuotas lists the quotas, the default first: DESCRIBE on the
// cluster.
func (a *Admin) ListQuotas(ctx context.Context) ([]*runnelv1.Quota, error) {
	var resp *runnelv1.ListQuotasResponse
	err := a.call(ctx, "list quotas", false, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.ListQuotas(ctx, &runnelv1.ListQuotasRequest{})
		return err
	})
	return resp.GetQuotas(), err
}

// DeleteQuota deletes principal's quota (the default's with isDefault)
// and says whether there was one: ALTER on the cluster.
func (a *Admin) DeleteQuota(ctx context.Context, principal string, isDefault bool) (bool, error) {
	var resp *runnelv1.DeleteQuotaResponse
	err := a.call(ctx, "delete quota", true, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.DeleteQuota(ctx, &runnelv1.DeleteQuotaRequest{Principal: principal, IsDefault: isDefault})
		return err
	})
	return resp.GetDeleted(), err
}
