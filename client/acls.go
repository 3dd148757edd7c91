package client

import (
	"context"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// CreateACLs adds ACLs to the cluster (see runnelv1.Acl): ALTER on the
// cluster. One already there is kept once.
func (a *Admin) CreateACLs(ctx context.Context, acls ...*runnelv1.Acl) error {
	return a.call(ctx, "create ACLs", true, func(ctx context.Context, s runnelv1.AdminServiceClient) error {
		_, err := s.CreateAcls(ctx, &runnelv1.CreateAclsRequest{Acls: acls})
		return err
	})
}

// ListACLs lists the ACLs filter selects (nil: all): DESCRIBE on the
// cluster.
func (a *Admin) ListACLs(ctx context.Context, filter *runnelv1.AclFilter) ([]*runnelv1.Acl, error) {
	var resp *runnelv1.ListAclsResponse
	err := a.call(ctx, "list ACLs", false, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.ListAcls(ctx, &runnelv1.ListAclsRequest{Filter: filter})
		return err
	})
	return resp.GetAcls(), err
}

// DeleteACLs deletes every ACL one of filters selects, and returns them:
// ALTER on the cluster.
func (a *Admin) DeleteACLs(ctx context.Context, filters ...*runnelv1.AclFilter) ([]*runnelv1.Acl, error) {
	var resp *runnelv1.DeleteAclsResponse
	err := a.call(ctx, "delete ACLs", true, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.DeleteAcls(ctx, &runnelv1.DeleteAclsRequest{Filters: filters})
		return err
	})
	return resp.GetDeleted(), err
}
