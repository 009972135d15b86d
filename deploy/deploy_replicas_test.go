package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Checks of the several-replicas deployments (issue 16): the Kubernetes
// overlay kubernetes-replicas and compose.

// yamlDocs decodes every document of a multi-document YAML stream.
func yamlDocs(t *testing.T, data []byte) []any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var d any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
}

func envOf(c any) map[string]any {
	env := map[string]any{}
	for _, e := range yget(c, "env").([]any) {
		env[yget(e, "name").(string)] = e
	}
	return env
}

func TestDeployKubernetesReplicas(t *testing.T) {
	kubectl := needTool(t, "kubectl")
	out, err := exec.Command(kubectl, "kustomize", "kubernetes-replicas").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize kubernetes-replicas: %v\n%s", err, out)
	}
	byKind := map[string]any{}
	for _, d := range yamlDocs(t, out) {
		byKind[yget(d, "kind").(string)] = d
	}
	for _, kind := range []string{"HorizontalPodAutoscaler", "Ingress"} {
		if byKind[kind] != nil {
			t.Errorf("the overlay keeps the base's %s (the replica count is fixed; TLS is the pods')", kind)
		}
	}
	d, pdb, svc := byKind["Deployment"], byKind["PodDisruptionBudget"], byKind["Service"]
	if d == nil || pdb == nil || svc == nil {
		t.Fatalf("want a Deployment, a PodDisruptionBudget and a Service; got %v", byKind)
	}
	replicas, _ := yget(d, "spec", "replicas").(int)
	if replicas != 3 {
		t.Errorf("Deployment replicas %v, want 3", yget(d, "spec", "replicas"))
	}
	if m, _ := yget(pdb, "spec", "minAvailable").(int); m < 1 || m >= replicas {
		t.Errorf("PodDisruptionBudget minAvailable %v, want at least 1 and fewer than the %d replicas", yget(pdb, "spec", "minAvailable"), replicas)
	}
	labels := yget(d, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range yget(pdb, "spec", "selector", "matchLabels").(map[string]any) {
		if labels[k] != v {
			t.Errorf("PodDisruptionBudget selects %s=%v, which the pods do not have", k, v)
		}
	}
	pod := yget(d, "spec", "template", "spec")
	var keys []string
	for _, c := range yget(pod, "topologySpreadConstraints").([]any) {
		keys = append(keys, yget(c, "topologyKey").(string))
		for k, v := range yget(c, "labelSelector", "matchLabels").(map[string]any) {
			if labels[k] != v {
				t.Errorf("topology spread on %s selects %s=%v, which the pods do not have", yget(c, "topologyKey"), k, v)
			}
		}
	}
	for _, want := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		if !slices.Contains(keys, want) {
			t.Errorf("no topology spread over %s (have %v)", want, keys)
		}
	}
	c := yget(pod, "containers", 0)
	if yget(c, "readinessProbe", "httpGet", "path") != "/readyz" || yget(c, "readinessProbe", "httpGet", "port") != "metrics" {
		t.Errorf("readinessProbe %v, want /readyz on the metrics port", yget(c, "readinessProbe"))
	}
	env := envOf(c)
	dirVars := directoryVars(t) // the base's, from a Secret (TestDeployKubernetes)
	for name := range env {
		if !dirVars[name] {
			wantSetting(t, "Deployment", name)
		}
	}
	st := env["MAILAUTOCONF_STORAGE"]
	if st == nil || yget(st, "value") != nil || yget(st, "valueFrom", "secretKeyRef", "name") == nil || yget(st, "valueFrom", "secretKeyRef", "key") == nil {
		t.Errorf("MAILAUTOCONF_STORAGE = %v, want it from a Secret (valueFrom.secretKeyRef), never a literal", st)
	}
	// The Service takes 80 and 443 to the container's plain and TLS
	// listeners.
	ports := map[string]string{}
	for _, p := range yget(c, "ports").([]any) {
		ports[yget(p, "name").(string)] = fmt.Sprint(yget(p, "containerPort"))
	}
	for name, setting := range map[string]string{"http": "MAILAUTOCONF_LISTEN", "https": "MAILAUTOCONF_TLS_LISTEN"} {
		v, _ := yget(env[setting], "value").(string)
		if _, port, _ := net.SplitHostPort(v); port == "" || port != ports[name] {
			t.Errorf("container port %s is %s, but %s=%q", name, ports[name], setting, v)
		}
	}
	svcPorts := map[string]string{}
	for _, p := range yget(svc, "spec", "ports").([]any) {
		svcPorts[fmt.Sprint(yget(p, "port"))] = fmt.Sprint(yget(p, "targetPort"))
	}
	if svcPorts["80"] != "http" || svcPorts["443"] != "https" {
		t.Errorf("Service ports %v, want 80 to http and 443 to https", svcPorts)
	}
}

func TestDeployCompose(t *testing.T) {
	const dir = "compose"
	data, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := yamlDocs(t, data) // anchors and aliases resolved
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents, want 1", len(docs))
	}
	services := yget(docs[0], "services").(map[string]any)
	pg := services["postgres"]
	if pg == nil || yget(pg, "healthcheck", "test") == nil {
		t.Fatalf("no postgres service with a healthcheck")
	}
	var replicas []string
	for name, s := range services {
		if yget(s, "image") == "mailautoconf" {
			replicas = append(replicas, name)
		}
	}
	slices.Sort(replicas)
	if len(replicas) != 2 {
		t.Fatalf("replicas %v, want 2 services of the mailautoconf image", replicas)
	}
	pgUser, _ := yget(pg, "environment", "POSTGRES_USER").(string)
	pgDB, _ := yget(pg, "environment", "POSTGRES_DB").(string)
	var listen, tlsListen string
	for _, name := range replicas {
		s := services[name]
		if yget(s, "depends_on", "postgres", "condition") != "service_healthy" {
			t.Errorf("%s does not wait for postgres to be healthy", name)
		}
		env := yget(s, "environment").(map[string]any)
		for k := range env {
			wantSetting(t, name, k)
		}
		url, _ := env["MAILAUTOCONF_STORAGE"].(string)
		if !strings.HasPrefix(url, "postgres://"+pgUser+":") || !strings.Contains(url, "@postgres:5432/"+pgDB) {
			t.Errorf("%s: MAILAUTOCONF_STORAGE=%q is not the postgres service's database %s as %s", name, url, pgDB, pgUser)
		}
		listen, _ = env["MAILAUTOCONF_LISTEN"].(string)
		tlsListen, _ = env["MAILAUTOCONF_TLS_LISTEN"].(string)
	}
	// The balancer sends 80 and 443 to both replicas' listeners.
	cfg, err := os.ReadFile(filepath.Join(dir, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	_, plainPort, _ := net.SplitHostPort(listen)
	_, tlsPort, _ := net.SplitHostPort(tlsListen)
	for _, name := range replicas {
		for _, port := range []string{plainPort, tlsPort} {
			if !strings.Contains(string(cfg), " "+name+":"+port+" ") {
				t.Errorf("haproxy.cfg does not send to %s:%s", name, port)
			}
		}
	}
	if b := services["balancer"]; b == nil || !slices.Contains(yget(b, "ports").([]any), any("80:80")) || !slices.Contains(yget(b, "ports").([]any), any("443:443")) {
		t.Errorf("the balancer does not publish ports 80 and 443")
	}
}
