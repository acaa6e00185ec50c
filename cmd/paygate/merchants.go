package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paygate/paygate/gateway/config"
)

// `paygate merchants` is a client of a running gateway's admin API
// (SPEC.md §7): every command is one or two calls to /v1/admin/merchants,
// made as an operator with a token of admin.token_file, and so written
// to the gateway's audit log under that operator's name.

func merchantsCommand() *command {
	return &command{
		name:    "merchants",
		summary: "manage the merchants phones pay with PAY (through the admin API)",
		subs: []*command{
			merchantsAddCommand(),
			merchantsListCommand(),
			merchantsShowCommand(),
			merchantsSetCommand("disable", true),
			merchantsSetCommand("enable", false),
			merchantsKeyCommand(),
			merchantsKeysCommand(),
			merchantsRevokeKeyCommand(),
			merchantsWebhookCommand(),
			merchantsTerminalCommand("suspend-terminal", true),
			merchantsTerminalCommand("resume-terminal", false),
		},
	}
}

// Variables every merchants command reads (a command's own flags and
// their PAYGATE_MERCHANTS_<COMMAND>_ variables win over them).
const (
	adminURLEnv   = envPrefix + "ADMIN_URL"   // --url
	adminTokenEnv = envPrefix + "ADMIN_TOKEN" // the operator's token itself, instead of a token file
)

// merchantsWhere is said by every merchants command's help: where it
// goes and as whom.
const merchantsWhere = "It calls the admin API of the gateway at --url (default $" + adminURLEnv + ",\n" +
	"else http.listen of --config, else " + defaultGatewayURL + ") as an operator.\n" +
	operatorTokenHelp + " A token file of\n" +
	"several operators needs --operator. Every call is written to the\n" +
	"gateway's audit log under the operator's name. Exit status 1: the gateway\n" +
	"refused or could not be reached; 2: a flag or a field is wrong."

// operatorTokenHelp says where an admin API client's operator token
// comes from (adminFlags.registerOperator's flags).
const operatorTokenHelp = "The token is $" + adminTokenEnv + " when it is set and --token-file is not;\n" +
	"else the line of --operator in --token-file (default admin.token_file of\n" +
	"--config, or of the defaults and PAYGATE_ variables: admin.token in the\n" +
	"current directory, the sandbox's when it runs there)."

// adminFlags are the flags of every merchants command: which gateway,
// as which operator.
type adminFlags struct {
	url, tokenFile, config, operator string
	json                             bool
	fs                               *flag.FlagSet
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "the gateway's `URL`")
	fs.Lookup("url").DefValue = defaultGatewayURL
	f.registerOperator(fs, "the gateway's config `file`: its admin.token_file and http.listen")
	fs.BoolVar(&f.json, "json", false, "print the API's answer as JSON")
}

// registerOperator registers the flags that say which operator calls:
// --token-file, --config (configHelp) and --operator.
func (f *adminFlags) registerOperator(fs *flag.FlagSet, configHelp string) {
	f.fs = fs
	fs.StringVar(&f.tokenFile, "token-file", "", "the operators' token `file` (\"name token\" lines; default admin.token_file)")
	fs.StringVar(&f.config, "config", "", configHelp)
	fs.StringVar(&f.operator, "operator", "", "the `name` whose line of the token file to use")
}

// set reports whether flag name was given (on the command line or by
// its variable).
func (f *adminFlags) set(name string) bool {
	found := false
	f.fs.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// client returns the admin API client the flags name.
func (f *adminFlags) client(env *cmdEnv) (*adminClient, error) {
	var cfg config.Config
	var err error
	if f.config != "" {
		cfg, err = config.Load(f.config, env.getenv)
	} else {
		cfg, err = config.Load("", env.getenv)
	}
	if err != nil {
		what := f.config
		if what == "" {
			what = "the config of the PAYGATE_ variables"
		}
		return nil, reportProblems(env.stderr, what, err)
	}
	raw := f.url
	if !f.set("url") {
		raw = env.getenv(adminURLEnv)
	}
	if raw == "" && f.config != "" {
		raw = listenURL(cfg.HTTP.Listen)
	}
	if raw == "" {
		raw = defaultGatewayURL
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, usageErrorf("--url %q is not an http:// URL such as %s", raw, defaultGatewayURL)
	}
	c := &adminClient{base: strings.TrimRight(u.String(), "/"), hc: &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}}
	if token := env.getenv(adminTokenEnv); token != "" && !f.set("token-file") {
		c.token, c.who = token, "the token of $"+adminTokenEnv
		return c, nil
	}
	path := f.tokenFile
	if path == "" {
		path = cfg.Admin.TokenFile
	}
	c.token, c.operator, err = readOperatorToken(path, f.operator)
	if err != nil {
		return nil, err
	}
	c.who = "operator " + c.operator + " of " + path
	return c, nil
}

