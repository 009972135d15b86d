package yamlcheck

import "go.yaml.in/yaml/v3"

// Aliases may add at most aliasGrowth times the nodes a document holds,
// and at least aliasFloor: one anchored server list shared by every
// provider is fine, an anchor of thousands of domains aliased thousands
// of times (or aliases of aliases, "billion laughs") is refused before
// the decoder walks it. The walk then costs at most aliasGrowth+1 times a
// file of the same size without aliases.
const (
	aliasGrowth = 10
	aliasFloor  = 10_000
)

// AliasesBounded checks that the nodes doc stands for, each alias counted
// as the whole node it names, stay within the budget above and within
// maxNodes in all, and that no alias names a node that
// holds it (yaml.v3 builds such a cycle for "&a [*a]"). The anchored
// nodes' sizes are counted once each, so the check is linear in the
// document however the aliases nest.
func (d *Decoder) AliasesBounded(doc *yaml.Node, maxNodes int) bool {
	var nodes func(n *yaml.Node) int
	nodes = func(n *yaml.Node) int {
		c := 1
		for _, k := range n.Content {
			c += nodes(k)
		}
		return c
	}
	written := nodes(doc)
	budget := max(aliasFloor, aliasGrowth*written)
	// The decoder's own structures grow with the nodes it walks, the
	// aliased ones too: all of them together stay within maxNodes,
	// as the nodes written do.
	overall := budget > maxNodes-written
	if overall {
		budget = max(0, maxNodes-written)
	}

	// size[n] of an anchored node is the nodes it stands for, or -1
	// while its own children are counted. Sizes stop growing past
	// budget+1, so no sum overflows.
	size := make(map[*yaml.Node]int)
	added := 0
	ok := true
	var count func(n *yaml.Node) int
	count = func(n *yaml.Node) int {
		if !ok {
			return 0
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			t := n.Alias
			s, seen := size[t]
			if !seen {
				s = count(t)
			}
			if s < 0 {
				d.Errorf(n, "", "alias *%s names a node that holds it", Clip(n.Value, MaxQuoted))
				ok = false
				return 0
			}
			// The document's nodes are the ones written plus, for
			// every alias written, the size of its node less the
			// alias itself: counted as they come, so the error
			// names the alias that crossed the budget.
			added += s - 1
			if added > budget && overall {
				d.Errorf(n, "", "aliases add more than %d nodes to the %d written, which makes more than %d in all (at most %d a file, written and aliased): alias smaller parts, or split the catalog into files of a directory", budget, written, maxNodes, maxNodes)
				ok = false
				return 0
			}
			if added > budget {
				d.Errorf(n, "", "aliases add more than %d nodes to the %d written (at most %d times the nodes written, or %d): write the repeated part out, or alias smaller parts", budget, written, aliasGrowth, aliasFloor)
				ok = false
				return 0
			}
			return s
		}
		if n.Anchor != "" {
			size[n] = -1
		}
		c := 1
		for _, k := range n.Content {
			c = min(c+count(k), budget+1)
		}
		if n.Anchor != "" {
			size[n] = c
		}
		return c
	}
	count(doc)
	return ok
}
