// Package deploy_test checks the files of this directory, each as
// shipped: the systemd unit, the container file, the Kubernetes manifests
// and the example catalogs, against the mailautoconf command built from
// this repository.
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	// -update: go test ./... -update rewrites golden files, and every test
	// binary must accept the flag.
	_ "mailautoconf/internal/testutil/golden"
	"mailautoconf/provision"
)

// needTool returns the path of a tool, skipping the test where it is
// missing, except under CI (CI=true), which must run every test.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (listed in .ci/run's APT_PACKAGES?)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// built is the mailautoconf command, built once for the tests that run
// it, and removed by TestMain.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// mailautoconf runs the command built from this repository with args, in
// this environment less any MAILAUTOCONF_ setting, and returns its
// stdout and stderr. go test puts its own go first on PATH.
func mailautoconf(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "deploy-test-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "mailautoconf")
		cmd := exec.Command("go", "build", "-o", built.bin, ".")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	cmd := exec.Command(built.bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAILAUTOCONF_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err = cmd.Run()
	return out.String(), errs.String(), err
}

// help is the output of mailautoconf help.
func help(t *testing.T) string {
	t.Helper()
	out, errs, err := mailautoconf(t, "help")
	if err != nil {
		t.Fatalf("mailautoconf help: %v\n%s", err, errs)
	}
	return out
}

// settingNames lists the settings mailautoconf help prints, each alone
// on its line.
func settingNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, line := range strings.Split(help(t), "\n") {
		if strings.HasPrefix(line, "MAILAUTOCONF_") && !strings.ContainsAny(line, " \t") {
			names = append(names, line)
		}
	}
	if len(names) == 0 {
		t.Fatal("mailautoconf help lists no settings")
	}
	return names
}

// wantSetting fails for an environment variable that is not a setting.
func wantSetting(t *testing.T, where, name string) {
	t.Helper()
	if !slices.Contains(settingNames(t), name) {
		t.Errorf("%s: %s is not a setting (see mailautoconf help)", where, name)
	}
}

// unitFile is a systemd unit: each key's values, in order, by section.
type unitFile map[string]map[string][]string