// listenURL is the URL of a gateway listening on addr (http.listen), or
// "" when it cannot be known (port 0).
func listenURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" || port == "" {
		return ""
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// readOperatorToken reads a token file ("name token" per line, #
// comments, as the gateway reads admin.token_file) and returns the token
// of operator, or of the only operator when operator is "".
func readOperatorToken(path, operator string) (token, name string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", usageErrorf("no operator token: %s does not exist (admin.token_file, \"name token\" lines); name the file with --token-file or --config, or set $%s",
			path, adminTokenEnv)
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the token file: %w", err)
	}
	defer f.Close()
	var names []string
	tokens := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n, t, ok := strings.Cut(line, " ")
		if !ok || n == "" || strings.TrimSpace(t) == "" {
			continue // the gateway refuses such a file; it says why in its log
		}
		if _, dup := tokens[n]; !dup {
			names = append(names, n)
		}
		tokens[n] = strings.TrimSpace(t)
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("reading the token file: %w", err)
	}
	switch {
	case operator != "":
		if tokens[operator] == "" {
			return "", "", usageErrorf("--operator: %s has no line for %q (it has %s)", path, operator, strings.Join(names, ", "))
		}
		return tokens[operator], operator, nil
	case len(names) == 1:
		return tokens[names[0]], names[0], nil
	case len(names) == 0:
		return "", "", usageErrorf("no operator token: %s has no \"name token\" line", path)
	}
	return "", "", usageErrorf("%s holds the tokens of %s: name yours with --operator", path, strings.Join(names, ", "))
}

// adminClient calls a gateway's admin API as one operator.
type adminClient struct {
	base, token string
	operator    string // "" when the token came from the environment
	who         string // names the token in messages, never showing it
	hc          *http.Client
}

// close lets the client's connections go.
func (c *adminClient) close() { c.hc.CloseIdleConnections() }

// apiRefusal is an error answer of the API.
type apiRefusal struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Fields  []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"fields"`
}

func (e *apiRefusal) Error() string { return e.Message + " (" + e.Code + ")" }

// call makes one API call and decodes a 2xx answer into out, returning
// its raw body too. POST and PUT carry an Idempotency-Key, so that a
// call whose answer was lost is retried (twice) without being done
// twice. An error answer is an *apiRefusal.
func (c *adminClient) call(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	var idem string
	if method == http.MethodPost || method == http.MethodPut {
		var b [16]byte
		rand.Read(b[:])
		idem = "paygate-cli-" + hex.EncodeToString(b[:])
	}
	var (
		resp *http.Response
		err  error
	)
	for attempt := 0; ; attempt++ {
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err = c.hc.Do(req)
		retry := idem != "" && attempt < 2 && ctx.Err() == nil
		if err != nil && retry && !isRefused(err) {
			time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil, c.unreachable(err)
		}
		if retry && resp.StatusCode == http.StatusConflict && resp.Header.Get("Retry-After") != "" {
			resp.Body.Close() // in progress: the lost first call still runs
			time.Sleep(time.Second)
			continue
		}
		break
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, c.unreachable(err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error apiRefusal `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			return nil, fmt.Errorf("the gateway at %s answered %s, not the admin API (is --url right?)", c.base, resp.Status)
		}
		e.Error.status = resp.StatusCode
		if e.Error.status == http.StatusUnauthorized {
			return nil, fmt.Errorf("the gateway at %s refused %s (401 unauthorized): is the token in its admin.token_file?", c.base, c.who)
		}
		return nil, &e.Error
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the gateway at %s answered with JSON this command does not read: %w", c.base, err)
		}
	}
	return raw, nil
}

// isRefused reports a connection that was refused: nothing was sent, and
// nobody listens.
func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (c *adminClient) unreachable(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("cannot reach the gateway at %s: %v (start it with `paygate serve`, or name it with --url)", c.base, op.Err)
	}
	return fmt.Errorf("calling the gateway at %s: %w", c.base, err)
}

