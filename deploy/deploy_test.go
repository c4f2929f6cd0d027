package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/config"
	"gopkg.in/yaml.v3"
)

// object is the part of a Kubernetes object these tests look at.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data      map[string]string `yaml:"data"`
	Resources []string          `yaml:"resources"` // Kustomization
	Spec      struct {
		Replicas    *int            `yaml:"replicas"`
		ServiceName string          `yaml:"serviceName"`
		Ports       []servicePort   `yaml:"ports"`
		Template    podTemplate     `yaml:"template"`
		VolumeClaim []claimTemplate `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type servicePort struct {
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
}

type claimTemplate struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

type podTemplate struct {
	Spec podSpec `yaml:"spec"`
}

type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe  probe `yaml:"readinessProbe"`
	LivenessProbe   probe `yaml:"livenessProbe"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
}

// manifests decodes every YAML document under kubernetes/, by file.
func manifests(t *testing.T) map[string][]object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string][]object{}
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".yaml" {
			t.Errorf("%s: every file under kubernetes/ is a .yaml manifest", f)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.APIVersion == "" || o.Kind == "" || (o.Metadata.Name == "" && o.Kind != "Kustomization") {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], o)
		}
	}
	return out
}

// find returns the one object of kind and name.
func find(t *testing.T, all map[string][]object, kind, name string) object {
	t.Helper()
	var found []object
	for _, objs := range all {
		for _, o := range objs {
			if o.Kind == kind && o.Metadata.Name == name {
				found = append(found, o)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects %s/%s, want 1", len(found), kind, name)
	}
	return found[0]
}

func TestKubernetesManifests(t *testing.T) {
	all := manifests(t)

	t.Run("ok/kustomization lists every manifest", func(t *testing.T) {
		k := find(t, all, "Kustomization", "")
		var files []string
		for f := range all {
			if f != "kustomization.yaml" {
				files = append(files, f)
			}
		}
		slices.Sort(files)
		listed := slices.Sorted(slices.Values(k.Resources))
		if !slices.Equal(files, listed) {
			t.Errorf("kustomization resources %v, files %v", listed, files)
		}
	})

	dep := find(t, all, "Deployment", "eidsp")
	pod := dep.Spec.Template.Spec
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("eidsp replicas %v, want 2", dep.Spec.Replicas)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("eidsp pod has %d containers", len(pod.Containers))
	}
	c := pod.Containers[0]

	t.Run("ok/eidsp runs hardened", func(t *testing.T) {
		requireHardened(t, pod, c)
		if c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Error("readiness probe is not GET /readyz")
		}
		if c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Error("liveness probe is not GET /healthz")
		}
	})

	// The configuration the pods run, checked as eidsp checks it at startup.
	cm := find(t, all, "ConfigMap", "eidsp-config")
	cfgPath := filepath.Join(t.TempDir(), "eidsp.yaml")
	if err := os.WriteFile(cfgPath, []byte(cm.Data["eidsp.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("eidsp.yaml in the ConfigMap: %v", err)
	}
	t.Run("ok/eidsp.yaml is valid and uses Redis", func(t *testing.T) {
		if err := cfg.Validate(); err != nil {
			t.Errorf("eidsp.yaml in the ConfigMap: %v", err)
		}
		if cfg.Store.Driver != "redis" || cfg.Store.Redis.Addr != "redis:6379" {
			t.Errorf("store %+v, want redis at redis:6379", cfg.Store)
		}
		svc := find(t, all, "Service", "redis")
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 6379 {
			t.Errorf("Service redis ports %+v", svc.Spec.Ports)
		}
	})

	t.Run("ok/the container ports are listen and metrics_listen; the Service carries http only", func(t *testing.T) {
		want := map[string]string{"http": cfg.Listen, "metrics": cfg.MetricsListen}
		if len(c.Ports) != len(want) {
			t.Errorf("container ports %+v, want %v", c.Ports, want)
		}
		for _, p := range c.Ports {
			if _, port, err := net.SplitHostPort(want[p.Name]); err != nil || port != strconv.Itoa(p.ContainerPort) {
				t.Errorf("container port %s %d does not match the configuration's %q", p.Name, p.ContainerPort, want[p.Name])
			}
		}
		svc := find(t, all, "Service", "eidsp")
		for _, p := range svc.Spec.Ports {
			if p.TargetPort != "http" {
				t.Errorf("Service eidsp targets %q: only http belongs in it (/metrics stays inside the cluster)", p.TargetPort)
			}
		}
	})

	t.Run("ok/every file eidsp.yaml names is mounted read-only", func(t *testing.T) {
		mounts := map[string]string{} // mount path -> volume
		for _, m := range c.VolumeMounts {
			if !m.ReadOnly {
				t.Errorf("volume %s is mounted writable", m.Name)
			}
			mounts[m.MountPath] = m.Name
		}
		configArg := c.Args[slices.Index(c.Args, "-config")+1]
		for what, path := range map[string]string{"-config": configArg, "sp.cert_file": cfg.SP.CertFile, "sp.key_file": cfg.SP.KeyFile,
			"log.hash_key_file": cfg.Log.HashKeyFile, "store.redis.password_file": cfg.Store.Redis.PasswordFile} {
			vol, ok := mounts[filepath.Dir(path)]
			if !ok {
				t.Errorf("%s %s: no volume is mounted at %s", what, path, filepath.Dir(path))
				continue
			}
			requireVolumeSource(t, all, pod, vol, filepath.Base(path))
		}
	})

	t.Run("ok/Redis keeps an append-only file on a volume", func(t *testing.T) {
		sts := find(t, all, "StatefulSet", "redis")
		if sts.Spec.ServiceName != "redis" || len(sts.Spec.VolumeClaim) != 1 {
			t.Errorf("StatefulSet redis: serviceName %q, %d volume claims", sts.Spec.ServiceName, len(sts.Spec.VolumeClaim))
		}
		rc := sts.Spec.Template.Spec.Containers
		if len(rc) != 1 {
			t.Fatalf("redis pod has %d containers", len(rc))
		}
		requireHardened(t, sts.Spec.Template.Spec, rc[0])
		args := strings.Join(rc[0].Args, " ")
		for _, want := range []string{"--appendonly yes", "--dir /data", "--requirepass"} {
			if !strings.Contains(args, want) {
				t.Errorf("redis args %q lack %q", args, want)
			}
		}
		if len(rc[0].VolumeMounts) != 1 || rc[0].VolumeMounts[0].MountPath != "/data" || rc[0].VolumeMounts[0].Name != sts.Spec.VolumeClaim[0].Metadata.Name {
			t.Errorf("redis /data is not the claimed volume: %+v", rc[0].VolumeMounts)
		}
	})
}

func requireHardened(t *testing.T, pod podSpec, c container) {
	t.Helper()
	sc := c.SecurityContext
	if p := pod.SecurityContext.RunAsNonRoot; p == nil || !*p {
		t.Errorf("%s: pod may run as root", c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: root filesystem is writable", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: privilege escalation allowed", c.Name)
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("%s: capabilities not all dropped: %v", c.Name, sc.Capabilities.Drop)
	}
}

// requireVolumeSource asserts that volume vol of pod is a ConfigMap or Secret of these
// manifests holding key.
func requireVolumeSource(t *testing.T, all map[string][]object, pod podSpec, vol, key string) {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name != vol {
			continue
		}
		switch {
		case v.ConfigMap != nil:
			if _, ok := find(t, all, "ConfigMap", v.ConfigMap.Name).Data[key]; !ok {
				t.Errorf("ConfigMap %s has no %s", v.ConfigMap.Name, key)
			}
		case v.Secret != nil:
			requireSecretKey(t, v.Secret.SecretName, key)
		default:
			t.Errorf("volume %s is neither a ConfigMap nor a Secret", vol)
		}
		return
	}
	t.Errorf("no volume %s in the pod", vol)
}

