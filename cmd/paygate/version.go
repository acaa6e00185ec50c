package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
)

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print the version and build information",
		help: "Prints the module version, the Go release it was built with, the\n" +
			"source revision when the build recorded one, and with --deps the\n" +
			"version of every dependency. Include it in bug reports.",
		setup: func(fs *flag.FlagSet) action {
			deps := fs.Bool("deps", false, "also list the dependency modules and their versions")
			return func(_ context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				bi, ok := debug.ReadBuildInfo()
				if !ok {
					fmt.Fprintln(env.stdout, "paygate: no build information in this binary")
					return nil
				}
				version := bi.Main.Version
				if version == "" {
					version = "(devel)"
				}
				w := env.stdout
				fmt.Fprintf(w, "paygate %s\n", version)
				fmt.Fprintf(w, "module\t%s\n", bi.Main.Path)
				fmt.Fprintf(w, "go\t%s\n", bi.GoVersion)
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH", "CGO_ENABLED", "-race":
						fmt.Fprintf(w, "%s\t%s\n", s.Key, s.Value)
					}
				}
				if *deps {
					for _, d := range bi.Deps {
						v := d.Version
						if d.Replace != nil {
							v += " => " + d.Replace.Path + " " + d.Replace.Version
						}
						fmt.Fprintf(w, "dep\t%s\t%s\n", d.Path, v)
					}
				}
				return nil
			}
		},
	}
}
