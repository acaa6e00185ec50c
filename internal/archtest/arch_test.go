package archtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The rules below are ARCHITECTURE.md's "Packages and the direction of
// imports" as data. A rule about a package that does not exist yet has
// nothing to check and starts to hold the day the package appears.
//
// Patterns: "a/b/..." is a/b and every package under it; anything else
// is one import path.

// payments is every package that knows about payments.
var payments = []string{
	module + "/flows/...",
	module + "/store/...",
	module + "/bank/...",
	module + "/ussd/...",
	module + "/gateway/...",
	module + "/cmd/...",
}

// layerRules forbid imports, direct or through any chain of packages.
var layerRules = []layerRule{
	{
		pkgs:  module + "/smpp/...",
		deny:  payments,
		tests: true,
		why:   "smpp is an SMPP session layer and knows nothing about payments",
	},
	{
		pkgs: module + "/flows/...",
		deny: []string{
			module + "/smpp/...", module + "/store/...", module + "/bank/...",
			module + "/ussd/...", module + "/gateway/...", module + "/cmd/...",
			"database/sql/...", "net/...",
		},
		// net/url only parses; pquerna/otp needs it for otpauth:// key URIs.
		allow: []string{"net/url"},
		why: "flows is the payment core: deterministic steps over ports, no database, " +
			"no network, no transport (every arrow points into flows)",
	},
	{
		pkgs: module + "/ussd/...",
		deny: []string{module + "/smpp/...", module + "/store/...", module + "/bank/...", module + "/gateway/...", module + "/cmd/..."},
		why:  "ussd turns transport-neutral dialogue events into screens; the SMPP and HTTP adapters live in gateway",
	},
	{
		pkgs:  module + "/envelope/...",
		deny:  append([]string{module + "/smpp/..."}, payments...),
		tests: true,
		why:   "envelope is the secure channel's byte format, shared by the gateway and the phone side; it knows nothing of payments or transports",
	},
	{
		pkgs: module + "/store/...",
		deny: []string{module + "/smpp/...", module + "/bank/...", module + "/ussd/...", module + "/gateway/...", module + "/cmd/..."},
		why:  "store implements flows' ports and knows only flows",
	},
	{
		pkgs: module + "/bank/...",
		deny: []string{module + "/smpp/...", module + "/store/...", module + "/ussd/...", module + "/gateway/...", module + "/cmd/..."},
		why:  "bank connectors know only flows",
	},
}

// ownerRules restrict who may import a library at all (non-test and test
// imports, directly).
var ownerRules = []ownerRule{
	{
		imports:  "github.com/fiorix/go-smpp/...",
		onlyFrom: module + "/smpp/...",
		why:      "go-smpp is wrapped by smpp; everything else speaks smpp's types",
	},
}

// thirdPartyRules are ARCHITECTURE.md's "may import" column for the
// packages that name their libraries: a non-test import that is neither
// the standard library nor this module must match one of allow.
var thirdPartyRules = []thirdPartyRule{
	{
		pkgs: module + "/flows/...",
		allow: []string{
			"github.com/pquerna/otp/...", "golang.org/x/crypto/...", "golang.org/x/text/...",
			"github.com/nyaruka/phonenumbers/...",
		},
	},
	{pkgs: module + "/ussd/..."},     // flows and the standard library only
	{pkgs: module + "/envelope/..."}, // the standard library only
	{
		pkgs:  module + "/smpp/...",
		allow: []string{"github.com/fiorix/go-smpp/...", "golang.org/x/text/..."},
	},
}

type layerRule struct {
	pkgs  string   // the packages the rule is about
	deny  []string // what they must not reach
	allow []string // exceptions to deny; not looked through
	tests bool     // also the packages' test imports (and what those reach)
	why   string
}

type ownerRule struct {
	imports  string // a library
	onlyFrom string // the only packages that may import it
	why      string
}

type thirdPartyRule struct {
	pkgs  string
	allow []string
}

// match reports whether import path p matches pattern.
func match(pattern, p string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

func matchAny(patterns []string, p string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return match(pat, p) })
}

