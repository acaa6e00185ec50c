package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
)

func merchantsCommand() *command {
	return &command{
		name:    "merchants",
		summary: "manage the merchants phones pay with PAY",
		subs: []*command{
			merchantsAddCommand(),
			merchantsListCommand(),
			merchantsSetCommand("disable", true),
			merchantsSetCommand("enable", false),
		},
	}
}

// merchantsWhere is said by every merchants command's help: which
// database it works on.
const merchantsWhere = "With --config it works on the database of that config file (checked as\n" +
	"`paygate serve` would); without it, on the sandbox of `paygate serve`\n" +
	"without --config, kept in --dir (default the current directory), with\n" +
	"the PAYGATE_ variables of the config keys applied as the sandbox does.\n" +
	"A running gateway sees the change at its next PAY. The database must\n" +
	"exist and be migrated (`paygate migrate`, or start `paygate serve`)."

// storeFlags choose the database of a merchants command: a config
// file's, or a sandbox directory's.
type storeFlags struct {
	config, dir string
	fs          *flag.FlagSet
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.config, "config", "", "the config `file` of the gateway whose merchants to manage; without one, the sandbox's")
	fs.StringVar(&f.dir, "dir", ".", "sandbox only: the `directory` of its paygate.db and data.key")
}

// open opens the merchants of cfg, which load returned.
func (f *storeFlags) open(ctx context.Context, env *cmdEnv, cfg config.Config) (*gateway.Merchants, error) {
	m, err := gateway.OpenMerchants(ctx, cfg, env.log)
	if err != nil && f.config == "" && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no sandbox in %s (%v): start one there with `paygate serve --dir %s`, or name a gateway's config with --config",
			f.dir, err, f.dir)
	}
	return m, err
}

// loadOpen is load, then open.
func (f *storeFlags) loadOpen(ctx context.Context, env *cmdEnv) (*gateway.Merchants, error) {
	cfg, err := f.load(env)
	if err != nil {
		return nil, err
	}
	return f.open(ctx, env, cfg)
}

// load returns the config of --config, or of the sandbox in --dir.
func (f *storeFlags) load(env *cmdEnv) (config.Config, error) {
	if f.config != "" {
		dir := false
		f.fs.Visit(func(fl *flag.Flag) { dir = dir || fl.Name == "dir" })
		if dir {
			return config.Config{}, usageErrorf("--dir: only for the sandbox; with --config, the database is the config's")
		}
		return loadConfigArg(env, f.config, nil)
	}
	const what = "the sandbox config (defaults and PAYGATE_ variables)"
	cfg, err := config.Load("", env.getenv)
	if err != nil {
		return config.Config{}, reportProblems(env.stderr, what, err)
	}
	if err := cfg.ValidateSandbox(); err != nil {
		return config.Config{}, reportProblems(env.stderr, what, err)
	}
	return gateway.SandboxConfig(cfg, f.dir), nil
}

func merchantsAddCommand() *command {
	return &command{
		name:    "add",
		summary: "add a merchant",
		help: "Adds the merchant --code (2 to 16 letters or digits, upper-cased: what\n" +
			"PAY names) called --name, paid into account --account at bank --bank\n" +
			"(default the config's bank.code). --phone (local, read with the\n" +
			"config's country, or international) gets an SMS receipt per payment;\n" +
			"--webhook (https://, or http:// to 127.0.0.1, ::1 or localhost) is told\n" +
			"of each payment. Both may be left out. A code that exists is refused:\n" +
			"disable it and add another. The account number is stored encrypted and\n" +
			"printed masked.\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			var sf storeFlags
			var in gateway.MerchantInput
			sf.register(fs)
			fs.StringVar(&in.Code, "code", "", "the merchant's `code`, as payers type it after PAY (required)")
			fs.StringVar(&in.Name, "name", "", "the merchant's `name`, as payers see it (required)")
			fs.StringVar(&in.Bank, "bank", "", "the `bank` code of the merchant's account (default the config's bank.code)")
			fs.StringVar(&in.Account, "account", "", "the merchant's account `number` (required)")
			fs.StringVar(&in.Phone, "phone", "", "the `phone` that gets the merchant's receipts")
			fs.StringVar(&in.Webhook, "webhook", "", "the `URL` told of payments")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				var missing []string
				for _, r := range []struct{ flag, value string }{{"--code", in.Code}, {"--name", in.Name}, {"--account", in.Account}} {
					if strings.TrimSpace(r.value) == "" {
						missing = append(missing, r.flag)
					}
				}
				if len(missing) > 0 {
					return usageErrorf("%s required", joinAnd(missing))
				}
				cfg, err := sf.load(env)
				if err != nil {
					return err
				}
				m, err := gateway.ParseMerchant(cfg, in)
				if err != nil {
					return flagProblems(env.stderr, err)
				}
				ms, err := sf.open(ctx, env, cfg)
				if err != nil {
					return err
				}
				defer ms.Close()
				if err := ms.Add(ctx, m); err != nil {
					if errors.Is(err, flows.ErrDuplicate) {
						return fmt.Errorf("merchant %s exists already (see `paygate merchants list`)", m.Code)
					}
					return err
				}
				fmt.Fprintf(env.stdout, "added merchant %s (%s), paid into %s\n", m.Code, m.Name, m.Account.Label())
				return nil
			}
		},
	}
}

