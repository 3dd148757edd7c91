package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite k8s/*.yaml from the chart")

// helmTemplate renders the chart with helm template (the go tool this
// module pins) as release runnel in namespace default, with args added.
func helmTemplate(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "helm", "template", "runnel", "helm/runnel", "--namespace", "default"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// decode decodes every manifest of a multi-document stream strictly into
// the Kubernetes type of its kind: a field the type does not have (a
// typo, a wrong indentation) fails, and so does a kind this test does not
// know.
func decode(t *testing.T, stream []byte) []any {
	t.Helper()
	var objs []any
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(stream), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		obj, err := decodeManifest([]byte(doc))
		if err != nil {
			t.Fatalf("manifest %d: %v\n%s", i, err, doc)
		}
		objs = append(objs, obj)
	}
	return objs
}

func decodeManifest(doc []byte) (any, error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return nil, err
	}
	var obj any
	switch meta.APIVersion + " " + meta.Kind {
	case "v1 Service":
		obj = new(corev1.Service)
	case "apps/v1 StatefulSet":
		obj = new(appsv1.StatefulSet)
	case "apps/v1 Deployment":
		obj = new(appsv1.Deployment)
	case "policy/v1 PodDisruptionBudget":
		obj = new(policyv1.PodDisruptionBudget)
	default:
		return nil, fmt.Errorf("kind %q of %q: not one this test decodes", meta.Kind, meta.APIVersion)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// TestDecodeIsStrict: a misspelt field fails the decoding, which is what
// the other tests rely on to find one in the chart.
func TestDecodeIsStrict(t *testing.T) {
	good := "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: x\nspec:\n  maxUnavailable: 1\n"
	if _, err := decodeManifest([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		strings.Replace(good, "maxUnavailable", "maxUnavalable", 1),
		strings.Replace(good, "  maxUnavailable", "maxUnavailable", 1),
		strings.Replace(good, "PodDisruptionBudget", "PodDisruptionBugdet", 1),
	} {
		if _, err := decodeManifest([]byte(bad)); err == nil {
			t.Errorf("decoded with no error:\n%s", bad)
		}
	}
}

func find[T any](t *testing.T, objs []any, name string) *T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.(*T); ok && any(v).(metav1.Object).GetName() == name {
			return v
		}
	}
	t.Fatalf("no %T named %q", new(T), name)
	return nil
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// TestChart renders the chart with the sidecar example, decodes each
// manifest strictly, and checks what the brokers depend on: node ids from
// the pod index, the peers by stable DNS name, readiness by gRPC health,
// a grace period over the broker's 10 s shutdown, one disruption at a
// time, and a native sidecar.
func TestChart(t *testing.T) {
	out, err := helmTemplate(t, "--set", "sidecarExample.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, out)
	if len(objs) != 5 {
		t.Fatalf("%d manifests, want 5 (2 Services, StatefulSet, PodDisruptionBudget, Deployment)", len(objs))
	}
	headless := find[corev1.Service](t, objs, "runnel-headless")
	if headless.Spec.ClusterIP != "None" || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("headless Service: clusterIP %q, publishNotReadyAddresses %v", headless.Spec.ClusterIP, headless.Spec.PublishNotReadyAddresses)
	}
	find[corev1.Service](t, objs, "runnel")

	sts := find[appsv1.StatefulSet](t, objs, "runnel")
	if *sts.Spec.Replicas != 3 || sts.Spec.ServiceName != "runnel-headless" || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("StatefulSet: replicas %d, serviceName %q, podManagementPolicy %q", *sts.Spec.Replicas, sts.Spec.ServiceName, sts.Spec.PodManagementPolicy)
	}
	pod := sts.Spec.Template.Spec
	if g := *pod.TerminationGracePeriodSeconds; g <= 10 {
		t.Errorf("terminationGracePeriodSeconds %d: not over the broker's 10 s shutdown", g)
	}
	broker := pod.Containers[0]
	if idx := env(broker, "RUNNEL_POD_INDEX"); idx == nil || idx.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Errorf("RUNNEL_POD_INDEX: %+v", idx)
	}
	const domain = "runnel-headless.default.svc"
	for name, want := range map[string]string{
		"RUNNEL_PEERS":          "1=runnel-0." + domain + ":7402,2=runnel-1." + domain + ":7402,3=runnel-2." + domain + ":7402",
		"RUNNEL_JOIN":           "runnel-0." + domain + ":7402",
		"RUNNEL_ADVERTISE":      "$(POD_NAME)." + domain + ":7400",
		"RUNNEL_ADVERTISE_PEER": "$(POD_NAME)." + domain + ":7402",
	} {
		if e := env(broker, name); e == nil || e.Value != want {
			t.Errorf("%s: %+v, want %q", name, e, want)
		}
	}
	// NB: $(POD_NAME) expands only if POD_NAME comes before its users.
	if i := slices.IndexFunc(broker.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAME" }); i < 0 || i > 2 {
		t.Errorf("POD_NAME at %d in the env", i)
	}
	if p := broker.ReadinessProbe; p == nil || p.GRPC == nil || p.GRPC.Port != 7400 {
		t.Errorf("readiness probe %+v: want gRPC health on 7400", p)
	}
	if m := broker.VolumeMounts; len(m) != 1 || m[0].MountPath != "/var/lib/runnel" || sts.Spec.VolumeClaimTemplates[0].Name != m[0].Name {
		t.Errorf("data volume: mounts %+v", m)
	}

	pdb := find[policyv1.PodDisruptionBudget](t, objs, "runnel")
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}
	for k, v := range pdb.Spec.Selector.MatchLabels {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("PodDisruptionBudget selector %v does not select the brokers %v", pdb.Spec.Selector.MatchLabels, sts.Spec.Template.Labels)
		}
	}

	app := find[appsv1.Deployment](t, objs, "runnel-app-example")
	init := app.Spec.Template.Spec.InitContainers
	if len(init) != 1 || init[0].RestartPolicy == nil || *init[0].RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("sidecar: init containers %+v, want one with restartPolicy Always", init)
	}
	wantArgs := []string{"sidecar", "--upstream=runnel-0." + domain + ":7400,runnel-1." + domain + ":7400,runnel-2." + domain + ":7400",
		"--listen=127.0.0.1:7400", "--data-dir=/var/lib/runnel", "--spool-bytes=268435456"}
	if !slices.Equal(init[0].Args, wantArgs) {
		t.Errorf("sidecar args %q, want %q", init[0].Args, wantArgs)
	}
}

// TestChartRefuses: values that would break the cluster fail to render.
func TestChartRefuses(t *testing.T) {
	for _, tc := range []struct{ set, err string }{
		{"initialBrokers=2", "initialBrokers must be odd"},
		{"replicas=1", "replicas must be at least initialBrokers"},
	} {
		if _, err := helmTemplate(t, "--set", tc.set); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("--set %s: %v, want %q", tc.set, err, tc.err)
		}
	}
}

// TestPlainManifests: k8s/*.yaml are the chart rendered (release runnel,
// namespace default), for kubectl apply without Helm; go test -update
// rewrites them.
func TestPlainManifests(t *testing.T) {
	for file, args := range map[string][]string{
		"k8s/runnel.yaml":           nil,
		"k8s/app-with-sidecar.yaml": {"--set", "sidecarExample.enabled=true", "--show-only", "templates/sidecar-example.yaml"},
	} {
		want, err := helmTemplate(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(file, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not the chart rendered: run go test -run TestPlainManifests -update in deploy/ (make deploy-manifests)", file)
		}
		decode(t, got)
	}
}
