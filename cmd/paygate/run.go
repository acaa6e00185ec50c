package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Exit codes of run.
const (
	exitOK    = 0 // done, or help asked for
	exitError = 1 // the command ran and failed
	exitUsage = 2 // bad command line or environment; nothing was run
)

// envPrefix starts every environment variable the command line reads:
// PAYGATE_LOG_LEVEL for a global flag, PAYGATE_SIM_SMSC_PASSWORD for
// --password of `sim smsc`. The gateway config's own variables
// (PAYGATE_SMSC__0__PASSWORD, SPEC.md §1) use "__" between levels, so
// the two never collide.
const envPrefix = "PAYGATE_"

// command is one node of the command tree: a group that only holds
// subcommands, or a leaf whose setup declares its flags.
type command struct {
	name    string
	args    string // synopsis of the positional arguments, if any
	summary string // one line, for listings
	help    string // paragraphs shown by `paygate help <command>`
	subs    []*command
	// setup declares the leaf's flags on fs and returns what to run once
	// they are parsed. It is nil for a group.
	setup func(fs *flag.FlagSet) action
}

// action runs a leaf command with its positional arguments. An error
// wrapping usageError exits with exitUsage, any other with exitError.
type action func(ctx context.Context, env *cmdEnv, args []string) error

// cmdEnv is what run hands to an action: the process's outputs, its
// environment and the root logger. Actions never reach for os.Stdout or
// os.Getenv.
type cmdEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	log            *slog.Logger
}

// usageError is a mistake on the command line or in the environment.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// commands returns the command tree.
func commands() *command {
	root := &command{name: "paygate"}
	root.subs = []*command{
		serveCommand(),
		demoCommand(),
		phoneCommand(),
		{
			name:    "sim",
			summary: "run a simulator of a peer the gateway talks to",
			subs: []*command{
				simSMSCCommand(),
				simBankCommand(),
			},
		},
		configCommand(),
		migrateCommand(),
		merchantsCommand(),
		loadCommand(),
		benchCommand(),
		versionCommand(),
		helpCommand(root),
	}
	return root
}

// run is the whole command line: main only adds the process around it.
// It parses args, builds the root logger, runs one command and returns
// the exit code. Usage and errors go to stderr; a command's output to
// stdout. getenv supplies the environment; ctx is cancelled to stop a
// long-running command, which then returns exitOK after a clean shutdown.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	root := commands()
	var lo logOptions
	lo.setDefaults()

	global := flag.NewFlagSet("paygate", flag.ContinueOnError)
	global.SetOutput(stderr)
	lo.register(global)
	global.Usage = func() { printGroupUsage(stderr, nil, root) }
	if err := applyEnv(global, envPrefix, getenv); err != nil {
		return usageFailed(stderr, nil, err)
	}
	if err := global.Parse(args); err != nil {
		return parseFailed(err)
	}

	// Walk down the groups to a leaf.
	cmd, path, rest := root, []string(nil), global.Args()
	for cmd.setup == nil {
		if len(rest) == 0 {
			printGroupUsage(stderr, path, cmd)
			return usageFailed(stderr, path, usageErrorf("missing command"))
		}
		if isHelpFlag(rest[0]) {
			printGroupUsage(stderr, path, cmd)
			return exitOK
		}
		sub := cmd.find(rest[0])
		if sub == nil {
			printGroupUsage(stderr, path, cmd)
			return usageFailed(stderr, path, usageErrorf("unknown command %q", strings.Join(append(path, rest[0]), " ")))
		}
		cmd, path, rest = sub, append(path, sub.name), rest[1:]
	}

	fs, act, err := leafFlags(path, cmd, &lo, getenv, stderr)
	if err != nil {
		return usageFailed(stderr, path, err)
	}
	if err := fs.Parse(rest); err != nil {
		return parseFailed(err)
	}

	env := &cmdEnv{stdout: stdout, stderr: stderr, getenv: getenv, log: lo.logger(stderr)}
	if err := act(ctx, env, fs.Args()); err != nil {
		if ue := (*usageError)(nil); errors.As(err, &ue) {
			return usageFailed(stderr, path, err)
		}
		fmt.Fprintf(stderr, "%s: %v\n", commandName(path), err)
		return exitError
	}
	return exitOK
}

// leafFlags builds the flag set of leaf command cmd at path: its own
// flags, filled from the environment when set there, then the logging
// flags, which may be given after any command as well as before it.
// Flags on the command line, parsed later, win over the environment.
func leafFlags(path []string, cmd *command, lo *logOptions, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, action, error) {
	fs := flag.NewFlagSet(commandName(path), flag.ContinueOnError)
	fs.SetOutput(stderr)
	act := cmd.setup(fs)
	own := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	if err := applyEnv(fs, commandEnvPrefix(path), getenv); err != nil {
		return nil, nil, err
	}
	lo.register(fs)
	fs.Usage = func() { printLeafUsage(fs.Output(), path, cmd, fs, own) }
	return fs, act, nil
}