func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u, section := unitFile{}, ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a key=value line: %q", path, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func TestDeploySystemdUnit(t *testing.T) {
	const path = "systemd/mailautoconf.service"
	u := readUnit(t, path)
	svc := u["Service"]
	for key, want := range map[string]string{
		"ExecStart":              "/usr/local/bin/mailautoconf serve",
		"ExecReload":             "/bin/kill -HUP $MAINPID",
		"DynamicUser":            "yes",
		"ProtectSystem":          "strict",
		"StateDirectory":         "mailautoconf",
		"AmbientCapabilities":    "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":  "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":        "yes",
		"KillSignal":             "SIGTERM",
		"ConfigurationDirectory": "mailautoconf",
	} {
		if got := svc[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s=%q, want exactly %q", path, key, got, want)
		}
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("%s: WantedBy=%q", path, got)
	}
	env := map[string]string{}
	for _, e := range svc["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		wantSetting(t, path, k)
		env[k] = v
	}
	if env["MAILAUTOCONF_DATA_DIR"] != "%S/mailautoconf" {
		t.Errorf("%s: MAILAUTOCONF_DATA_DIR=%q, want the StateDirectory %%S/mailautoconf", path, env["MAILAUTOCONF_DATA_DIR"])
	}
	if !strings.HasPrefix(env["MAILAUTOCONF_CATALOG"], "/etc/mailautoconf/") {
		t.Errorf("%s: catalog %q outside the ConfigurationDirectory", path, env["MAILAUTOCONF_CATALOG"])
	}
	if host, _, _ := net.SplitHostPort(env["MAILAUTOCONF_METRICS_LISTEN"]); host != "127.0.0.1" {
		t.Errorf("%s: metrics listener %q is not on the loopback address", path, env["MAILAUTOCONF_METRICS_LISTEN"])
	}

	// systemd-analyze verify, in a root of its own where the binary
	// exists (it checks that ExecStart and ExecReload are executable),
	// with the host's units for the dependencies. Any warning fails.
	analyze := needTool(t, "systemd-analyze")
	root := t.TempDir()
	units := "/usr/lib/systemd/system"
	if _, err := os.Stat(units); err != nil {
		units = "/lib/systemd/system"
	}
	copyTree(t, units, filepath.Join(root, "usr/lib/systemd/system"))
	writeExecutable(t, filepath.Join(root, "usr/local/bin/mailautoconf"))
	writeExecutable(t, filepath.Join(root, "bin/kill"))
	copyFile(t, path, filepath.Join(root, "etc/systemd/system/mailautoconf.service"))
	out, err := exec.Command(analyze, "verify", "--man=no", "--root="+root, "mailautoconf.service").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// And it catches a mistake, so that a silent pass means something.
	broken := strings.Replace(string(mustRead(t, path)), "ProtectSystem=strict", "ProtectSystem=stricter", 1)
	if err := os.WriteFile(filepath.Join(root, "etc/systemd/system/mailautoconf.service"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command(analyze, "verify", "--man=no", "--root="+root, "mailautoconf.service").CombinedOutput()
	if !bytes.Contains(out, []byte("stricter")) {
		t.Errorf("systemd-analyze verify did not report a bad ProtectSystem value: %s", out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, mustRead(t, from), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies the unit files of a directory: regular files, and
// symbolic links as they are.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, 0o644)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeExecutable(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// instruction is one Containerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

func readContainerfile(t *testing.T, path string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(mustRead(t, path)), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends inside a continued line", path)
	}
	return out
}

func TestDeployContainerfile(t *testing.T) {
	const path = "container/Containerfile"
	ins := readContainerfile(t, path)
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before FROM", path, in.line, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("%s: %d stages, want a multi-stage build", path, len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasSuffix(build[0].args, " AS build") {
		t.Errorf("%s: first stage %q is not named build", path, build[0].args)
	}
	var built bool
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") {
			built = true
		}
	}
	if !built {
		t.Errorf("%s: no static build (RUN CGO_ENABLED=0 go build)", path)
	}
	if !strings.Contains(final[0].args, "distroless/static") {
		t.Errorf("%s: final stage %q: want a distroless static base", path, final[0].args)
	}
	seen := map[string][]string{}
	for _, in := range final {
		seen[in.cmd] = append(seen[in.cmd], in.args)
		switch in.cmd {
		case "RUN":
			t.Errorf("%s:%d: RUN in the final stage: it has no shell", path, in.line)
		case "ENV":
			for _, f := range strings.Fields(in.args) {
				k, _, _ := strings.Cut(f, "=")
				wantSetting(t, path, k)
			}
		}
	}
	for cmd, want := range map[string]string{
		"COPY":        "--from=build /out/mailautoconf /usr/local/bin/mailautoconf",
		"USER":        "65532:65532",
		"HEALTHCHECK": `CMD ["/usr/local/bin/mailautoconf", "healthcheck"]`,
		"ENTRYPOINT":  `["/usr/local/bin/mailautoconf"]`,
		"CMD":         `["serve"]`,
		"EXPOSE":      "8080 9090",
		"STOPSIGNAL":  "SIGTERM",
	} {
		if len(seen[cmd]) != 1 || !strings.HasSuffix(seen[cmd][0], want) {
			t.Errorf("%s: final stage %s %q, want one ending %q", path, cmd, seen[cmd], want)
		}
	}
	if u := seen["USER"]; len(u) == 1 && (strings.HasPrefix(u[0], "0") || strings.HasPrefix(u[0], "root")) {
		t.Errorf("%s: runs as root", path)
	}
	if !strings.Contains(help(t), "\n  mailautoconf healthcheck ") {
		t.Errorf("the HEALTHCHECK command does not exist")
	}
	// No container engine runs here: the image itself is not built by
	// the tests. The build stage's command is checked by building the
	// same way.
}

