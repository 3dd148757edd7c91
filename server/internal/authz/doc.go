// Package authz decides whether a principal may do an operation on a
// resource, from the cluster's ACLs, as Kafka's StandardAuthorizer does:
// a superuser may do anything; otherwise an ACL must allow the request and
// none deny it (deny wins), and a request no ACL matches is denied. An ACL
// names its principal, or "*" for every one, and its resource by literal
// name ("*": every resource of its type) or by prefix. Allowing PRODUCE,
// CONSUME, COMMIT, ALTER or DELETE allows DESCRIBE of the resource too,
// and allowing CONSUME allows COMMIT (a group's members commit, as Kafka's
// READ on a group lets them).
//
// The ACLs themselves live in the replicated metadata (the catalog); this
// package holds only the rules, so they are tested apart from the broker.
// The numbers of the types here are runnel.v1's enums'.
package authz