func merchantsListCommand() *command {
	return &command{
		name:    "list",
		summary: "list the merchants",
		help: "Prints every merchant, disabled ones too, by code: its name, its\n" +
			"account (bank and masked number), the phone that gets its receipts\n" +
			"(in full: it is the merchant's business line, which the operator\n" +
			"checks), its webhook (without its query, which may carry a token),\n" +
			"and whether PAY to it is enabled.\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			var sf storeFlags
			sf.register(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				ms, err := sf.loadOpen(ctx, env)
				if err != nil {
					return err
				}
				defer ms.Close()
				list, err := ms.List(ctx)
				if err != nil {
					return err
				}
				printMerchants(env.stdout, list)
				return nil
			}
		},
	}
}

// printMerchants prints list as a table, or says there is none.
func printMerchants(w io.Writer, list []flows.Merchant) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no merchants: add one with `paygate merchants add`")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tNAME\tACCOUNT\tPHONE\tWEBHOOK\tSTATUS")
	for _, m := range list {
		status := "enabled"
		if m.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Code, m.Name, m.Account.Label(), orDash(string(m.Phone)), orDash(webhookShown(m.Webhook)), status)
	}
	tw.Flush()
}

// webhookShown is a webhook URL without its query and fragment, which may
// carry a token.
func webhookShown(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[invalid]"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		u.RawQuery, u.Fragment, u.ForceQuery = "", "", false
		return u.String() + "?…"
	}
	return u.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// merchantsSetCommand is `merchants disable` (disabled true) or
// `merchants enable`.
func merchantsSetCommand(name string, disabled bool) *command {
	summary, help, done := "enable a merchant again", "Lets phones pay merchant --code with PAY again.", "enabled"
	if disabled {
		summary = "disable a merchant: PAY to it is refused"
		help = "Disables merchant --code: PAY to it is refused with a reply saying so,\n" +
			"and the merchant is kept (`paygate merchants enable` undoes it)."
		done = "disabled: PAY to it is refused"
	}
	return &command{
		name:    name,
		summary: summary,
		help:    help + "\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			var sf storeFlags
			var code string
			sf.register(fs)
			fs.StringVar(&code, "code", "", "the merchant's `code` (required)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				code = strings.ToUpper(strings.TrimSpace(code))
				if code == "" {
					return usageErrorf("--code is required")
				}
				ms, err := sf.loadOpen(ctx, env)
				if err != nil {
					return err
				}
				defer ms.Close()
				if err := ms.SetDisabled(ctx, code, disabled); err != nil {
					if errors.Is(err, flows.ErrNotFound) {
						return fmt.Errorf("no merchant %s (see `paygate merchants list`)", code)
					}
					return err
				}
				fmt.Fprintf(env.stdout, "merchant %s %s\n", code, done)
				return nil
			}
		},
	}
}

// flagProblems prints each field ParseMerchant refused as the flag that
// set it ("--account: is not ...") on w and returns a usage error that
// counts them; an error of another kind is returned as it is.
func flagProblems(w io.Writer, err error) error {
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var lines []string
	for _, e := range list {
		var fe *gateway.FieldError
		if !errors.As(e, &fe) {
			return err
		}
		lines = append(lines, "--"+fe.Field+": "+fe.Reason)
	}
	if len(lines) == 1 {
		return usageErrorf("%s", lines[0])
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return usageErrorf("%d flags are wrong", len(lines))
}

// joinAnd joins names as the subject of a sentence: "a is", "a and b
// are", "a, b and c are".
func joinAnd(names []string) string {
	switch len(names) {
	case 1:
		return names[0] + " is"
	default:
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " are"
	}
}
