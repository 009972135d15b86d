package provision

import _ "embed"

//go:embed demo.yaml
var demoYAML []byte

// DemoName is the name the embedded demo catalog goes by in messages.
const DemoName = "demo catalog (embedded)"

// Demo returns the embedded demo catalog, the one served when no catalog
// is configured.
func Demo() *Catalog {
	c, err := Parse(Source{Name: DemoName, Data: demoYAML})
	if err != nil {
		panic("embedded demo catalog is invalid: " + err.Error())
	}
	return c
}

// LoadOrDemo loads the catalog at path (Load), or returns the embedded
// demo catalog when path is empty: what serve and the commands that take
// a catalog serve when none is configured.
func LoadOrDemo(path string) (*Catalog, error) {
	if path == "" {
		return Demo(), nil
	}
	return Load(path)
}