// merchantJSON is a merchant as the admin API shows it.
type merchantJSON struct {
	Code              string    `json:"code"`
	Name              string    `json:"name"`
	Bank              string    `json:"bank"`
	Account           string    `json:"account"`
	Phone             string    `json:"phone"`
	Webhook           string    `json:"webhook"`
	Disabled          bool      `json:"disabled"`
	TerminalSuspended bool      `json:"terminal_suspended"`
	Created           time.Time `json:"created_at"`
	WebhookSecret     string    `json:"webhook_secret"`
}

// keyJSON is an API key as the admin API shows it.
type keyJSON struct {
	ID       string     `json:"id"`
	Merchant string     `json:"merchant"`
	Created  time.Time  `json:"created_at"`
	Revoked  bool       `json:"revoked"`
	RevokeAt *time.Time `json:"revoked_at"`
	Key      string     `json:"key"`
}

// leaf is what every merchants command shares: its admin flags, the
// arguments check, the client, and the mapping of the API's refusals
// onto the command line.
type leaf struct {
	af adminFlags
	// fieldFlags maps an API field to the flag that sets it, for 422
	// answers ("url" → "--webhook").
	fieldFlags map[string]string
}

// run checks args, makes the client and runs fn with it.
func (l *leaf) run(ctx context.Context, env *cmdEnv, args []string, fn func(c *adminClient) error) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	c, err := l.af.client(env)
	if err != nil {
		return err
	}
	defer c.close()
	err = fn(c)
	var ref *apiRefusal
	if errors.As(err, &ref) && ref.status == http.StatusUnprocessableEntity && len(ref.Fields) > 0 {
		return l.fieldProblems(env.stderr, ref)
	}
	return err
}

// fieldProblems prints each field the API refused as the flag that set
// it ("--account: is not ...") and returns a usage error that counts
// them.
func (l *leaf) fieldProblems(w io.Writer, ref *apiRefusal) error {
	var lines []string
	for _, f := range ref.Fields {
		name := "--" + f.Field
		if fl, ok := l.fieldFlags[f.Field]; ok {
			name = fl
		}
		lines = append(lines, name+": "+f.Reason)
	}
	if len(lines) == 1 {
		return usageErrorf("%s", lines[0])
	}
	for _, line := range lines {
		fmt.Fprintln(w, line)
	}
	return usageErrorf("%d flags are wrong", len(lines))
}

// print writes raw (an API answer) as indented JSON.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// codeFlag declares --code on fs.
func codeFlag(fs *flag.FlagSet, code *string) {
	fs.StringVar(code, "code", "", "the merchant's `code` (required)")
}

// needCode normalizes code, or says it is missing.
func needCode(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if code == "" {
		return "", usageErrorf("--code is required")
	}
	if strings.ContainsAny(code, "/?#% ") {
		return "", usageErrorf("--code %q is not a merchant code", code)
	}
	return code, nil
}

// notFound turns the API's 404 into "no merchant CODE".
func notFound(err error, code string) error {
	var ref *apiRefusal
	if errors.As(err, &ref) && ref.status == http.StatusNotFound {
		return fmt.Errorf("no merchant %s (see `paygate merchants list`)", code)
	}
	return err
}

