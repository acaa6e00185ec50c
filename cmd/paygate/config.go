package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/paygate/paygate/gateway/config"

	// The time zone database, embedded: config.timezone must load on a
	// host without one (a scratch container), or daily limits would
	// fail at startup.
	_ "time/tzdata"
)

func configCommand() *command {
	return &command{
		name:    "config",
		summary: "work with the gateway's config file",
		subs:    []*command{configCheckCommand()},
	}
}

func configCheckCommand() *command {
	return &command{
		name:    "check",
		summary: "validate a config file and print it with secrets redacted",
		help: "Loads the config file as `paygate serve` would: the YAML file over the\n" +
			"defaults, then the PAYGATE_ environment variables of its keys\n" +
			"(PAYGATE_DATABASE, PAYGATE_SMSC__0__PASSWORD, ...; SPEC.md §1). It checks\n" +
			"every key and, if all is well, prints the result on stdout as YAML with\n" +
			"every default filled in, relative paths made absolute and passwords shown\n" +
			"as [redacted], then exits 0. Otherwise it prints each problem, with its\n" +
			"key, on stderr and exits 1. The files the config names are not read.",
		setup: func(fs *flag.FlagSet) action {
			var path string
			fs.StringVar(&path, "config", "", "the config `file` to check (required)")
			return func(_ context.Context, env *cmdEnv, args []string) error {
				cfg, err := loadConfigArg(env, path, args)
				if err != nil {
					return err
				}
				out, err := config.Redacted(cfg)
				if err != nil {
					return err
				}
				_, err = env.stdout.Write(out)
				return err
			}
		},
	}
}

// loadConfigArg loads and validates the --config file of a command that
// takes no arguments, reporting every problem of the file with its key.
func loadConfigArg(env *cmdEnv, path string, args []string) (config.Config, error) {
	if len(args) > 0 {
		return config.Config{}, usageErrorf("unexpected argument %q", args[0])
	}
	if path == "" {
		return config.Config{}, usageErrorf("--config is required")
	}
	cfg, err := config.Load(path, env.getenv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return config.Config{}, reportProblems(env.stderr, path, err)
	}
	return cfg, nil
}

// reportProblems prints each problem of err on its own line of w and
// returns an error that counts them. A single error (a file that cannot
// be read) is returned as it is, for run to print.
func reportProblems(w io.Writer, path string, err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var ke *config.KeyError
	if len(list) == 0 && !errors.As(err, &ke) {
		return err
	}
	if len(list) == 0 {
		list = []error{err}
	}
	for _, e := range list {
		fmt.Fprintln(w, e)
	}
	if len(list) == 1 {
		return fmt.Errorf("%s: 1 problem", path)
	}
	return fmt.Errorf("%s: %d problems", path, len(list))
}
