package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Timing of `phone sms`: replies that come in a burst are printed
// together; once they stop for replyQuiet, the command is done.
const (
	replyQuiet   = 1500 * time.Millisecond
	maxPollSlice = 25 * time.Second // one long poll; the sandbox caps them at 30s
)

// phoneGatewayEnv sets --gateway for every phone command.
const phoneGatewayEnv = envPrefix + "PHONE_GATEWAY"

func phoneCommand() *command {
	return &command{
		name:    "phone",
		summary: "be a phone of a sandbox gateway",
		subs:    []*command{phoneSMSCommand(), phoneUSSDCommand(), phoneEnrolCommand(), phoneSecureCommand(), phoneHelloCommand()},
	}
}

// phoneFlags are the flags of every phone command.
type phoneFlags struct {
	gateway string
	wait    time.Duration
}

func (f *phoneFlags) register(fs *flag.FlagSet, waitHelp string) {
	fs.StringVar(&f.gateway, "gateway", "", "the sandbox gateway's `URL` (also $"+phoneGatewayEnv+")")
	fs.Lookup("gateway").DefValue = defaultGatewayURL
	f.wait = 10 * time.Second
	fs.Var(durationFlag{&f.wait}, "wait", waitHelp)
}

// client returns the client of the gateway named by the flag, else by
// PAYGATE_PHONE_GATEWAY, else the default.
func (f *phoneFlags) client(env *cmdEnv) (*phoneClient, error) {
	raw := f.gateway
	if raw == "" {
		raw = env.getenv(phoneGatewayEnv)
	}
	if raw == "" {
		raw = defaultGatewayURL
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--gateway %q is not an http:// URL such as %s", raw, defaultGatewayURL)
	}
	if f.wait <= 0 {
		return nil, usageErrorf("--wait must be more than 0")
	}
	return &phoneClient{base: strings.TrimRight(u.String(), "/"), hc: &http.Client{Transport: &http.Transport{}}}, nil
}

func phoneSMSCommand() *command {
	return &command{
		name:    "sms",
		args:    "NUMBER TEXT...",
		summary: "text the gateway as a phone and print the replies",
		help: "Sends TEXT (the words joined by spaces) from phone NUMBER to the short\n" +
			"code of a sandbox gateway (`paygate serve` without --config), then prints\n" +
			"each reply as it arrives, as `< 3030: text`, and exits 0 once the replies\n" +
			"have stopped for a moment. With no reply within --wait it exits 1.\n" +
			"NUMBER may be local (13800138000) or international (+8613800138000).\n" +
			"Flags go before NUMBER.",
		setup: func(fs *flag.FlagSet) action {
			var f phoneFlags
			f.register(fs, "`DURATION` to wait for the first reply")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) < 2 {
					return usageErrorf("want a phone NUMBER and the TEXT to send")
				}
				c, err := f.client(env)
				if err != nil {
					return err
				}
				defer c.hc.CloseIdleConnections()
				return phoneSMS(ctx, env, c, args[0], strings.Join(args[1:], " "), f.wait)
			}
		},
	}
}

func phoneSMS(ctx context.Context, env *cmdEnv, c *phoneClient, number, text string, wait time.Duration) error {
	msgs := c.phonePath(number, "messages")
	// Where the phone's inbox stands, so that only new replies print.
	var inbox phoneMessages
	if err := c.do(ctx, "GET", msgs, nil, http.StatusOK, &inbox); err != nil {
		return err
	}
	var sent struct {
		To string `json:"to"`
	}
	if err := c.do(ctx, "POST", c.phonePath(number, "sms"), map[string]string{"text": text}, http.StatusCreated, &sent); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "> %s: %s\n", sent.To, text)

	next, replies := inbox.Next, 0
	deadline := time.Now().Add(wait)
	for {
		slice := replyQuiet
		if replies == 0 {
			slice = min(time.Until(deadline), maxPollSlice)
			if slice <= 0 {
				return fmt.Errorf("no reply to %s within %v: the gateway may not be running properly (is it bound to its SMSC? see the log of `paygate serve`)", number, wait)
			}
		}
		var got phoneMessages
		q := url.Values{"after": {strconv.Itoa(next)}, "wait": {slice.String()}}
		if err := c.do(ctx, "GET", msgs+"?"+q.Encode(), nil, http.StatusOK, &got); err != nil {
			return err
		}
		for _, m := range got.Messages {
			printReply(env.stdout, m.From, m.Text)
		}
		replies += len(got.Messages)
		next = got.Next
		if len(got.Messages) == 0 && replies > 0 {
			return nil
		}
	}
}

// printReply prints a text as `< from: text`, its later lines indented
// under the first.
func printReply(w io.Writer, from, text string) {
	prefix := "< " + from + ": "
	indent := strings.Repeat(" ", len(prefix))
	fmt.Fprintf(w, "%s%s\n", prefix, strings.ReplaceAll(text, "\n", "\n"+indent))
}

type phoneMessages struct {
	Messages []struct {
		From string `json:"from"`
		Text string `json:"text"`
	} `json:"messages"`
	Next int `json:"next"`
}

func phoneUSSDCommand() *command {
	return &command{
		name:    "ussd",
		args:    "NUMBER",
		summary: "walk the USSD menu of the gateway as a phone",
		help: "Dials the USSD service code from phone NUMBER on a sandbox gateway\n" +
			"(`paygate serve` without --config) and prints each screen. When a\n" +
			"screen waits for an answer, type it and press Enter; the session ends\n" +
			"with the gateway's end screen, or when stdin ends (Ctrl-D). Flags go\n" +
			"before NUMBER.",
		setup: func(fs *flag.FlagSet) action {
			var f phoneFlags
			var code string
			fs.StringVar(&code, "code", "", "the service `code` to dial (default the gateway's ussd_code, *384#)")
			f.register(fs, "`DURATION` to wait for each screen")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				switch {
				case len(args) == 0:
					return usageErrorf("want a phone NUMBER")
				case len(args) > 1:
					return usageErrorf("unexpected argument %q", args[1])
				}
				c, err := f.client(env)
				if err != nil {
					return err
				}
				defer c.hc.CloseIdleConnections()
				return phoneUSSD(ctx, env, c, args[0], code, f.wait, stdinOf(ctx))
			}
		},
	}
}