func (c *command) find(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// lookup follows names down from c; it returns nil if one is missing.
func (c *command) lookup(names []string) *command {
	for _, n := range names {
		if c = c.find(n); c == nil {
			return nil
		}
	}
	return c
}

// leaves calls fn for every leaf under c, depth first, in table order.
func (c *command) leaves(path []string, fn func(path []string, leaf *command)) {
	for _, s := range c.subs {
		p := append(append([]string(nil), path...), s.name)
		if s.setup != nil {
			fn(p, s)
			continue
		}
		s.leaves(p, fn)
	}
}

func commandName(path []string) string {
	return strings.Join(append([]string{"paygate"}, path...), " ")
}

// commandEnvPrefix is the prefix of a leaf's flag variables:
// PAYGATE_SIM_SMSC_ for `sim smsc`.
func commandEnvPrefix(path []string) string {
	return envPrefix + strings.ToUpper(strings.Join(path, "_")) + "_"
}

// envName is the variable that sets flag name: prefix + NAME with "-"
// as "_".
func envName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets each flag of fs whose variable is set and not empty.
// The value is never echoed in an error: it may be a password.
func applyEnv(fs *flag.FlagSet, prefix string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(prefix, f.Name)
		v := getenv(name)
		if v == "" || err != nil {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = usageErrorf("invalid value in %s for --%s", name, f.Name)
		}
	})
	return err
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// parseFailed maps a flag.Parse error to an exit code. The flag package
// has already printed the error and the usage.
func parseFailed(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

func usageFailed(stderr io.Writer, path []string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for usage.\n", commandName(path), err, commandName(path))
	return exitUsage
}

// printGroupUsage lists the commands under group g at path.
func printGroupUsage(w io.Writer, path []string, g *command) {
	name := commandName(path)
	if len(path) == 0 {
		fmt.Fprintf(w, "Usage: %s [global flags] <command> [flags] [arguments]\n\n", name)
		fmt.Fprint(w, "paygate is an SMS and USSD payment gateway: an SMPP ESME that lets\n"+
			"feature-phone users pay by text command or USSD menu, confirmed with a\n"+
			"PIN and a one-time code, and forwards the transfers to banks.\n\n")
	} else {
		fmt.Fprintf(w, "Usage: %s <command> [flags] [arguments]\n\n", name)
		if g.summary != "" {
			fmt.Fprintf(w, "%s: %s.\n\n", name, g.summary)
		}
	}
	fmt.Fprint(w, "Commands:\n")
	var rows [][2]string
	g.leaves(path, func(p []string, leaf *command) {
		rows = append(rows, [2]string{strings.Join(p, " ") + argsSuffix(leaf), leaf.summary})
	})
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], r[1])
	}
	if len(path) == 0 {
		fmt.Fprint(w, "\nGlobal flags (also accepted after any command):\n")
		var lo logOptions
		lo.setDefaults()
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		lo.register(fs)
		printFlags(w, fs, envPrefix, nil)
	}
	fmt.Fprintf(w, "\nRun '%s help <command>' or '%s <command> -h' for a command's flags.\n", "paygate", "paygate")
}

func argsSuffix(c *command) string {
	if c.args == "" {
		return ""
	}
	return " " + c.args
}

// printLeafUsage describes leaf command c at path. own names c's own
// flags, which can also come from the environment.
func printLeafUsage(w io.Writer, path []string, c *command, fs *flag.FlagSet, own map[string]bool) {
	fmt.Fprintf(w, "Usage: %s [flags]%s\n\n", commandName(path), argsSuffix(c))
	fmt.Fprintf(w, "%s\n", c.help)
	if len(own) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, fs, commandEnvPrefix(path), func(name string) bool { return own[name] })
	}
	fmt.Fprint(w, "\nLogging flags:\n")
	printFlags(w, fs, envPrefix, func(name string) bool { return !own[name] })
	fmt.Fprint(w, "\nA flag on the command line wins over its environment variable.\n")
}

// printFlags prints the flags of fs that keep accepts (all if keep is
// nil) with two dashes, as SPEC.md writes them (the flag package accepts
// one or two), and the environment variable of each under prefix.
func printFlags(w io.Writer, fs *flag.FlagSet, prefix string, keep func(string) bool) {
	fs.VisitAll(func(f *flag.Flag) {
		if keep != nil && !keep(f.Name) {
			return
		}
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintf(w, "%s  [$%s]\n    \t%s", line, envName(prefix, f.Name), usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprint(w, "\n")
	})
}
