package deploy

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// maxImageBytes bounds the image: the static binary (about 19 MB) and
// two small files. A base image or a debug build creeping in fails.
const maxImageBytes = 40 << 20

// image is the image make image built, named by RUNNEL_IMAGE.
func image(t *testing.T) string {
	t.Helper()
	name := os.Getenv("RUNNEL_IMAGE")
	if name == "" {
		t.Fatal("RUNNEL_IMAGE is not set: run make test-deploy, which builds the image and names it")
	}
	return name
}

func podman(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("podman", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestImageConfig inspects the image's configuration: runnel serve by
// default, a numeric non-root user, the three ports, the data volume,
// the container defaults, the healthcheck, and its size.
func TestImageConfig(t *testing.T) {
	var inspected []struct {
		Size   int64
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			Env          []string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			StopSignal   string
		}
		HealthCheck *struct {
			Test []string
		}
	}
	if err := json.Unmarshal(podman(t, "image", "inspect", image(t)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("podman image inspect: %v (%d images)", err, len(inspected))
	}
	img := inspected[0]
	c := img.Config
	if !slices.Equal(c.Entrypoint, []string{"/usr/bin/runnel"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("entrypoint %q, cmd %q: want runnel serve", c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (numeric: Kubernetes' runAsNonRoot checks it without /etc/passwd)", c.User)
	}
	for _, port := range []string{"7400/tcp", "7401/tcp", "7402/tcp"} {
		if _, ok := c.ExposedPorts[port]; !ok {
			t.Errorf("port %s not exposed: %v", port, c.ExposedPorts)
		}
	}
	if _, ok := c.Volumes["/var/lib/runnel"]; !ok || len(c.Volumes) != 1 {
		t.Errorf("volumes %v, want /var/lib/runnel", c.Volumes)
	}
	for _, e := range []string{"RUNNEL_LISTEN=0.0.0.0:7400", "RUNNEL_HTTP_LISTEN=0.0.0.0:7401", "RUNNEL_PEER_LISTEN=0.0.0.0:7402", "RUNNEL_DATA_DIR=/var/lib/runnel"} {
		if !slices.Contains(c.Env, e) {
			t.Errorf("env %q, want %s", c.Env, e)
		}
	}
	if c.StopSignal != "SIGTERM" {
		t.Errorf("stop signal %q", c.StopSignal)
	}
	if img.HealthCheck == nil || len(img.HealthCheck.Test) < 3 || img.HealthCheck.Test[0] != "CMD" ||
		img.HealthCheck.Test[1] != "/usr/bin/runnel" || img.HealthCheck.Test[2] != "health" {
		t.Errorf("healthcheck %+v, want CMD /usr/bin/runnel health (built with --format docker?)", img.HealthCheck)
	}
	if img.Size <= 0 || img.Size > maxImageBytes {
		t.Errorf("image size %d bytes, want at most %d", img.Size, maxImageBytes)
	}
	t.Logf("image %s: %.1f MB", image(t), float64(img.Size)/(1<<20))
}

// TestImageFiles reads the image's file system (podman export of a
// container made from it, never started): the user in /etc/passwd, the
// data directory its, and a static binary, which is all a scratch image
// can run, that answers --version.
func TestImageFiles(t *testing.T) {
	id := strings.TrimSpace(string(podman(t, "create", image(t))))
	t.Cleanup(func() { _ = exec.Command("podman", "rm", "--force", id).Run() })
	files := map[string]*tar.Header{}
	var passwd, binary []byte
	r := tar.NewReader(bytes.NewReader(podman(t, "export", id)))
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		files[name] = h
		switch name {
		case "etc/passwd":
			passwd, err = io.ReadAll(r)
		case "usr/bin/runnel":
			binary, err = io.ReadAll(r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(string(passwd), "\nrunnel:x:65532:65532:") {
		t.Errorf("/etc/passwd has no runnel user 65532:\n%s", passwd)
	}
	data := files["var/lib/runnel"]
	if data == nil || data.Typeflag != tar.TypeDir || data.Uid != 65532 || data.Gid != 65532 {
		t.Errorf("/var/lib/runnel: %+v, want a directory of 65532:65532", data)
	}
	if v := files["var"]; v == nil || v.Uid != 0 {
		t.Errorf("/var: %+v, want root's", v)
	}
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		t.Fatalf("/usr/bin/runnel: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("/usr/bin/runnel is dynamically linked: scratch has no libc (build it with CGO_ENABLED=0)")
		}
	}
	// The binary as the image holds it runs here too: same OS and arch.
	bin := t.TempDir() + "/runnel"
	if err := os.WriteFile(bin, binary, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "runnel version ") {
		t.Fatalf("runnel --version: %v: %s", err, out)
	}
}

// TestImageRuns starts a container of the image as it comes (runnel
// serve, its ENV defaults, as 65532 on the volume), waits for its
// HEALTHCHECK (runnel health) to pass, and stops it: SIGTERM, a clean
// shutdown, exit 0. --network none: the healthcheck runs in the
// container's own network namespace, so no port of the machine is taken.
func TestImageRuns(t *testing.T) {
	// NB: runc, not podman's default crun, which refuses a machine with
	// cgroups v1 and v2 both mounted (hybrid), as these VMs have; and
	// limits no higher than the machine's, as a runtime without
	// CAP_SYS_RESOURCE cannot raise them.
	run := []string{"--runtime", "runc"}
	id := strings.TrimSpace(string(podman(t, append(run, "run", "--detach", "--network", "none",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", image(t))...)))
	t.Cleanup(func() {
		_ = exec.Command("podman", append(run, "rm", "--force", id)...).Run()
	})
	logs := func() string {
		out, _ := exec.Command("podman", "logs", id).CombinedOutput()
		return string(out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for exec.Command("podman", append(run, "healthcheck", "run", id)...).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not healthy within 30s; logs:\n%s", logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	podman(t, append(run, "stop", "--time", "30", id)...)
	if code := strings.TrimSpace(string(podman(t, "inspect", "--format", "{{.State.ExitCode}}", id))); code != "0" {
		t.Fatalf("exit code %s after podman stop; logs:\n%s", code, logs())
	}
	l := logs()
	if !strings.Contains(l, "data_dir=/var/lib/runnel") || !strings.Contains(l, `msg="runnel stopped"`) {
		t.Fatalf("logs show no serving on /var/lib/runnel and clean stop:\n%s", l)
	}
}
