// Package deploy holds the tests of Runnel's deployment files: the
// container image (Containerfile), compose.yaml, and the Helm chart
// (helm/runnel) with the plain manifests rendered from it (k8s/).
//
// It is a module of its own, github.com/runnel-broker/runnel/deploy, so
// that Helm (a go tool here) and the Kubernetes API types stay out of the
// broker's dependency graph: the root module's go list ./... does not see
// it. Run it with make test-deploy, which builds the image first and
// names it in RUNNEL_IMAGE.
package deploy