type ussdSent struct {
	Session string `json:"session"`
	Text    string `json:"text"`
	After   int    `json:"after"`
}

type ussdScreen struct {
	Screen *phoneScreen `json:"screen"` // null when none came
	Next   int          `json:"next"`
}

type phoneScreen struct {
	Text string `json:"text"`
	End  bool   `json:"end"`
}

func phoneUSSD(ctx context.Context, env *cmdEnv, c *phoneClient, number, code string, wait time.Duration, stdin io.Reader) error {
	path := c.phonePath(number, "ussd")
	var sent ussdSent
	if err := c.do(ctx, "POST", path, map[string]string{"text": code}, http.StatusCreated, &sent); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "> %s\n", sent.Text)
	session, after := sent.Session, sent.After
	in := newLineReader(stdin)
	for {
		screen, err := waitScreen(ctx, c, path, session, after, wait)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, screen.Text)
		if screen.End {
			fmt.Fprintln(env.stdout, "(session ended)")
			return nil
		}
		var answer string
		for answer == "" {
			fmt.Fprint(env.stdout, "> ")
			line, err := in.read(ctx)
			if err != nil { // stdin ended, or interrupted: leave the session
				fmt.Fprintln(env.stdout)
				if errors.Is(err, io.EOF) || ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("reading stdin: %w", err)
			}
			answer = strings.TrimSpace(line)
			if answer != "" && !in.terminal {
				fmt.Fprintln(env.stdout, answer) // echo what a pipe typed
			}
		}
		if err := c.do(ctx, "POST", path, map[string]string{"text": answer, "session": session}, http.StatusCreated, &sent); err != nil {
			return err
		}
		after = sent.After
	}
}

// waitScreen waits for the session's next screen past after.
func waitScreen(ctx context.Context, c *phoneClient, path, session string, after int, wait time.Duration) (*phoneScreen, error) {
	deadline := time.Now().Add(wait)
	for {
		slice := min(time.Until(deadline), maxPollSlice)
		if slice <= 0 {
			return nil, fmt.Errorf("no USSD screen within %v: the gateway may not be running properly (is it bound to its SMSC? see the log of `paygate serve`)", wait)
		}
		q := url.Values{"session": {session}, "after": {strconv.Itoa(after)}, "wait": {slice.String()}}
		var got ussdScreen
		if err := c.do(ctx, "GET", path+"?"+q.Encode(), nil, http.StatusOK, &got); err != nil {
			return nil, err
		}
		if got.Screen != nil {
			return got.Screen, nil
		}
	}
}

// lineReader reads stdin a line at a time without keeping a command
// that was interrupted waiting for Enter.
type lineReader struct {
	r        *bufio.Reader
	terminal bool // the user's typing shows already
}

func newLineReader(in io.Reader) *lineReader {
	lr := &lineReader{r: bufio.NewReader(in)}
	if f, ok := in.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			lr.terminal = true
		}
	}
	return lr
}

// read returns the next line without its end. A last line without an
// end is a line; after it comes io.EOF. When ctx ends first, the read
// under way is abandoned (the process is about to exit).
func (lr *lineReader) read(ctx context.Context) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := lr.r.ReadString('\n')
		if err == io.EOF && line != "" {
			err = nil
		}
		ch <- result{strings.TrimRight(line, "\r\n"), err}
	}()
	select {
	case res := <-ch:
		return res.line, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stdinKey is the context key of the standard input of the phone
// commands: run has no stdin parameter, so tests hand one in through
// the context (withStdin) and the binary uses os.Stdin.
type stdinKey struct{}

func withStdin(ctx context.Context, r io.Reader) context.Context {
	return context.WithValue(ctx, stdinKey{}, r)
}

func stdinOf(ctx context.Context) io.Reader {
	if r, ok := ctx.Value(stdinKey{}).(io.Reader); ok {
		return r
	}
	return os.Stdin
}

// phoneClient speaks the sandbox's phone API (gateway.Sandbox).
type phoneClient struct {
	base string // the gateway's URL, without a trailing "/"
	hc   *http.Client
}

func (c *phoneClient) phonePath(number, what string) string {
	return "/sandbox/phones/" + url.PathEscape(number) + "/" + what
}

// do sends a request with body as JSON (if not nil) and decodes the
// answer, which must have status want, into v. The errors say what to
// do: start the gateway, start it as a sandbox, or fix what it refused.
func (c *phoneClient) do(ctx context.Context, method, path string, body any, want int, v any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot reach the gateway at %s: is `paygate serve` running? (%v)", c.base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the gateway's answer: %w", err)
	}
	var apiErr struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(b, &apiErr)
	switch {
	case resp.StatusCode == want:
	case apiErr.Error != nil:
		return fmt.Errorf("the gateway refused: %s", apiErr.Error.Message)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("the gateway at %s has no sandbox phones: they exist only when `paygate serve` runs without --config", c.base)
	default:
		return fmt.Errorf("the gateway at %s answered %s", c.base, resp.Status)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("the gateway at %s answered %s with something that is not the sandbox's JSON", c.base, resp.Status)
	}
	return nil
}
