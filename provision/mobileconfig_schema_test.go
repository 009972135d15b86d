package provision

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"howett.net/plist"

	"mailautoconf/internal/i18n"
	"mailautoconf/internal/testutil"
)

// appleSchema is what we read of Apple's device-management YAML
// (apple/device-management, mdm/profiles; the format is its docs/schema.md):
// per payload type, its keys with type, presence, allowed values, format
// and sub-keys, and the operating systems that support each.
type appleSchema struct {
	Title   string `yaml:"title"`
	Payload struct {
		PayloadType string                `yaml:"payloadtype"`
		SupportedOS map[string]appleOSRow `yaml:"supportedOS"`
	} `yaml:"payload"`
	PayloadKeys []appleKey `yaml:"payloadkeys"`
}

type appleKey struct {
	Key         string                `yaml:"key"`
	Type        string                `yaml:"type"`
	Presence    string                `yaml:"presence"`
	RangeList   []any                 `yaml:"rangelist"`
	Format      string                `yaml:"format"`
	SubKeys     []appleKey            `yaml:"subkeys"`
	SupportedOS map[string]appleOSRow `yaml:"supportedOS"`
}

type appleOSRow struct {
	Introduced         string `yaml:"introduced"`
	Supervised         bool   `yaml:"supervised"`
	AllowManualInstall *bool  `yaml:"allowmanualinstall"`
}

// loadAppleSchemas reads every *.yaml of the shared reference folder, keyed
// by payload type ("TopLevel", "CommonPayloadKeys", "com.apple.mail.managed", ...).
func loadAppleSchemas(t *testing.T) map[string]*appleSchema {
	dir := testutil.SharedDir(t, "reference", "apple-device-management")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files in %s (%v)", dir, err)
	}
	out := map[string]*appleSchema{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := &appleSchema{}
		if err := yaml.Unmarshal(data, s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[s.Payload.PayloadType] = s
	}
	for _, need := range []string{"TopLevel", "CommonPayloadKeys", "com.apple.mail.managed", "com.apple.caldav.account", "com.apple.carddav.account"} {
		if out[need] == nil {
			t.Fatalf("schema for %s missing from %s", need, dir)
		}
	}
	return out
}

// profileOSes are the systems our profiles are for: installed by hand on
// iPhone, iPad and Mac.
var profileOSes = []string{"iOS", "macOS"}

// validateProfile checks a profile against Apple's schema and returns every
// problem: unknown keys, missing required keys, wrong types, values outside
// rangelist or format, payload types without a schema, and payloads or keys
// that iOS does not support, need supervision, or cannot be installed by
// hand. Keys Apple marks unsupported on macOS only are reported in notes
// (macOS ignores them).
func validateProfile(schemas map[string]*appleSchema, doc []byte) (problems, notes []string) {
	var top map[string]any
	format, err := plist.Unmarshal(doc, &top)
	if err != nil {
		return []string{"does not parse: " + err.Error()}, nil
	}
	v := &schemaValidator{}
	if format != plist.XMLFormat {
		v.errorf("plist format %d, want XML", format)
	}
	v.dict("profile", top, schemas["TopLevel"].PayloadKeys)
	content, _ := top["PayloadContent"].([]any)
	identifiers := map[string]bool{}
	for i, item := range content {
		path := fmt.Sprintf("PayloadContent[%d]", i)
		payload, ok := item.(map[string]any)
		if !ok {
			continue // reported by dict above
		}
		typ, _ := payload["PayloadType"].(string)
		s := schemas[typ]
		if s == nil {
			v.errorf("%s: no schema for PayloadType %q", path, typ)
			continue
		}
		path += " (" + typ + ")"
		for _, osName := range profileOSes {
			row, ok := s.Payload.SupportedOS[osName]
			switch {
			case !ok || row.Introduced == "" || row.Introduced == "n/a":
				v.errorf("%s: payload not supported on %s", path, osName)
			case row.Supervised:
				v.errorf("%s: payload needs a supervised %s device", path, osName)
			case row.AllowManualInstall != nil && !*row.AllowManualInstall:
				v.errorf("%s: payload cannot be installed by hand on %s", path, osName)
			}
		}
		keys := append(slices.Clone(schemas["CommonPayloadKeys"].PayloadKeys), s.PayloadKeys...)
		v.dict(path, payload, keys)
		if id, _ := payload["PayloadIdentifier"].(string); identifiers[id] {
			v.errorf("%s: PayloadIdentifier %q is not unique within the profile", path, id)
		} else {
			identifiers[id] = true
		}
	}
	return v.problems, v.notes
}

type schemaValidator struct{ problems, notes []string }

func (v *schemaValidator) errorf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *schemaValidator) dict(path string, got map[string]any, keys []appleKey) {
	byName := map[string]appleKey{}
	var anyKey *appleKey
	for i, k := range keys {
		if k.Key == "ANY" {
			anyKey = &keys[i]
			continue
		}
		byName[k.Key] = k
	}
	names := make([]string, 0, len(got))
	for name := range got {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		k, ok := byName[name]
		if !ok {
			if anyKey == nil {
				v.errorf("%s: unknown key %s", path, name)
				continue
			}
			k = *anyKey
		}
		v.value(path+"."+name, got[name], k)
	}
	for _, k := range keys {
		if k.Key == "ANY" || k.Presence != "required" {
			continue
		}
		if _, ok := got[k.Key]; !ok {
			v.errorf("%s: required key %s missing", path, k.Key)
		}
	}
}

