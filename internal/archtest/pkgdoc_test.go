package archtest

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs checks that every package of the module has exactly
// one package comment (STYLE.md, "Docs"), in a non-test file, and that a
// library's starts "Package <name> ". Test-only directories have nothing
// to document.
func TestPackageDocs(t *testing.T) {
	l := list(t)
	for _, p := range l.g.modulePackages(l.order) {
		files := append(append([]string(nil), p.GoFiles...), p.CgoFiles...)
		if len(files) == 0 {
			continue
		}
		fset := token.NewFileSet()
		var docs []string // files with a package comment
		var text string
		for _, name := range files {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Errorf("%s: %v", p.ImportPath, err)
				continue
			}
			if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
				docs = append(docs, name)
				text = f.Doc.Text()
			}
		}
		switch {
		case len(docs) == 0:
			t.Errorf("%s has no package comment: add one (in doc.go, say) saying what the package owns", p.ImportPath)
		case len(docs) > 1:
			t.Errorf("%s has a package comment in each of %s: keep one", p.ImportPath, strings.Join(docs, ", "))
		case p.Name != "main" && !strings.HasPrefix(text, "Package "+p.Name+" "):
			t.Errorf("%s: package comment in %s should start %q", p.ImportPath, docs[0], "Package "+p.Name+" ")
		}
	}
}
