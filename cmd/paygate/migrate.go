package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/paygate/paygate/gateway"
)

func migrateCommand() *command {
	return &command{
		name:    "migrate",
		summary: "apply the database migrations of a config (serve does this too)",
		help: "Loads and checks the config file as `paygate serve` would, opens its\n" +
			"database with keys.data_key_file, applies the migrations it lacks and\n" +
			"prints their names on stdout, or that the database was up to date. Each\n" +
			"migration is applied in its own transaction: running it again, or\n" +
			"after a failure, applies only what is missing.",
		setup: func(fs *flag.FlagSet) action {
			var path string
			fs.StringVar(&path, "config", "", "the config `file` whose database to migrate (required)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				cfg, err := loadConfigArg(env, path, args)
				if err != nil {
					return err
				}
				applied, err := gateway.Migrate(ctx, cfg, env.log)
				for _, m := range applied {
					fmt.Fprintf(env.stdout, "applied %s\n", m)
				}
				if err != nil {
					return err
				}
				if len(applied) == 0 {
					fmt.Fprintf(env.stdout, "database %s is up to date: no migration to apply\n", cfg.Database)
					return nil
				}
				fmt.Fprintf(env.stdout, "database %s migrated: %d applied\n", cfg.Database, len(applied))
				return nil
			}
		},
	}
}