// requireSecretKey asserts that secret.yaml's Secret name holds key.
func requireSecretKey(t *testing.T, name, key string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var s struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			StringData map[string]string `yaml:"stringData"`
		}
		if err := dec.Decode(&s); err != nil {
			break
		}
		if s.Metadata.Name == name {
			if _, ok := s.StringData[key]; !ok {
				t.Errorf("Secret %s has no %s", name, key)
			}
			return
		}
	}
	t.Errorf("no Secret %s in secret.yaml", name)
}

// unit reads a systemd unit file into section -> key -> values.
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	u := unit(t, filepath.Join("systemd", "eidsp.service"))
	svc := u["Service"]
	for _, tt := range []struct{ key, want string }{
		{"ExecStart", "/usr/local/bin/eidsp serve -config /etc/eidsp/eidsp.yaml"},
		{"DynamicUser", "yes"},
		{"StateDirectory", "eidsp"},
		{"Environment", "EIDSP_DATA_DIR=%S/eidsp"},
		{"NoNewPrivileges", "yes"},
		{"ProtectSystem", "strict"},
		{"PrivateTmp", "yes"},
		{"ProtectHome", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"KillSignal", "SIGTERM"},
		{"LoadCredential", "sp.key:/etc/eidsp/sp.key"},
		{"LoadCredential", "sp.crt:/etc/eidsp/sp.crt"},
		{"LoadCredential", "log-hash.key:/etc/eidsp/log-hash.key"},
	} {
		if !slices.Contains(svc[tt.key], tt.want) {
			t.Errorf("[Service] %s=%q missing (have %q)", tt.key, tt.want, svc[tt.key])
		}
	}
	if len(svc["CapabilityBoundingSet"]) != 1 {
		t.Errorf("CapabilityBoundingSet set more than once: %q", svc["CapabilityBoundingSet"])
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("[Install] WantedBy=%q", got)
	}
}

// TestProxyConfigsInREADME: the README shows the nginx and Caddy configurations the tests run,
// verbatim.
func TestProxyConfigsInREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ path, lang string }{
		{filepath.Join("nginx", "eidsp-forward-auth.conf"), "nginx"},
		{filepath.Join("caddy", "eidsp-forward-auth.caddy"), "caddy"},
	} {
		conf, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(readme, []byte("```"+f.lang+"\n"+string(conf)+"```\n")) {
			t.Errorf("README.md does not show deploy/%s verbatim in a %s block", filepath.ToSlash(f.path), f.lang)
		}
	}
}
