package server

import (
	"context"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/authz"
)

// CreateAcls adds ACLs to the cluster's metadata.
func (s *adminService) CreateAcls(ctx context.Context, req *runnelv1.CreateAclsRequest) (*runnelv1.CreateAclsResponse, error) {
	acls := make([]authz.ACL, len(req.Acls))
	for i, a := range req.Acls {
		acls[i] = aclFromProto(a)
	}
	if err := s.broker.CreateACLs(ctx, acls); err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.CreateAclsResponse{}, nil
}

// ListAcls lists the ACLs the filter selects, as this broker knows them.
func (s *adminService) ListAcls(_ context.Context, req *runnelv1.ListAclsRequest) (*runnelv1.ListAclsResponse, error) {
	f := filterFromProto(req.Filter)
	acls, _ := s.broker.ACLs()
	resp := &runnelv1.ListAclsResponse{}
	for _, a := range acls {
		if f.Selects(a) {
			resp.Acls = append(resp.Acls, aclProto(a))
		}
	}
	return resp, nil
}

// DeleteAcls deletes the ACLs the filters select.
func (s *adminService) DeleteAcls(ctx context.Context, req *runnelv1.DeleteAclsRequest) (*runnelv1.DeleteAclsResponse, error) {
	filters := make([]authz.Filter, len(req.Filters))
	for i, f := range req.Filters {
		filters[i] = filterFromProto(f)
	}
	deleted, err := s.broker.DeleteACLs(ctx, filters)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &runnelv1.DeleteAclsResponse{}
	for _, a := range deleted {
		resp.Deleted = append(resp.Deleted, aclProto(a))
	}
	return resp, nil
}

func aclFromProto(a *runnelv1.Acl) authz.ACL {
	return authz.ACL{Principal: a.Principal, Type: authz.ResourceType(a.ResourceType), Name: a.ResourceName,
		Pattern: authz.Pattern(a.PatternType), Op: authz.Operation(a.Operation), Permission: authz.Permission(a.Permission)}
}

func aclProto(a authz.ACL) *runnelv1.Acl {
	return &runnelv1.Acl{Principal: a.Principal, ResourceType: runnelv1.AclResourceType(a.Type), ResourceName: a.Name,
		PatternType: runnelv1.AclPatternType(a.Pattern), Operation: runnelv1.AclOperation(a.Op), Permission: runnelv1.AclPermission(a.Permission)}
}

func filterFromProto(f *runnelv1.AclFilter) authz.Filter {
	return authz.Filter{Principal: f.GetPrincipal(), Type: authz.ResourceType(f.GetResourceType()), Name: f.GetResourceName(),
		Pattern: authz.Pattern(f.GetPatternType()), Op: authz.Operation(f.GetOperation()), Permission: authz.Permission(f.GetPermission())}
}
