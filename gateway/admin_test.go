package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/store"
)

// The admin API (SPEC §7) through a running gateway: operators'
// tokens, the audit of every call, merchants, keys, webhooks, terminal
// mode, subscribers, transfers, the SMSC, and Idempotency-Key.

// Operators' tokens in the tests' admin.token_file.
const (
	annToken = "ann-0123456789abcdef-token"
	bobToken = "bob-fedcba9876543210-token"
)

// withAdmin gives the gateway an admin.token_file with operators ann and
// bob; the file's path is written to *path when path is not nil.
func withAdmin(t *testing.T, path *string) func(*config.Config) {
	return func(c *config.Config) {
		c.Admin.TokenFile = filepath.Join(t.TempDir(), "admin.token")
		if path != nil {
			*path = c.Admin.TokenFile
		}
		if err := os.WriteFile(c.Admin.TokenFile, []byte("# operators\nann "+annToken+"\n\nbob "+bobToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// adminCaller calls the API with an Authorization header ("" for none).
type adminCaller struct {
	w    *world
	auth string
}

func (w *world) operator(token string) *adminCaller {
	return &adminCaller{w: w, auth: "Bearer " + token}
}

// answer is an API answer.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (a answer) code() string { return errCode(a.body) }

// call makes one call (body: nil, a string sent as it is, or a value
// sent as JSON; header: name, value pairs) and checks the answer
// against openapi.json.
func (c *adminCaller) call(method, path string, body any, header ...string) answer {
	c.w.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.w.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, "http://"+c.w.gw.HTTPAddr()+path, rd)
	if err != nil {
		c.w.t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	a.raw, _ = io.ReadAll(resp.Body)
	if err := json.Unmarshal(a.raw, &a.body); err != nil {
		c.w.t.Fatalf("%s %s: %d, not JSON: %q", method, path, a.status, a.raw)
	}
	// Routes that do not exist are in no document.
	if a.code() != "method_not_allowed" && !strings.HasPrefix(path, "/v1/admin/nothing") {
		gateway.ValidateAPIResponse(c.w.t, method, path, a.status, a.raw)
	}
	return a
}

// must makes a call that must answer status.
func (c *adminCaller) must(status int, method, path string, body any, header ...string) answer {
	c.w.t.Helper()
	a := c.call(method, path, body, header...)
	if a.status != status {
		c.w.t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.raw, status)
	}
	return a
}

// auditLog returns the whole audit log, oldest first, straight from the
// store.
func (w *world) auditLog() []store.AuditEntry {
	w.t.Helper()
	list, err := w.gw.DB().AuditLog(context.Background(), store.AuditFilter{Limit: 100000})
	if err != nil {
		w.t.Fatal(err)
	}
	slices.Reverse(list)
	return list
}

// adminRoutes are the admin API's operations as openapi.json lists them
// ("METHOD /path"), with their path parameters filled in.
func adminRoutes(t *testing.T, w *world) []string {
	t.Helper()
	resp, err := http.Get("http://" + w.gw.HTTPAddr() + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{phone}", "+8613800138000", "{code}", "DEMO", "{id}", "pk_aaaaaaaaaa")
	var out []string
	for path, item := range doc.Paths {
		if !strings.HasPrefix(path, "/v1/admin/") {
			continue
		}
		for method := range item {
			out = append(out, strings.ToUpper(method)+" "+fill.Replace(path))
		}
	}
	slices.Sort(out)
	if len(out) < 16 {
		t.Fatalf("only %d admin routes in openapi.json", len(out))
	}
	return out
}

// adminWorld is a world with the admin token file and merchant DEMO.
func adminWorld(t *testing.T, change ...func(*config.Config)) *world {
	t.Helper()
	w := newWorld(t, append([]func(*config.Config){withAdmin(t, nil)}, change...)...)
	if err := w.gw.DB().AddMerchant(context.Background(), flows.Merchant{
		Code: "DEMO", Name: "Demo Shop", Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009001"}, Phone: shopNum,
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

// Every admin route refuses a call without a valid operator's token —
// none, an unknown one, another scheme, a merchant's API key — with 401
// unauthorized, changes nothing, and writes an audit row for each
// refusal. The merchant's key still works where it belongs.
func TestAdminUnauthorized(t *testing.T) {
	w := adminWorld(t)
	key := w.apiKey("DEMO")
	creds := []struct{ name, auth string }{
		{"no token", ""},
		{"unknown token", "Bearer wrong-0123456789abcdef"},
		{"a token's prefix", "Bearer " + annToken[:len(annToken)-1]},
		{"a token and more", "Bearer " + annToken + "x"},
		{"the token without Bearer", annToken},
		{"basic", "Basic YW5uOmFubi0wMTIzNDU2Nzg5YWJjZGVm"},
		{"merchant API key", "Bearer " + key.key},
	}
	routes := adminRoutes(t, w)
	before := len(w.auditLog())
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		for _, cr := range creds {
			var body any
			if method == "POST" || method == "PUT" {
				body = map[string]any{"url": "https://203.0.113.7/x", "suspended": true}
			}
			a := (&adminCaller{w: w, auth: cr.auth}).call(method, path, body)
			if a.status != http.StatusUnauthorized || a.code() != "unauthorized" || a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with %s: %d %s", route, cr.name, a.status, a.raw)
			}
		}
	}
	// An unknown admin route is refused the same way.
	if a := (&adminCaller{w: w}).call("GET", "/v1/admin/nothing-here", nil); a.status != http.StatusUnauthorized {
		t.Errorf("an unknown route without a token: %d %s", a.status, a.raw)
	}
	log := w.auditLog()[before:]
	if want := len(routes)*len(creds) + 1; len(log) != want {
		t.Fatalf("%d audit rows for %d refusals", len(log), want)
	}
	for _, e := range log {
		if e.Status != http.StatusUnauthorized || e.Operator != "" || !strings.HasPrefix(e.Detail, "refused: ") || e.Action == "" {
			t.Errorf("audit row %+v", e)
		}
		for _, secret := range []string{annToken[:12], key.key, "wrong-0123"} {
			if strings.Contains(fmt.Sprint(e), secret) {
				t.Errorf("audit row %+v holds a token", e)
			}
		}
	}
	// Nothing changed.
	m, err := w.gw.DB().MerchantByCode(context.Background(), "DEMO")
	if err != nil || m.Disabled || !m.TerminalSuspended.IsZero() || m.Webhook != "" {
		t.Errorf("DEMO changed: %+v, %v", m, err)
	}
	if keys, err := w.gw.DB().APIKeys(context.Background(), "DEMO"); err != nil || len(keys) != 1 {
		t.Errorf("keys %+v, %v", keys, err)
	}
	// The key is a merchant's: the merchant API takes it.
	if st, body := key.call("GET", "/v1/payment-requests/nothing", nil); st != http.StatusNotFound {
		t.Errorf("the merchant API refused the key: %d %v", st, body)
	}
	// An operator gets through.
	w.operator(annToken).must(http.StatusOK, "GET", "/v1/admin/merchants", nil)
}

// The token file is read again when it changes: a new operator gets in,
// a removed one is refused; a malformed file refuses everyone.
func TestAdminTokenFileReloaded(t *testing.T) {
	var path string
	w := newWorld(t, withAdmin(t, &path))
	ann, carol := w.operator(annToken), w.operator("carol-0123456789abcdef")
	ann.must(http.StatusOK, "GET", "/v1/admin/smsc", nil)
	carol.must(http.StatusUnauthorized, "GET", "/v1/admin/smsc", nil)
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		// A later modification time, however coarse the file system's.
		later := time.Now().Add(time.Duration(len(s)) * time.Second)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
	write("carol carol-0123456789abcdef\n")
	carol.must(http.StatusOK, "GET", "/v1/admin/smsc", nil)
	ann.must(http.StatusUnauthorized, "GET", "/v1/admin/smsc", nil)
	write("carol carol-0123456789abcdef\nshort tooshort\n")
	carol.must(http.StatusUnauthorized, "GET", "/v1/admin/smsc", nil)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	carol.must(http.StatusUnauthorized, "GET", "/v1/admin/smsc", nil)
	log := w.auditLog()
	if len(log) != 6 || log[0].Operator != "ann" || log[2].Operator != "carol" || log[2].Action != "smsc.read" {
		t.Errorf("audit %+v", log)
	}
}

// Merchants through the admin API: created (fields normalized, errors
// naming the field, a code taken is 409), listed, read, disabled and
// enabled, given API keys (shown once, listed without the key, revoked),
// a webhook (checked, its secret shown once, removed), terminal mode
// suspended and resumed. Every call is in the audit log, which holds no
// secret.
func TestAdminMerchants(t *testing.T) {
	w := newWorld(t, withAdmin(t, nil))
	ann := w.operator(annToken)
	const account = "6222020000007788"
	const hookToken = "s3cr3t-hook-token"

	a := ann.must(http.StatusCreated, "POST", "/v1/admin/merchants", map[string]any{
		"code": "tea42", "name": "  Tea   House ", "account": "6222-0200-0000-7788", "phone": "137 0013 7000",
		"webhook": "https://203.0.113.7/hook?token=" + hookToken,
	})
	b := a.body
	secret, _ := b["webhook_secret"].(string)
	if b["code"] != "TEA42" || b["name"] != "Tea House" || b["bank"] != "PGB" || b["account"] != "****7788" || b["phone"] != "+8613700137000" ||
		b["webhook"] != "https://203.0.113.7/hook?…" || b["disabled"] != false || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("created: %s", a.raw)
	}
	if _, hookSecret, err := w.gw.DB().MerchantWebhook(context.Background(), "TEA42"); err != nil || string(hookSecret) != secret {
		t.Fatalf("the webhook secret kept is not the one shown: %v", err)
	}
	ann.must(http.StatusCreated, "POST", "/v1/admin/merchants", map[string]any{"code": "BOOKS", "name": "书店", "bank": "icb", "account": "GB33BUKB20201555555555"})

	// Refusals: the fields at fault named; a code taken.
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
		fields []string
	}{
		{"missing", map[string]any{"phone": "13700137000"}, 422, "invalid", []string{"code", "name", "account"}},
		{"bad account and phone", map[string]any{"code": "SHOP", "name": "Shop", "account": "12", "phone": "12x"}, 422, "invalid", []string{"account", "phone"}},
		{"http webhook", map[string]any{"code": "SHOP", "name": "Shop", "account": account, "webhook": "http://shop.example/hook?token=" + hookToken}, 422, "invalid", []string{"webhook"}},
		{"internal webhook", map[string]any{"code": "SHOP", "name": "Shop", "account": account, "webhook": "https://10.1.2.3/hook"}, 422, "invalid", []string{"webhook"}},
		{"taken", map[string]any{"code": "TEA42", "name": "Other", "account": account}, 409, "conflict", nil},
		{"unknown field", map[string]any{"code": "SHOP", "name": "Shop", "account": account, "pin": "1234"}, 400, "invalid_request", nil},
		{"not JSON", "code=SHOP", 400, "invalid_request", nil},
	} {
		a := ann.call("POST", "/v1/admin/merchants", c.body)
		if a.status != c.status || a.code() != c.code {
			t.Errorf("%s: %d %s", c.name, a.status, a.raw)
			continue
		}
		var fields []string
		if list, ok := a.body["error"].(map[string]any)["fields"].([]any); ok {
			for _, f := range list {
				fields = append(fields, f.(map[string]any)["field"].(string))
			}
		}
		if !slices.Equal(fields, c.fields) {
			t.Errorf("%s: fields %v, want %v: %s", c.name, fields, c.fields, a.raw)
		}
		if bytes.Contains(a.raw, []byte(account)) || bytes.Contains(a.raw, []byte(hookToken)) {
			t.Errorf("%s: the answer quotes a secret: %s", c.name, a.raw)
		}
	}

	list := ann.must(http.StatusOK, "GET", "/v1/admin/merchants", nil)
	if ms := list.body["merchants"].([]any); len(ms) != 2 || ms[0].(map[string]any)["code"] != "BOOKS" || ms[1].(map[string]any)["account"] != "****7788" {
		t.Errorf("list: %s", list.raw)
	}
	ann.must(http.StatusOK, "GET", "/v1/admin/merchants/tea42", nil)
	if a := ann.must(http.StatusNotFound, "GET", "/v1/admin/merchants/NOBODY", nil); a.code() != "not_found" {
		t.Errorf("unknown merchant: %s", a.raw)
	}
	if a := ann.must(http.StatusOK, "POST", "/v1/admin/merchants/TEA42/disable", nil); a.body["disabled"] != true {
		t.Errorf("disable: %s", a.raw)
	}
	if a := ann.must(http.StatusOK, "POST", "/v1/admin/merchants/TEA42/enable", nil); a.body["disabled"] != false {
		t.Errorf("enable: %s", a.raw)
	}
	ann.must(http.StatusNotFound, "POST", "/v1/admin/merchants/NOBODY/disable", nil)

	// API keys: the key once, then only its id.
	k := ann.must(http.StatusCreated, "POST", "/v1/admin/merchants/TEA42/keys", nil)
	key, id := k.body["key"].(string), k.body["id"].(string)
	if !strings.HasPrefix(key, id+"_") || k.body["revoked"] != false {
		t.Fatalf("new key: %s", k.raw)
	}
	shop := &merchant{w: w, key: key}
	if st, body := shop.call("GET", "/v1/payment-requests/nothing", nil); st != http.StatusNotFound {
		t.Errorf("the new key does not work: %d %v", st, body)
	}
	keys := ann.must(http.StatusOK, "GET", "/v1/admin/merchants/TEA42/keys", nil)
	if bytes.Contains(keys.raw, []byte(key)) || len(keys.body["keys"].([]any)) != 1 {
		t.Errorf("keys: %s", keys.raw)
	}
	ann.must(http.StatusNotFound, "POST", "/v1/admin/merchants/NOBODY/keys", nil)
	ann.must(http.StatusNotFound, "GET", "/v1/admin/merchants/NOBODY/keys", nil)
	if a := ann.must(http.StatusOK, "DELETE", "/v1/admin/merchants/TEA42/keys/"+id, nil); a.body["revoked"] != true || a.body["revoked_at"] == nil {
		t.Errorf("revoke: %s", a.raw)
	}
	ann.must(http.StatusOK, "DELETE", "/v1/admin/merchants/TEA42/keys/"+id, nil)
	ann.must(http.StatusNotFound, "DELETE", "/v1/admin/merchants/BOOKS/keys/"+id, nil)
	if st, body := shop.call("GET", "/v1/payment-requests/nothing", nil); st != http.StatusUnauthorized {
		t.Errorf("a revoked key still works: %d %v", st, body)
	}

	// The webhook: checked, a new secret, removed.
	for _, c := range []struct{ name, url string }{
		{"http", "http://203.0.113.7/hook"},
		{"loopback", "https://127.0.0.1/hook"},
		{"private", "https://192.168.1.10/hook"},
		{"credentials", "https://user:pw@203.0.113.7/hook"},
		{"not a URL", "shop.example/hook"},
	} {
		a := ann.call("PUT", "/v1/admin/merchants/TEA42/webhook", map[string]any{"url": c.url})
		if a.status != http.StatusUnprocessableEntity || a.code() != "invalid" || !strings.Contains(string(a.raw), `"field":"url"`) {
			t.Errorf("webhook %s: %d %s", c.name, a.status, a.raw)
		}
	}
	ann.must(http.StatusUnprocessableEntity, "PUT", "/v1/admin/merchants/TEA42/webhook", map[string]any{})
	ann.must(http.StatusNotFound, "PUT", "/v1/admin/merchants/NOBODY/webhook", map[string]any{"url": "https://203.0.113.7/x"})
	hook := ann.must(http.StatusOK, "PUT", "/v1/admin/merchants/TEA42/webhook", map[string]any{"url": "https://203.0.113.8/new?sig=" + hookToken})
	secret2, _ := hook.body["secret"].(string)
	if hook.body["webhook"] != "https://203.0.113.8/new?…" || !strings.HasPrefix(secret2, "whsec_") || secret2 == secret {
		t.Errorf("webhook set: %s", hook.raw)
	}
	if a := ann.must(http.StatusOK, "PUT", "/v1/admin/merchants/TEA42/webhook", map[string]any{"url": ""}); a.body["webhook"] != nil || a.body["secret"] != nil {
		t.Errorf("webhook removed: %s", a.raw)
	}
	if a := ann.must(http.StatusOK, "GET", "/v1/admin/merchants/TEA42", nil); a.body["webhook"] != nil {
		t.Errorf("after removing the webhook: %s", a.raw)
	}

	// Terminal mode.
	if a := ann.must(http.StatusOK, "POST", "/v1/admin/merchants/TEA42/terminal", map[string]any{"suspended": true}); a.body["terminal_suspended"] != true || a.body["terminal_suspended_at"] == nil {
		t.Errorf("suspend: %s", a.raw)
	}
	if a := ann.must(http.StatusOK, "POST", "/v1/admin/merchants/TEA42/terminal", map[string]any{"suspended": false}); a.body["terminal_suspended"] != false {
		t.Errorf("resume: %s", a.raw)
	}
	ann.must(http.StatusUnprocessableEntity, "POST", "/v1/admin/merchants/TEA42/terminal", map[string]any{})
	ann.must(http.StatusBadRequest, "POST", "/v1/admin/merchants/TEA42/terminal", map[string]any{"suspended": "yes"})
	ann.must(http.StatusNotFound, "POST", "/v1/admin/merchants/NOBODY/terminal", map[string]any{"suspended": true})

	// The audit log: every call, by ann, and never a secret.
	log := w.auditLog()
	actions := map[string]bool{}
	for _, e := range log {
		actions[e.Action] = true
		if e.Operator != "ann" {
			t.Errorf("audit row of %q: %+v", e.Operator, e)
		}
		row := fmt.Sprintf("%s %s %s %s", e.Operator, e.Action, e.Target, e.Detail)
		for _, s := range []string{account, "7788-", hookToken, "token=", "sig=", key, secret, secret2, annToken} {
			if s != "" && strings.Contains(row, s) {
				t.Errorf("audit row holds %q: %s", s, row)
			}
		}
	}
	for _, a := range []string{"merchant.create", "merchant.list", "merchant.read", "merchant.disable", "merchant.enable", "key.create",
		"key.list", "key.revoke", "webhook.set", "terminal.set"} {
		if !actions[a] {
			t.Errorf("no audit row of %s", a)
		}
	}
	created := slices.IndexFunc(log, func(e store.AuditEntry) bool { return e.Action == "merchant.create" && e.Status == 201 })
	if created < 0 || log[created].Target != "TEA42" || !strings.Contains(log[created].Detail, "PGB ****7788") ||
		!strings.Contains(log[created].Detail, "https://203.0.113.7/hook?…") {
		t.Errorf("creation's audit row: %+v", log[created])
	}
	refused := slices.IndexFunc(log, func(e store.AuditEntry) bool { return e.Action == "merchant.create" && e.Status == 422 })
	if refused < 0 || log[refused].Detail != "invalid: code, name, account" {
		t.Errorf("refusal's audit row: %+v", log)
	}
	// The audit log through the API: newest first, paged, filtered.
	au := ann.must(http.StatusOK, "GET", "/v1/admin/audit?limit=3", nil)
	entries := au.body["entries"].([]any)
	if len(entries) != 3 || entries[0].(map[string]any)["action"] != "terminal.set" {
		t.Fatalf("audit: %s", au.raw)
	}
	last := entries[2].(map[string]any)["id"].(float64)
	older := ann.must(http.StatusOK, "GET", fmt.Sprintf("/v1/admin/audit?limit=2&before=%d", int64(last)), nil)
	if e := older.body["entries"].([]any); len(e) != 2 || e[0].(map[string]any)["id"].(float64) >= last {
		t.Errorf("audit before %v: %s", last, older.raw)
	}
	if e := ann.must(http.StatusOK, "GET", "/v1/admin/audit?action=key.revoke", nil).body["entries"].([]any); len(e) != 3 {
		t.Errorf("key.revoke entries: %v", e)
	}
	ann.must(http.StatusBadRequest, "GET", "/v1/admin/audit?limit=0", nil)
	ann.must(http.StatusBadRequest, "GET", "/v1/admin/audit?before=x", nil)
}

// Subscribers: found (local or international number) with masked
// accounts, lock and pending prompt; blocked (the prompt ends, the phone
// is told) and unlocked; an unknown phone is 404, a bad one 400.
func TestAdminSubscribers(t *testing.T) {
	w, li, _ := moneyWorld(t, withAdmin(t, nil))
	ann := w.operator(annToken)
	mustContain(t, li.one("SEND 13900139000 5"), "Send 5.00 CNY")
	a := ann.must(http.StatusOK, "GET", "/v1/admin/subscribers/13800138000", nil)
	b := a.body
	accounts := b["accounts"].([]any)
	pending, _ := b["pending"].(map[string]any)
	lock := b["lock"].(map[string]any)
	if b["phone"] != liNum || b["pin_set"] != true || b["stopped"] != false || len(accounts) != 1 ||
		accounts[0].(map[string]any)["account"] != "****0001" || lock["locked"] != false || lock["failures"] != 0.0 ||
		pending == nil || pending["kind"] != "send" || pending["stage"] != "pin" || pending["amount"] != 500.0 {
		t.Fatalf("subscriber: %s", a.raw)
	}
	if bytes.Contains(a.raw, []byte(liAcct)) || bytes.Contains(a.raw, []byte("argon2")) {
		t.Fatalf("the view holds a secret: %s", a.raw)
	}
	ann.must(http.StatusOK, "GET", "/v1/admin/subscribers/%2B8613800138000", nil)

	a = ann.must(http.StatusOK, "POST", "/v1/admin/subscribers/+8613800138000/block", nil)
	if lock := a.body["lock"].(map[string]any); lock["locked"] != true || lock["operator"] != true || a.body["pending"] != nil {
		t.Fatalf("blocked: %s", a.raw)
	}
	li.expect(1) // told of the block
	mustContain(t, li.one("BAL"), "locked")
	ann.must(http.StatusOK, "POST", "/v1/admin/subscribers/+8613800138000/block", nil)
	li.quiet() // a second block tells nothing
	a = ann.must(http.StatusOK, "POST", "/v1/admin/subscribers/+8613800138000/unlock", nil)
	if lock := a.body["lock"].(map[string]any); lock["locked"] != false || lock["operator"] != false {
		t.Fatalf("unlocked: %s", a.raw)
	}
	li.expect(1) // told of the unlock

	for _, path := range []string{"/v1/admin/subscribers/+8613700000000", "/v1/admin/subscribers/+8613700000000/block", "/v1/admin/subscribers/+8613700000000/unlock"} {
		method := "POST"
		if !strings.HasSuffix(path, "block") && !strings.HasSuffix(path, "unlock") {
			method = "GET"
		}
		if a := ann.call(method, path, nil); a.status != http.StatusNotFound || a.code() != "not_found" {
			t.Errorf("%s %s: %d %s", method, path, a.status, a.raw)
		}
	}
	if a := ann.call("GET", "/v1/admin/subscribers/not-a-phone", nil); a.status != http.StatusBadRequest || a.code() != "invalid_request" {
		t.Errorf("a bad phone: %d %s", a.status, a.raw)
	}
	var acts []string
	for _, e := range w.auditLog() {
		acts = append(acts, fmt.Sprintf("%s %s %d %s", e.Action, e.Target, e.Status, e.Detail))
	}
	for _, want := range []string{"subscriber.read +8613800138000 200 ", "subscriber.block +8613800138000 200 blocked",
		"subscriber.unlock +8613800138000 200 unlocked", "subscriber.block +8613700000000 404 not found", "subscriber.read not-a-phone 400 invalid request"} {
		if !slices.Contains(acts, want) {
			t.Errorf("no audit row %q in\n%s", want, strings.Join(acts, "\n"))
		}
	}
}

// Transfers: by reference (any case), by payer and state, with masked
// accounts; bad filters are 400.
func TestAdminTransfers(t *testing.T) {
	w := newWorld(t, withAdmin(t, nil))
	ann := w.operator(annToken)
	done := w.newTransfer(500, flows.TransferCompleted)
	w.clock.add(time.Second)
	cancelled := w.newTransfer(700, flows.TransferCancelled)

	a := ann.must(http.StatusOK, "GET", "/v1/admin/transfers?reference="+strings.ToLower(done.Ref), nil)
	list := a.body["transfers"].([]any)
	if len(list) != 1 {
		t.Fatalf("by reference: %s", a.raw)
	}
	tr := list[0].(map[string]any)
	if tr["reference"] != done.Ref || tr["state"] != "completed" || tr["amount"] != 500.0 || tr["currency"] != "CNY" ||
		tr["debit"].(map[string]any)["account"] != "****0001" || tr["credit"].(map[string]any)["account"] != "****0002" ||
		tr["payer"] != "+8613800138000" {
		t.Errorf("transfer: %s", a.raw)
	}
	if bytes.Contains(a.raw, []byte("6222020000000001")) || bytes.Contains(a.raw, []byte("6222020000000002")) {
		t.Errorf("an account number in full: %s", a.raw)
	}
	for _, c := range []struct {
		query string
		refs  []string
	}{
		{"", []string{cancelled.Ref, done.Ref}},
		{"?phone=13800138000", []string{cancelled.Ref, done.Ref}},
		{"?phone=13900139000", nil},
		{"?state=cancelled", []string{cancelled.Ref}},
		{"?limit=1", []string{cancelled.Ref}},
		{"?reference=" + done.Ref + "&state=cancelled", nil},
		{"?reference=AAAAAAAA", nil},
	} {
		a := ann.must(http.StatusOK, "GET", "/v1/admin/transfers"+c.query, nil)
		var refs []string
		for _, x := range a.body["transfers"].([]any) {
			refs = append(refs, x.(map[string]any)["reference"].(string))
		}
		if !slices.Equal(refs, c.refs) {
			t.Errorf("%q: %v, want %v", c.query, refs, c.refs)
		}
	}
	for _, q := range []string{"?state=lost", "?phone=x", "?limit=0", "?limit=501", "?reference=T7K2-QXM4"} {
		if a := ann.call("GET", "/v1/admin/transfers"+q, nil); a.status != http.StatusBadRequest || a.code() != "invalid_request" {
			t.Errorf("%q: %d %s", q, a.status, a.raw)
		}
	}
	log := w.auditLog()
	if e := log[0]; e.Action != "transfer.search" || e.Target != "reference="+done.Ref || e.Detail != "1 found" {
		t.Errorf("audit row %+v", e)
	}
}

// The SMSC binds; routes that do not exist are 404 and a wrong method
// 405, both audited.
func TestAdminSMSCAndUnknownRoutes(t *testing.T) {
	w := newWorld(t, withAdmin(t, nil))
	ann := w.operator(annToken)
	a := ann.must(http.StatusOK, "GET", "/v1/admin/smsc", nil)
	binds := a.body["binds"].([]any)
	if len(binds) != 1 || binds[0].(map[string]any)["name"] != "carrier-a" || binds[0].(map[string]any)["up"] != true ||
		len(binds[0].(map[string]any)["connections"].([]any)) == 0 {
		t.Errorf("smsc: %s", a.raw)
	}
	if bytes.Contains(a.raw, []byte("secret")) { // the bind's password
		t.Errorf("smsc shows the password: %s", a.raw)
	}
	if a := ann.call("GET", "/v1/admin/nothing", nil); a.status != http.StatusNotFound || a.code() != "not_found" {
		t.Errorf("unknown route: %d %s", a.status, a.raw)
	}
	a = ann.call("DELETE", "/v1/admin/smsc", nil)
	if a.status != http.StatusMethodNotAllowed || a.code() != "method_not_allowed" || a.header.Get("Allow") != "GET" {
		t.Errorf("wrong method: %d %v %s", a.status, a.header, a.raw)
	}
	a = ann.call("PUT", "/v1/admin/merchants/DEMO", nil)
	if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "GET" {
		t.Errorf("wrong method: %d %v %s", a.status, a.header, a.raw)
	}
	log := w.auditLog()
	if len(log) != 4 || log[0].Action != "smsc.read" || log[0].Detail != "1 of 1 up" ||
		log[1].Action != "unknown" || log[1].Status != 404 || log[1].Target != "/v1/admin/nothing" || log[2].Status != 405 {
		t.Errorf("audit %+v", log)
	}
}

// Idempotency-Key on the admin API: a retried POST replays its answer —
// the same API key, made once — in the operator's own scope; the key
// with another request is 409; a key already in flight is
// idempotency_in_progress; a bad key is 400. Each call is audited, the
// replays marked.
func TestAdminIdempotency(t *testing.T) {
	w := adminWorld(t)
	ann, bob := w.operator(annToken), w.operator(bobToken)
	first := ann.must(http.StatusCreated, "POST", "/v1/admin/merchants/DEMO/keys", nil, "Idempotency-Key", "make-key-1")
	again := ann.must(http.StatusCreated, "POST", "/v1/admin/merchants/DEMO/keys", nil, "Idempotency-Key", "make-key-1")
	if !bytes.Equal(first.raw, again.raw) || again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("replay:\n%s %v\n%s %v", first.raw, first.header, again.raw, again.header)
	}
	other := bob.must(http.StatusCreated, "POST", "/v1/admin/merchants/DEMO/keys", nil, "Idempotency-Key", "make-key-1")
	if other.body["key"] == first.body["key"] {
		t.Fatalf("bob got ann's answer")
	}
	if keys, err := w.gw.DB().APIKeys(context.Background(), "DEMO"); err != nil || len(keys) != 2 {
		t.Fatalf("%d keys made, want 2: %v", len(keys), err)
	}
	if a := ann.must(http.StatusConflict, "POST", "/v1/admin/merchants/DEMO/disable", nil, "Idempotency-Key", "make-key-1"); a.code() != "idempotency_conflict" {
		t.Errorf("another request: %s", a.raw)
	}
	if a := ann.must(http.StatusConflict, "POST", "/v1/admin/merchants", map[string]any{"code": "X1"}, "Idempotency-Key", "make-key-1"); a.code() != "idempotency_conflict" {
		t.Errorf("another request: %s", a.raw)
	}
	for _, key := range []string{strings.Repeat("k", 256), "naïve"} {
		if a := ann.must(http.StatusBadRequest, "POST", "/v1/admin/merchants/DEMO/keys", nil, "Idempotency-Key", key); a.code() != "invalid_request" {
			t.Errorf("key %q: %s", key, a.raw)
		}
	}
	// A request with the key still being answered: claim it as the
	// gateway does, from another process that is still at it.
	req := []byte("POST\x00/v1/admin/merchants/DEMO/disable\x00")
	if kept, err := w.gw.DB().ClaimIdempotency(context.Background(), "operator:ann", "in-flight", req); kept != nil || err != nil {
		t.Fatal(kept, err)
	}
	a := ann.must(http.StatusConflict, "POST", "/v1/admin/merchants/DEMO/disable", nil, "Idempotency-Key", "in-flight")
	if a.code() != "idempotency_in_progress" || a.header.Get("Retry-After") == "" {
		t.Errorf("in progress: %v %s", a.header, a.raw)
	}
	if m, _ := w.gw.DB().MerchantByCode(context.Background(), "DEMO"); m.Disabled {
		t.Error("DEMO was disabled")
	}
	// A PUT takes the key too: the webhook's secret is not made twice.
	h1 := ann.must(http.StatusOK, "PUT", "/v1/admin/merchants/DEMO/webhook", map[string]any{"url": "https://203.0.113.7/h"}, "Idempotency-Key", "hook")
	h2 := ann.must(http.StatusOK, "PUT", "/v1/admin/merchants/DEMO/webhook", map[string]any{"url": "https://203.0.113.7/h"}, "Idempotency-Key", "hook")
	if h1.body["secret"] == nil || h1.body["secret"] != h2.body["secret"] {
		t.Errorf("webhook replay: %s / %s", h1.raw, h2.raw)
	}
	var replayed int
	for _, e := range w.auditLog() {
		if strings.HasPrefix(e.Detail, "replayed") {
			replayed++
		}
		if strings.Contains(e.Detail, "pk_") && strings.Contains(e.Detail, first.body["key"].(string)) {
			t.Errorf("audit row holds the key: %+v", e)
		}
	}
	if replayed != 2 {
		t.Errorf("%d replays audited, want 2", replayed)
	}
	if re := regexp.MustCompile(`whsec_[0-9a-f]+`); re.Match([]byte(fmt.Sprint(w.auditLog()))) {
		t.Error("a webhook secret in the audit log")
	}
}

// The merchant API's answers match openapi.json too: a request made,
// read, a wrong code refused, an unknown request.
func TestOpenAPIMerchantAnswers(t *testing.T) {
	w, li, _ := moneyWorld(t)
	shop := w.apiKey("DEMO")
	check := func(method, path string, status int, body map[string]any) {
		t.Helper()
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		gateway.ValidateAPIResponse(t, method, path, status, raw)
	}
	st, body := shop.request("13800138000", 1250, "terminal", liPIN)
	want(t, "request", st, http.StatusCreated, body)
	check("POST", "/v1/payment-requests", st, body)
	id := body["id"].(string)
	li.expect(1)
	st, body = shop.call("GET", "/v1/payment-requests/"+id, nil)
	check("GET", "/v1/payment-requests/"+id, st, body)
	st, body = shop.call("POST", "/v1/payment-requests/"+id+"/code", map[string]string{"code": "000000"})
	if st == http.StatusAccepted { // the one code in a million
		t.Skip("000000 was the code")
	}
	check("POST", "/v1/payment-requests/"+id+"/code", st, body)
	st, body = shop.call("GET", "/v1/payment-requests/nothing", nil)
	check("GET", "/v1/payment-requests/nothing", st, body)
	st, body = shop.call("POST", "/v1/payment-requests", map[string]any{"merchant": "DEMO"})
	check("POST", "/v1/payment-requests", st, body)
}