// manifest is one parsed Kubernetes document.
type manifest struct {
	file string
	doc  map[string]any
}

// yget walks a manifest by keys and list indexes.
func yget(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func readManifests(t *testing.T, path string) []manifest {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(mustRead(t, path)))
	var out []manifest
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			out = append(out, manifest{path, doc})
		}
	}
}

func TestDeployKubernetes(t *testing.T) {
	const dir = "kubernetes"
	kust := readManifests(t, filepath.Join(dir, "kustomization.yaml"))
	if len(kust) != 1 || yget(kust[0].doc, "kind") != "Kustomization" {
		t.Fatalf("kustomization.yaml: not one Kustomization")
	}
	k := kust[0].doc
	listed := map[string]bool{"kustomization.yaml": true}
	var resources []string
	for _, r := range yget(k, "resources").([]any) {
		resources = append(resources, r.(string))
		listed[r.(string)] = true
	}
	var catalog, catalogMap string
	for _, g := range yget(k, "configMapGenerator").([]any) {
		catalogMap = yget(g, "name").(string)
		if yget(g, "options", "disableNameSuffixHash") != true {
			t.Errorf("configMapGenerator %s: a hashed name would restart the pods at each catalog edit", catalogMap)
		}
		for _, f := range yget(g, "files").([]any) {
			catalog = filepath.Join(dir, f.(string))
			listed[f.(string)] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}

	byKind := map[string]manifest{}
	for _, r := range resources {
		for _, m := range readManifests(t, filepath.Join(dir, r)) {
			kind, _ := yget(m.doc, "kind").(string)
			name, _ := yget(m.doc, "metadata", "name").(string)
			if yget(m.doc, "apiVersion") == nil || kind == "" || name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", m.file)
				continue
			}
			byKind[kind] = m
		}
	}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Ingress"} {
		if _, ok := byKind[kind]; !ok {
			t.Errorf("no %s", kind)
		}
	}

	// The Deployment: probes, resources, read-only root, non-root, the
	// catalog mounted whole from the ConfigMap, real settings.
	d := byKind["Deployment"].doc
	pod := yget(d, "spec", "template", "spec")
	c := yget(pod, "containers", 0)
	for probe, want := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		if got := yget(c, probe, "httpGet", "path"); got != want {
			t.Errorf("Deployment %s path %v, want %s", probe, got, want)
		}
		// On the metrics listener, whose connections clients of the
		// public one cannot take (internal/server/limits.go).
		if got := yget(c, probe, "httpGet", "port"); got != "metrics" {
			t.Errorf("Deployment %s on port %v, want metrics (the metrics listener)", probe, got)
		}
	}
	for _, p := range [][]any{{"resources", "requests", "cpu"}, {"resources", "requests", "memory"}, {"resources", "limits", "memory"}} {
		if yget(c, p...) == nil {
			t.Errorf("Deployment container lacks %v", p)
		}
	}
	if yget(c, "securityContext", "readOnlyRootFilesystem") != true || yget(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Errorf("Deployment container securityContext %v", yget(c, "securityContext"))
	}
	if yget(pod, "securityContext", "runAsNonRoot") != true || yget(c, "securityContext", "runAsNonRoot") != true {
		t.Errorf("Deployment does not insist on a non-root user")
	}
	// The directories' variables (each url_env and bind_password_env of
	// the example catalog) come from a Secret, never a literal: they
	// hold passwords.
	dirVars := directoryVars(t)
	env := map[string]string{}
	for _, e := range yget(c, "env").([]any) {
		name := yget(e, "name").(string)
		if dirVars[name] {
			delete(dirVars, name)
			if yget(e, "value") != nil || yget(e, "valueFrom", "secretKeyRef", "name") == nil || yget(e, "valueFrom", "secretKeyRef", "key") == nil {
				t.Errorf("Deployment env %s = %v, want it from a Secret (valueFrom.secretKeyRef), never a literal", name, e)
			}
			continue
		}
		wantSetting(t, "Deployment", name)
		env[name], _ = yget(e, "value").(string)
	}
	for v := range dirVars {
		t.Errorf("Deployment env lacks %s, a directory variable of catalog.example.yaml (from a Secret)", v)
	}
	mount := yget(c, "volumeMounts", 0)
	if yget(mount, "subPath") != nil {
		t.Errorf("catalog mounted with subPath: such mounts never see ConfigMap updates")
	}
	mountPath, _ := yget(mount, "mountPath").(string)
	if filepath.Dir(env["MAILAUTOCONF_CATALOG"]) != mountPath || filepath.Base(env["MAILAUTOCONF_CATALOG"]) != filepath.Base(catalog) {
		t.Errorf("MAILAUTOCONF_CATALOG=%q is not %s in the mount %s", env["MAILAUTOCONF_CATALOG"], filepath.Base(catalog), mountPath)
	}
	if got := yget(pod, "volumes", 0, "configMap", "name"); got != catalogMap {
		t.Errorf("catalog volume from ConfigMap %v, want %s", got, catalogMap)
	}
	ports := map[string]string{}
	for _, p := range yget(c, "ports").([]any) {
		ports[yget(p, "name").(string)] = fmt.Sprint(yget(p, "containerPort"))
	}
	for name, setting := range map[string]string{"http": "MAILAUTOCONF_LISTEN", "metrics": "MAILAUTOCONF_METRICS_LISTEN"} {
		if _, port, _ := net.SplitHostPort(env[setting]); port == "" || port != ports[name] {
			t.Errorf("port %s is %s, but %s=%q", name, ports[name], setting, env[setting])
		}
	}
	if got := yget(d, "spec", "template", "metadata", "annotations", "prometheus.io/port"); got != ports["metrics"] {
		t.Errorf("prometheus.io/port annotation %v, but the metrics port is %s", got, ports["metrics"])
	}

	// The others point at it.
	depName := yget(d, "metadata", "name")
	if got := yget(byKind["HorizontalPodAutoscaler"].doc, "spec", "scaleTargetRef", "name"); got != depName {
		t.Errorf("HorizontalPodAutoscaler scales %v, want %v", got, depName)
	}
	labels := yget(d, "spec", "template", "metadata", "labels").(map[string]any)
	for _, kind := range []string{"Service", "PodDisruptionBudget"} {
		sel := yget(byKind[kind].doc, "spec", "selector")
		if kind == "PodDisruptionBudget" {
			sel = yget(sel, "matchLabels")
		}
		for k, v := range sel.(map[string]any) {
			if labels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not have", kind, k, v)
			}
		}
	}
	svcName := yget(byKind["Service"].doc, "metadata", "name")

	// The catalog passes mailautoconf check, and the Ingress carries
	// autoconfig.<d> and autodiscover.<d> of each of its domains, with
	// certificates from cert-manager.
	if _, errs, err := mailautoconf(t, "check", "--offline", catalog); err != nil {
		t.Fatalf("mailautoconf check %s: %v\n%s", catalog, err, errs)
	}
	cat, err := provision.Load(catalog)
	if err != nil {
		t.Fatal(err)
	}
	ing := byKind["Ingress"].doc
	if yget(ing, "metadata", "annotations", "cert-manager.io/cluster-issuer") == nil {
		t.Errorf("Ingress has no cert-manager issuer annotation")
	}
	var ruleHosts, tlsHosts []string
	for _, r := range yget(ing, "spec", "rules").([]any) {
		ruleHosts = append(ruleHosts, yget(r, "host").(string))
		if got := yget(r, "http", "paths", 0, "backend", "service", "name"); got != svcName {
			t.Errorf("Ingress rule %v goes to %v, want %v", yget(r, "host"), got, svcName)
		}
	}
	for _, tls := range yget(ing, "spec", "tls").([]any) {
		for _, h := range yget(tls, "hosts").([]any) {
			tlsHosts = append(tlsHosts, h.(string))
		}
	}
	for _, domain := range cat.Domains() {
		for _, h := range []string{"autoconfig." + domain, "autodiscover." + domain} {
			if !slices.Contains(ruleHosts, h) || !slices.Contains(tlsHosts, h) {
				t.Errorf("Ingress lacks %s (a rule and a TLS host)", h)
			}
		}
	}
}