func merchantsAddCommand() *command {
	return &command{
		name:    "add",
		summary: "add a merchant",
		help: "Adds the merchant --code (2 to 16 letters or digits, upper-cased: what\n" +
			"PAY names) called --name, paid into account --account at bank --bank\n" +
			"(default the gateway's bank.code). --phone (local, read with the\n" +
			"gateway's country, or international) gets an SMS receipt per payment;\n" +
			"--webhook (https:// to a public server; http:// to loopback in the\n" +
			"sandbox) is told of each payment, signed with a secret printed this once.\n" +
			"Both may be left out. A code that exists is refused: disable it and add\n" +
			"another. The account number is stored encrypted and printed masked.\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			l := &leaf{}
			var in struct {
				Code    string `json:"code"`
				Name    string `json:"name"`
				Bank    string `json:"bank,omitempty"`
				Account string `json:"account"`
				Phone   string `json:"phone,omitempty"`
				Webhook string `json:"webhook,omitempty"`
			}
			fs.StringVar(&in.Code, "code", "", "the merchant's `code`, as payers type it after PAY (required)")
			fs.StringVar(&in.Name, "name", "", "the merchant's `name`, as payers see it (required)")
			fs.StringVar(&in.Bank, "bank", "", "the `bank` code of the merchant's account (default the gateway's bank.code)")
			fs.StringVar(&in.Account, "account", "", "the merchant's account `number` (required)")
			fs.StringVar(&in.Phone, "phone", "", "the `phone` that gets the merchant's receipts")
			fs.StringVar(&in.Webhook, "webhook", "", "the `URL` told of payments")
			l.af.register(fs)
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
				return l.run(ctx, env, args, func(c *adminClient) error {
					var m merchantJSON
					raw, err := c.call(ctx, http.MethodPost, "/v1/admin/merchants", in, &m)
					var ref *apiRefusal
					if errors.As(err, &ref) && ref.status == http.StatusConflict && ref.Code == "conflict" {
						return fmt.Errorf("merchant %s exists already (see `paygate merchants list`)", strings.ToUpper(strings.TrimSpace(in.Code)))
					}
					if err != nil {
						return err
					}
					if l.af.json {
						return printJSON(env.stdout, raw)
					}
					fmt.Fprintf(env.stdout, "added merchant %s (%s), paid into %s %s\n", m.Code, m.Name, m.Bank, m.Account)
					if m.WebhookSecret != "" {
						fmt.Fprintf(env.stdout, "webhook signing secret (shown this once; Paygate-Signature is made with it):\n%s\n", m.WebhookSecret)
					}
					return nil
				})
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
			"whether PAY to it is enabled, and whether its terminal mode is\n" +
			"suspended.\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			l := &leaf{}
			l.af.register(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				return l.run(ctx, env, args, func(c *adminClient) error {
					var list struct {
						Merchants []merchantJSON `json:"merchants"`
					}
					raw, err := c.call(ctx, http.MethodGet, "/v1/admin/merchants", nil, &list)
					if err != nil {
						return err
					}
					if l.af.json {
						return printJSON(env.stdout, raw)
					}
					printMerchants(env.stdout, list.Merchants)
					return nil
				})
			}
		},
	}
}

// printMerchants prints list as a table, or says there is none.
func printMerchants(w io.Writer, list []merchantJSON) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no merchants: add one with `paygate merchants add`")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tNAME\tACCOUNT\tPHONE\tWEBHOOK\tSTATUS\tTERMINAL")
	for _, m := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", m.Code, m.Name, m.Bank, m.Account, orDash(m.Phone), orDash(m.Webhook),
			payState(m.Disabled), terminalState(m.TerminalSuspended))
	}
	tw.Flush()
}

func payState(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "enabled"
}

func terminalState(suspended bool) string {
	if suspended {
		return "suspended"
	}
	return "active"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func merchantsShowCommand() *command {
	return &command{
		name:    "show",
		summary: "show a merchant and its API keys",
		help:    "Prints merchant --code as `list` does, one field a line, then its API\nkeys (their public ids: a key is shown whole only when it is made).\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			l := &leaf{}
			var code string
			codeFlag(fs, &code)
			l.af.register(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				code, err := needCode(code)
				if err != nil {
					return err
				}
				return l.run(ctx, env, args, func(c *adminClient) error {
					var m merchantJSON
					raw, err := c.call(ctx, http.MethodGet, "/v1/admin/merchants/"+code, nil, &m)
					if err != nil {
						return notFound(err, code)
					}
					var keys struct {
						Keys []keyJSON `json:"keys"`
					}
					rawKeys, err := c.call(ctx, http.MethodGet, "/v1/admin/merchants/"+code+"/keys", nil, &keys)
					if err != nil {
						return notFound(err, code)
					}
					if l.af.json {
						return printJSON(env.stdout, []byte(`{"merchant":`+string(raw)+`,"keys":`+string(rawKeys)+`}`))
					}
					tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
					for _, r := range [][2]string{
						{"code", m.Code}, {"name", m.Name}, {"account", m.Bank + " " + m.Account}, {"phone", orDash(m.Phone)},
						{"webhook", orDash(m.Webhook)}, {"status", payState(m.Disabled)}, {"terminal", terminalState(m.TerminalSuspended)},
						{"created", m.Created.UTC().Format(time.RFC3339)}, {"keys", fmt.Sprint(len(keys.Keys))},
					} {
						fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
					}
					tw.Flush()
					if len(keys.Keys) > 0 {
						printKeys(env.stdout, keys.Keys)
					}
					return nil
				})
			}
		},
	}
}

