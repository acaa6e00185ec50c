package main

import (
	"context"
	"flag"
	"strings"
)

func helpCommand(root *command) *command {
	return &command{
		name:    "help",
		args:    "[command]",
		summary: "show the commands, or one command's flags",
		help:    "Prints the list of commands, or the usage and flags of one command, on stdout.",
		setup: func(*flag.FlagSet) action {
			return func(_ context.Context, env *cmdEnv, args []string) error {
				c := root.lookup(args)
				switch {
				case c == nil:
					return usageErrorf("unknown command %q", strings.Join(args, " "))
				case c.setup == nil: // the root or a group
					printGroupUsage(env.stdout, args, c)
				default:
					var lo logOptions
					lo.setDefaults()
					noEnv := func(string) string { return "" }
					fs, _, err := leafFlags(args, c, &lo, noEnv, env.stdout)
					if err != nil {
						return err
					}
					fs.Usage()
				}
				return nil
			}
		},
	}
}