// knownKeys asks the catalog loader which keys it knows at a place,
// through its own "unknown key" message, so that a key added to the
// loader shows here without a list kept by hand.
func knownKeys(t *testing.T, doc string) []string {
	t.Helper()
	_, err := provision.Parse(provision.Source{Name: "k.yaml", Data: []byte(doc)})
	m := regexp.MustCompile(`zzz: unknown key \(known: ([^)]*)\)`).FindStringSubmatch(fmt.Sprint(err))
	if m == nil {
		t.Fatalf("no list of known keys in: %v", err)
	}
	return strings.Split(m[1], ", ")
}

// TestDeployExampleCatalog: catalog.example.yaml passes check and shows
// every key the loader knows.
func TestDeployExampleCatalog(t *testing.T) {
	const path = "catalog.example.yaml"
	// --offline: its directories' variables are not set here. Without
	// it, check connects, and fails naming each unset variable.
	if _, errs, err := mailautoconf(t, "check", "--offline", path); err != nil {
		t.Fatalf("mailautoconf check --offline %s: %v\n%s", path, err, errs)
	}
	if out, _, err := mailautoconf(t, "check", path); err == nil || !strings.Contains(out, "HOSTING_DB_URL") {
		t.Errorf("mailautoconf check %s with no directory variables set: err %v, stdout\n%s\nwant a failure naming HOSTING_DB_URL", path, err, out)
	}
	if _, err := provision.Load(path); err != nil {
		t.Fatal(err)
	}
	base := `providers:
  - id: a.example
    domains: [a.example]
    incoming:
      - {protocol: pop3, host: pop.a.example, port: 995, security: tls, pop3: {leave_on_server: true}}
    outgoing:
      - {protocol: smtp, host: smtp.a.example, port: 465, security: tls}
`
	places := map[string]string{
		"provider": base + "    zzz: 1\n",
		"server":   strings.Replace(base, "security: tls,", "security: tls, zzz: 1,", 1),
		"pop3":     strings.Replace(base, "{leave_on_server: true}", "{zzz: 1}", 1),
		"oauth2":   base + "    oauth2: {zzz: 1}\n",
	}
	var root yaml.Node
	if err := yaml.Unmarshal(mustRead(t, path), &root); err != nil {
		t.Fatal(err)
	}
	used := map[string]map[string]bool{}
	var walk func(n *yaml.Node, place string)
	walk = func(n *yaml.Node, place string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, place)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key, val := n.Content[i].Value, n.Content[i+1]
				if used[place] == nil {
					used[place] = map[string]bool{}
				}
				used[place][key] = true
				switch {
				case place == "top" && key == "providers":
					walk(val, "provider")
				case place == "provider" && (key == "incoming" || key == "outgoing"):
					walk(val, "server")
				case place == "provider" && key == "oauth2":
					walk(val, "oauth2")
				case place == "server" && key == "pop3":
					walk(val, "pop3")
				}
			}
		}
	}
	walk(&root, "top")
	for place, doc := range places {
		for _, key := range knownKeys(t, doc) {
			if !used[place][key] {
				t.Errorf("%s does not show the %s key %q", path, place, key)
			}
		}
	}
}

// directoryVars are the variables the example catalog's directories name
// (url_env, bind_password_env): the manifests take them from a Secret.
func directoryVars(t *testing.T) map[string]bool {
	t.Helper()
	example, err := provision.Load("catalog.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, d := range example.Directories() {
		for _, v := range []string{d.URLEnv, d.BindPasswordEnv} {
			if v != "" {
				vars[v] = true
			}
		}
	}
	return vars
}