// merchantsSetCommand is `merchants disable` (disabled true) or
// `merchants enable`.
func merchantsSetCommand(name string, disabled bool) *command {
	summary, help, done := "enable a merchant again", "Lets phones pay merchant --code with PAY again.", "enabled"
	if disabled {
		summary = "disable a merchant: PAY to it is refused"
		help = "Disables merchant --code: PAY to it, and its payment requests, are\n" +
			"refused with a reply saying so, and the merchant is kept (`paygate\n" +
			"merchants enable` undoes it)."
		done = "disabled: PAY to it is refused"
	}
	return merchantActionCommand(name, summary, help, "/"+name, nil, "merchant %s "+done)
}

// merchantActionCommand is a command that posts body to the admin API's
// /v1/admin/merchants/{--code}<path> and prints the merchant (--json)
// or done, a format taking the code.
func merchantActionCommand(name, summary, help, path string, body any, done string) *command {
	return &command{
		name:    name,
		summary: summary,
		help:    help + "\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			l := &leaf{}
			var code string
			codeFlag(fs, &code)
			l.af.register(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				code, err := needCode(code)
				if err != nil {
					return err
				}
				return l.run(ctx, env, args, func(c *adminClient) error {
					raw, err := c.call(ctx, http.MethodPost, "/v1/admin/merchants/"+code+path, body, nil)
					if err != nil {
						return notFound(err, code)
					}
					if l.af.json {
						return printJSON(env.stdout, raw)
					}
					fmt.Fprintf(env.stdout, done+"\n", code)
					return nil
				})
			}
		},
	}
}

func merchantsKeyCommand() *command {
	return &command{
		name:    "key",
		summary: "make a new API key for a merchant",
		help: "Makes a new API key for merchant --code and prints it: the only time it\n" +
			"is shown whole (the gateway keeps a keyed hash of it). The merchant's\n" +
			"system sends it as Authorization: Bearer <key>. Its public id (pk_…)\n" +
			"names it in `keys` and `revoke-key`. Older keys keep working until\n" +
			"revoked.\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			l := &leaf{}
			var code string
			codeFlag(fs, &code)
			l.af.register(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				code, err := needCode(code)
				if err != nil {
					return err
				}
				return l.run(ctx, env, args, func(c *adminClient) error {
					var k keyJSON
					raw, err := c.call(ctx, http.MethodPost, "/v1/admin/merchants/"+code+"/keys", nil, &k)
					if err != nil {
						return notFound(err, code)
					}
					if l.af.json {
						return printJSON(env.stdout, raw)
					}
					fmt.Fprintf(env.stdout, "new API key %s of merchant %s (shown this once; keep it secret):\n%s\n", k.ID, k.Merchant, k.Key)
					return nil
				})
			}
		},
	}
}

func merchantsKeysCommand() *command {
	return &command{
		name:    "keys",
		summary: "list a merchant's API keys",
		help:    "Prints the API keys of merchant --code, oldest first, revoked ones too:\ntheir public ids, never the keys.\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			l := &leaf{}
			var code string
			codeFlag(fs, &code)
			l.af.register(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				code, err := needCode(code)
				if err != nil {
					return err
				}
				return l.run(ctx, env, args, func(c *adminClient) error {
					var keys struct {
						Keys []keyJSON `json:"keys"`
					}
					raw, err := c.call(ctx, http.MethodGet, "/v1/admin/merchants/"+code+"/keys", nil, &keys)
					if err != nil {
						return notFound(err, code)
					}
					if l.af.json {
						return printJSON(env.stdout, raw)
					}
					if len(keys.Keys) == 0 {
						fmt.Fprintf(env.stdout, "merchant %s has no API keys: make one with `paygate merchants key --code %s`\n", code, code)
						return nil
					}
					printKeys(env.stdout, keys.Keys)
					return nil
				})
			}
		},
	}
}

