package archtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// module is the main module's path. The rules are written against it.
const module = "github.com/paygate/paygate"

// pkg is the part of `go list -json` output the tests read.
type pkg struct {
	ImportPath   string
	Dir          string
	Name         string
	Standard     bool
	DepOnly      bool
	Module       *struct{ Path string }
	GoFiles      []string
	CgoFiles     []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// inModule reports whether p is one of this module's own packages.
func (p *pkg) inModule() bool { return p.Module != nil && p.Module.Path == module && !p.DepOnly }

// graph is every package of the module and everything they import,
// by import path.
type graph map[string]*pkg

// modulePackages returns the module's own packages in `go list` order.
func (g graph) modulePackages(order []string) []*pkg {
	var out []*pkg
	for _, path := range order {
		if p := g[path]; p.inModule() {
			out = append(out, p)
		}
	}
	return out
}

var loadGraph = sync.OnceValues(func() (*listing, error) {
	goTool, err := exec.LookPath("go") // go test puts $GOROOT/bin first in PATH
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "list", "-deps", "-json", module+"/...")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, errors.New("go list -deps -json " + module + "/...: " + err.Error() + "\n" + stderr.String())
	}
	l := &listing{g: graph{}}
	dec := json.NewDecoder(&stdout)
	for {
		p := new(pkg)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		l.g[p.ImportPath] = p
		l.order = append(l.order, p.ImportPath)
	}
	return l, nil
})

type listing struct {
	g     graph
	order []string
}

// list runs `go list -deps -json` over the module once per test binary.
func list(t *testing.T) *listing {
	t.Helper()
	l, err := loadGraph()
	if err != nil {
		t.Fatal(err)
	}
	if len(l.g.modulePackages(l.order)) == 0 {
		t.Fatalf("go list found no package of module %s: has the module been renamed?", module)
	}
	return l
}
