package provision

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"mailautoconf/internal/yamlcheck"
)

// color reads an optional CSS hex colour, "#rgb" or "#rrggbb" in any
// letter case, and returns it as lower-case "#rrggbb". Nothing else is
// accepted: the value ends up in the setup page's style sheet, where a
// colour name or function would be one more thing to escape.
func (d *decoder) color(m map[string]*yaml.Node, path, key string) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := yamlcheck.JoinField(path, key)
	v, ok := d.Str(n, f)
	if !ok {
		return ""
	}
	c, ok := ParseColor(v)
	if !ok {
		d.Errorf(n, f, "%q is not a colour: write \"#rrggbb\" or \"#rgb\" in hex, for example \"#0a5fff\"", v)
		return ""
	}
	return c
}

// ParseColor reads "#rgb" or "#rrggbb" (hex, any letter case) and returns
// the lower-case "#rrggbb" form.
func ParseColor(s string) (string, bool) {
	if !strings.HasPrefix(s, "#") {
		return "", false
	}
	h := strings.ToLower(s[1:])
	for i := 0; i < len(h); i++ {
		if !(h[i] >= '0' && h[i] <= '9' || h[i] >= 'a' && h[i] <= 'f') {
			return "", false
		}
	}
	switch len(h) {
	case 3:
		return "#" + string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]}), true
	case 6:
		return "#" + h, true
	}
	return "", false
}