// printKeys prints keys as a table.
func printKeys(w io.Writer, keys []keyJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tCREATED\tSTATUS")
	for _, k := range keys {
		st := "active"
		if k.Revoked {
			st = "revoked"
			if k.RevokeAt != nil {
				st += " " + k.RevokeAt.UTC().Format(time.RFC3339)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.Created.UTC().Format(time.RFC3339), st)
	}
	tw.Flush()
}

func merchantsRevokeKeyCommand() *command {
	return &command{
		name:    "revoke-key",
		summary: "revoke a merchant's API key",
		help:    "Revokes the API key --id (its public id, pk_…) of merchant --code: it\nstops working at once. Revoking it again changes nothing.\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			l := &leaf{}
			var code, id string
			codeFlag(fs, &code)
			fs.StringVar(&id, "id", "", "the key's public `id`, pk_… (required)")
			l.af.register(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				code, err := needCode(code)
				if err != nil {
					return err
				}
				id = strings.TrimSpace(id)
				if id == "" || strings.ContainsAny(id, "/?#% ") {
					return usageErrorf("--id is required: the key's public id, pk_… (see `paygate merchants keys`)")
				}
				if strings.Count(id, "_") > 1 {
					// A whole key: its id is what comes before its secret.
					id = id[:strings.LastIndexByte(id, '_')]
				}
				return l.run(ctx, env, args, func(c *adminClient) error {
					raw, err := c.call(ctx, http.MethodDelete, "/v1/admin/merchants/"+code+"/keys/"+id, nil, nil)
					var ref *apiRefusal
					if errors.As(err, &ref) && ref.status == http.StatusNotFound {
						return fmt.Errorf("merchant %s has no API key %s (see `paygate merchants keys --code %s`)", code, id, code)
					}
					if err != nil {
						return err
					}
					if l.af.json {
						return printJSON(env.stdout, raw)
					}
					fmt.Fprintf(env.stdout, "API key %s of merchant %s revoked\n", id, code)
					return nil
				})
			}
		},
	}
}

func merchantsWebhookCommand() *command {
	return &command{
		name:    "webhook",
		summary: "set or remove a merchant's webhook",
		help: "Sets the webhook of merchant --code to --webhook (https:// to a public\n" +
			"server; http:// to loopback in the sandbox) with a new signing secret,\n" +
			"printed this once: the merchant checks Paygate-Signature with it. The\n" +
			"old secret stops at once. --remove removes the webhook.\n\n" + merchantsWhere,
		setup: func(fs *flag.FlagSet) action {
			l := &leaf{fieldFlags: map[string]string{"url": "--webhook"}}
			var code, hook string
			var remove bool
			codeFlag(fs, &code)
			fs.StringVar(&hook, "webhook", "", "the webhook's `URL`")
			fs.BoolVar(&remove, "remove", false, "remove the webhook")
			l.af.register(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				code, err := needCode(code)
				if err != nil {
					return err
				}
				hook = strings.TrimSpace(hook)
				if (hook == "") == !remove {
					return usageErrorf("give --webhook URL, or --remove")
				}
				return l.run(ctx, env, args, func(c *adminClient) error {
					var out struct {
						Webhook *string `json:"webhook"`
						Secret  string  `json:"secret"`
					}
					raw, err := c.call(ctx, http.MethodPut, "/v1/admin/merchants/"+code+"/webhook", map[string]string{"url": hook}, &out)
					if err != nil {
						return notFound(err, code)
					}
					switch {
					case l.af.json:
						return printJSON(env.stdout, raw)
					case out.Webhook == nil:
						fmt.Fprintf(env.stdout, "merchant %s has no webhook now\n", code)
					default:
						fmt.Fprintf(env.stdout, "webhook of merchant %s set to %s\nsigning secret (shown this once; Paygate-Signature is made with it):\n%s\n",
							code, *out.Webhook, out.Secret)
					}
					return nil
				})
			}
		},
	}
}

// merchantsTerminalCommand is `merchants suspend-terminal` (suspended
// true) or `merchants resume-terminal`.
func merchantsTerminalCommand(name string, suspended bool) *command {
	summary := "resume a merchant's terminal mode"
	help := "Lets merchant --code post its customers' PINs again (terminal mode,\n" +
		"SPEC.md §5.4), and forgets the failures that suspended it."
	done := "resumed"
	if suspended {
		summary = "suspend a merchant's terminal mode"
		help = "Suspends the terminal mode of merchant --code: payment requests that\n" +
			"post the customer's PIN are refused (push mode still works) until\n" +
			"`paygate merchants resume-terminal`."
		done = "suspended"
	}
	return merchantActionCommand(name, summary, help, "/terminal", map[string]bool{"suspended": suspended}, "terminal mode of merchant %s "+done)
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