func (v *schemaValidator) value(path string, got any, k appleKey) {
	for _, osName := range profileOSes {
		row, ok := k.SupportedOS[osName]
		if !ok {
			continue // inherits the payload's support
		}
		switch {
		case row.Introduced == "n/a" && osName == "iOS":
			v.errorf("%s: not supported on iOS", path)
		case row.Introduced == "n/a":
			v.notes = append(v.notes, fmt.Sprintf("%s: ignored on %s", path, osName))
		case row.Supervised:
			v.errorf("%s: needs a supervised %s device", path, osName)
		}
	}
	if !schemaTypeMatches(k.Type, got) {
		v.errorf("%s: %T is not of schema type %s", path, got, k.Type)
		return
	}
	if len(k.RangeList) > 0 && !slices.ContainsFunc(k.RangeList, func(r any) bool { return schemaSameValue(r, got) }) {
		v.errorf("%s: %v is not one of %v", path, got, k.RangeList)
	}
	if k.Format != "" {
		if s, ok := got.(string); ok && !regexp.MustCompile(k.Format).MatchString(s) {
			v.errorf("%s: %q does not match format %s", path, s, k.Format)
		}
	}
	switch g := got.(type) {
	case map[string]any:
		if len(k.SubKeys) > 0 {
			v.dict(path, g, k.SubKeys)
		}
	case []any:
		if len(k.SubKeys) == 1 {
			for i, item := range g {
				v.value(fmt.Sprintf("%s[%d]", path, i), item, k.SubKeys[0])
			}
		}
	}
}

// schemaTypeMatches maps the schema's <type> names to what the plist decoder
// returns for each plist element.
func schemaTypeMatches(schemaType string, got any) bool {
	switch schemaType {
	case "<string>":
		_, ok := got.(string)
		return ok
	case "<integer>":
		switch got.(type) {
		case uint64, int64:
			return true
		}
	case "<boolean>":
		_, ok := got.(bool)
		return ok
	case "<real>":
		_, ok := got.(float64)
		return ok
	case "<date>":
		_, ok := got.(time.Time)
		return ok
	case "<data>":
		_, ok := got.([]byte)
		return ok
	case "<array>":
		_, ok := got.([]any)
		return ok
	case "<dictionary>":
		_, ok := got.(map[string]any)
		return ok
	case "<any>":
		return true
	}
	return false
}

func schemaSameValue(schema, got any) bool {
	return fmt.Sprint(schema) == fmt.Sprint(got)
}

// TestMobileconfigAppleSchema checks every profile of the golden cases, and
// both protocol choices of every test provider in every language,
// against Apple's schema.
func TestMobileconfigAppleSchema(t *testing.T) {
	schemas := loadAppleSchemas(t)
	check := func(name string, doc []byte) {
		problems, notes := validateProfile(schemas, doc)
		for _, p := range problems {
			t.Errorf("%s: %s", name, p)
		}
		for _, n := range notes {
			t.Logf("%s: %s", name, n)
		}
	}
	for _, tc := range profileCases {
		check(tc.golden, renderProfile(t, tc.addr, tc.opts))
	}
	for _, p := range append(Demo().Providers(), mobileconfigProviders(t).Providers()...) {
		for _, proto := range []Protocol{IMAP, POP3} {
			for _, l := range i18n.All() {
				a := Address{Local: "user", Domain: p.Domains[0]}
				doc, err := mobileconfigDoc(p, a, ProfileOptions{Protocol: proto, Language: l})
				if err != nil {
					t.Fatal(err)
				}
				check(a.String()+"/"+string(proto)+"/"+l.Code(), doc)
			}
		}
	}
}

// TestAppleSchemaValidator makes sure the validator itself finds each
// kind of problem: a validator that passes everything proves nothing.
func TestAppleSchemaValidator(t *testing.T) {
	schemas := loadAppleSchemas(t)
	good := string(renderProfile(t, "fred@example.com", ProfileOptions{}))
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown key", "<key>EmailAddress</key>", "<key>EmailAdress</key>", "unknown key EmailAdress"},
		{"missing required", "<key>IncomingMailServerHostName</key><string>imap.example.com</string>", "", "required key IncomingMailServerHostName missing"},
		{"wrong type", "<integer>993</integer>", "<string>993</string>", "is not of schema type <integer>"},
		{"real for integer", "<integer>443</integer>", "<real>443</real>", "is not of schema type <integer>"},
		{"value not allowed", "<string>EmailTypeIMAP</string>", "<string>EmailTypeIMAP4</string>", "is not one of"},
		{"bad top-level type", "<string>Configuration</string>", "<string>Profile</string>", "is not one of [Configuration]"},
		{"unknown payload", "<string>com.apple.caldav.account</string>", "<string>com.apple.caldav.acount</string>", "no schema for PayloadType"},
		{"payload version", "<integer>1</integer></dict>", "<integer>2</integer></dict>", "is not one of [1]"},
	}
	for _, tc := range tests {
		if strings.Count(good, tc.old) < 1 {
			t.Fatalf("%s: %q not in the profile", tc.name, tc.old)
		}
		bad := strings.Replace(good, tc.old, tc.new, 1)
		problems, _ := validateProfile(schemas, []byte(bad))
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
			t.Errorf("%s: problems %q, want one containing %q", tc.name, problems, tc.want)
		}
	}
	if problems, _ := validateProfile(schemas, []byte(good)); len(problems) > 0 {
		t.Errorf("good profile: %q", problems)
	}

	// The same profile as a binary plist: Apple reads it, but we serve XML.
	var top map[string]any
	if _, err := plist.Unmarshal([]byte(good), &top); err != nil {
		t.Fatal(err)
	}
	bin, err := plist.Marshal(top, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	if problems, _ := validateProfile(schemas, bin); !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "want XML") }) {
		t.Errorf("binary plist: problems %q, want the format named", problems)
	}
}