// reach looks for a path from the imports in roots to a package matching
// r.deny, walking g, never through a package matching r.allow. It
// returns the first such chain, or nil.
func (r layerRule) reach(g graph, roots []string) []string {
	parent := map[string]string{}
	seen := map[string]bool{}
	var queue []string
	for _, imp := range roots {
		if !seen[imp] {
			seen[imp] = true
			queue = append(queue, imp)
		}
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if matchAny(r.allow, cur) {
			continue
		}
		if matchAny(r.deny, cur) {
			chain := []string{cur}
			for p, ok := parent[cur]; ok; p, ok = parent[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		p := g[cur]
		if p == nil {
			continue // a test-only import go list -deps did not load
		}
		for _, imp := range p.Imports {
			if !seen[imp] {
				seen[imp] = true
				parent[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// describe names the end of chain and, if it is indirect, the way there.
func describe(chain []string) string {
	if len(chain) == 1 {
		return chain[0]
	}
	return chain[len(chain)-1] + " (via " + strings.Join(chain, " → ") + ")"
}

// check returns one line per broken rule, for the module's packages in
// order.
func check(g graph, order []string) []string {
	var bad []string
	for _, p := range g.modulePackages(order) {
		for _, r := range layerRules {
			if !match(r.pkgs, p.ImportPath) {
				continue
			}
			if chain := r.reach(g, p.Imports); chain != nil {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s", p.ImportPath, describe(chain), r.why))
			}
			if r.tests {
				if chain := r.reach(g, append(slices.Clone(p.TestImports), p.XTestImports...)); chain != nil {
					bad = append(bad, fmt.Sprintf("tests of %s import %s: %s", p.ImportPath, describe(chain), r.why))
				}
			}
		}
		for _, r := range ownerRules {
			if match(r.onlyFrom, p.ImportPath) {
				continue
			}
			for who, imps := range map[string][]string{
				p.ImportPath + " imports":                       p.Imports,
				"tests of " + p.ImportPath + " import":          p.TestImports,
				"external tests of " + p.ImportPath + " import": p.XTestImports,
			} {
				for _, imp := range imps {
					if match(r.imports, imp) {
						bad = append(bad, fmt.Sprintf("%s %s, which only %s may import: %s", who, imp, r.onlyFrom, r.why))
					}
				}
			}
		}
		for _, r := range thirdPartyRules {
			if !match(r.pkgs, p.ImportPath) {
				continue
			}
			for _, imp := range p.Imports {
				if dep := g[imp]; dep != nil && dep.Standard || match(module+"/...", imp) || matchAny(r.allow, imp) {
					continue
				}
				bad = append(bad, fmt.Sprintf("%s imports %s, which ARCHITECTURE.md does not list for %s",
					p.ImportPath, imp, r.pkgs))
			}
		}
	}
	slices.Sort(bad)
	return slices.Compact(bad)
}

// TestImportRules holds ARCHITECTURE.md's import rules on the module as
// it is.
func TestImportRules(t *testing.T) {
	l := list(t)
	for _, line := range check(l.g, l.order) {
		t.Error(line)
	}
	// Say which rules are waiting for their packages, so that a typo
	// in a pattern does not pass silently forever.
	for _, r := range layerRules {
		if !slices.ContainsFunc(l.g.modulePackages(l.order), func(p *pkg) bool { return match(r.pkgs, p.ImportPath) }) {
			t.Logf("no package matches %s yet", r.pkgs)
		}
	}
}

// TestCheck feeds check made-up graphs, one broken rule each, to show
// that each rule can fail.
func TestCheck(t *testing.T) {
	std := func(path string, imports ...string) *pkg {
		return &pkg{ImportPath: path, Standard: true, Imports: imports}
	}
	own := func(path string, imports ...string) *pkg {
		p := &pkg{ImportPath: module + "/" + path, Imports: imports}
		p.Module = &struct{ Path string }{module}
		return p
	}
	lib := func(path string, imports ...string) *pkg {
		return &pkg{ImportPath: path, Imports: imports, DepOnly: true, Module: &struct{ Path string }{path}}
	}
	withTests := func(p *pkg, test, xtest []string) *pkg {
		p.TestImports, p.XTestImports = test, xtest
		return p
	}
	m := func(s string) string { return module + "/" + s }
	tests := []struct {
		name string
		pkgs []*pkg
		want []string // substrings, one per expected line; none: clean
	}{
		{
			name: "clean layering",
			pkgs: []*pkg{
				std("fmt"), std("net"), std("net/netip"), std("net/url", "net/netip"), std("database/sql"),
				lib("github.com/pquerna/otp", "net/url"),
				own("flows", "fmt", "github.com/pquerna/otp"),
				own("ussd", m("flows")),
				own("store", m("flows"), "database/sql"),
				own("bank", m("flows"), "net"),
				own("smpp", "net"),
				withTests(own("smpp/smsc", m("smpp")), []string{"github.com/fiorix/go-smpp/smpp/pdu"}, nil),
				own("gateway", m("smpp"), m("store"), m("bank"), m("ussd")),
				own("cmd/paygate", m("gateway"), m("smpp/smsc")),
			},
		},
		{
			name: "smpp imports flows",
			pkgs: []*pkg{own("flows"), own("smpp", m("flows"))},
			want: []string{"smpp imports " + m("flows")},
		},
		{
			name: "smpp reaches store through another package",
			pkgs: []*pkg{own("store"), own("internal/x", m("store")), own("smpp/smsc", m("internal/x"))},
			want: []string{m("smpp/smsc") + " imports " + m("store") + " (via " + m("internal/x") + " → " + m("store")},
		},
		{
			name: "smpp test imports gateway",
			pkgs: []*pkg{own("gateway"), withTests(own("smpp"), nil, []string{m("gateway")})},
			want: []string{"tests of " + m("smpp") + " import " + m("gateway")},
		},
		{
			name: "flows imports net/http",
			pkgs: []*pkg{std("net"), std("net/http", "net"), own("flows", "net/http")},
			want: []string{m("flows") + " imports net/http"},
		},
		{
			name: "flows reaches net through a library",
			pkgs: []*pkg{std("net"), lib("github.com/pquerna/otp", "net"), own("flows", "github.com/pquerna/otp")},
			want: []string{m("flows") + " imports net (via github.com/pquerna/otp → net)"},
		},
		{
			name: "flows imports database/sql",
			pkgs: []*pkg{std("database/sql"), own("flows", "database/sql")},
			want: []string{m("flows") + " imports database/sql"},
		},
		{
			name: "flows imports smpp",
			pkgs: []*pkg{own("smpp"), own("flows", m("smpp"))},
			want: []string{m("flows") + " imports " + m("smpp")},
		},
		{
			name: "flows subpackage imports store",
			pkgs: []*pkg{own("store"), own("flows/grammar", m("store"))},
			want: []string{m("flows/grammar") + " imports " + m("store")},
		},
		{
			name: "flows imports bank",
			pkgs: []*pkg{own("bank"), own("flows", m("bank"))},
			want: []string{m("flows") + " imports " + m("bank")},
		},
		{
			name: "ussd imports smpp",
			pkgs: []*pkg{own("smpp"), own("ussd", m("smpp"))},
			want: []string{m("ussd") + " imports " + m("smpp")},
		},
		{
			name: "ussd imports store",
			pkgs: []*pkg{own("store"), own("ussd", m("store"))},
			want: []string{m("ussd") + " imports " + m("store")},
		},
		{
			name: "go-smpp outside smpp",
			pkgs: []*pkg{lib("github.com/fiorix/go-smpp/smpp/pdu"), own("gateway", "github.com/fiorix/go-smpp/smpp/pdu")},
			want: []string{m("gateway") + " imports github.com/fiorix/go-smpp/smpp/pdu"},
		},
		{
			name: "go-smpp in a test outside smpp",
			pkgs: []*pkg{withTests(own("gateway"), []string{"github.com/fiorix/go-smpp/smpp"}, nil)},
			want: []string{"tests of " + m("gateway") + " import github.com/fiorix/go-smpp/smpp"},
		},
		{
			name: "go-smpp in an external test outside smpp",
			pkgs: []*pkg{withTests(own("flows"), nil, []string{"github.com/fiorix/go-smpp/smpp/pdu"})},
			want: []string{"external tests of " + m("flows") + " import github.com/fiorix/go-smpp/smpp/pdu"},
		},
		{
			name: "flows imports an unlisted library",
			pkgs: []*pkg{lib("github.com/shopspring/decimal"), own("flows", "github.com/shopspring/decimal")},
			want: []string{m("flows") + " imports github.com/shopspring/decimal, which ARCHITECTURE.md does not list"},
		},
		{
			name: "ussd imports a library",
			pkgs: []*pkg{lib("golang.org/x/text/width"), own("ussd", "golang.org/x/text/width")},
			want: []string{m("ussd") + " imports golang.org/x/text/width"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := graph{}
			var order []string
			for _, p := range tt.pkgs {
				g[p.ImportPath] = p
				order = append(order, p.ImportPath)
			}
			got := check(g, order)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, want := range tt.want {
				if !strings.Contains(got[i], want) {
					t.Errorf("violation %d = %q, want it to contain %q", i, got[i], want)
				}
			}
		})
	}
}
