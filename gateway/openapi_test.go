package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/config"
)

// The OpenAPI document (openapi.json) is held to the gateway: the
// operations it lists are exactly the API routes a running gateway
// serves (g.apiPatterns), every operation declares its answers with the
// SPEC's error body, and ValidateAPIResponse lets the API's tests check
// real answers against it.

// openAPI is the parsed document.
type openAPI struct {
	raw map[string]any
}

func loadOpenAPI(t testing.TB) openAPI {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(openAPIDoc, &raw); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return openAPI{raw: raw}
}

// obj is v as a JSON object (nil when it is not one).
func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// resolve follows a $ref within the document.
func (d openAPI) resolve(v any) (map[string]any, error) {
	m := obj(v)
	for i := 0; m != nil && m["$ref"] != nil; i++ {
		ref, _ := m["$ref"].(string)
		if !strings.HasPrefix(ref, "#/") || i > 10 {
			return nil, fmt.Errorf("$ref %q", ref)
		}
		var cur any = d.raw
		for _, part := range strings.Split(ref[2:], "/") {
			cur = obj(cur)[part]
		}
		if obj(cur) == nil {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		m = obj(cur)
	}
	if m == nil {
		return nil, fmt.Errorf("not an object: %v", v)
	}
	return m, nil
}

// operations returns "METHOD /path" → operation.
func (d openAPI) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range obj(d.raw["paths"]) {
		for method, op := range obj(item) {
			switch method {
			case "get", "post", "put", "delete", "patch":
				out[strings.ToUpper(method)+" "+path] = obj(op)
			}
		}
	}
	return out
}

// testGateway starts a gateway with no SMSC and no bank, its admin token
// file in its directory, and returns it.
func testGateway(t *testing.T) *Gateway {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	for name, hex := range map[string]string{"data.key": "ab", "pepper.key": "cd"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat(hex, 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Keys.DataKeyFile, cfg.Keys.PepperFile = filepath.Join(dir, "data.key"), filepath.Join(dir, "pepper.key")
	cfg.Database = config.SecretURL("sqlite:" + filepath.Join(dir, "paygate.db"))
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Admin.TokenFile = filepath.Join(dir, "admin.token")
	cfg.Timezone = "UTC"
	g, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Close(ctx)
	})
	return g
}

// goPattern turns a served pattern into the document's form: "{id...}"
// and "{$}" as OpenAPI writes them.
func goPattern(p string) string {
	p = strings.ReplaceAll(p, "...}", "}")
	return strings.TrimSuffix(p, "{$}")
}

// The document lists exactly the API routes served, both ways.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	g := testGateway(t)
	served := map[string]bool{}
	for _, p := range g.apiPatterns {
		served[goPattern(p)] = true
	}
	listed := doc.operations()
	for p := range served {
		if listed[p] == nil {
			t.Errorf("served but not in openapi.json: %s", p)
		}
	}
	for p := range listed {
		if !served[p] {
			t.Errorf("in openapi.json but not served: %s", p)
		}
	}
	if len(served) < 20 {
		t.Errorf("only %d routes served: %v", len(served), g.apiPatterns)
	}
}

// Every operation declares its answers — a 2xx, 401 unless it is
// public, 400 and 409 when it takes Idempotency-Key (every POST and
// PUT), 503 — and every error answer is the SPEC's error body; every
// path parameter is declared; every $ref resolves.
func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	if v := doc.raw["openapi"]; v != "3.1.0" {
		t.Errorf("openapi %v", v)
	}
	ids := map[string]string{}
	for key, op := range doc.operations() {
		method, path, _ := strings.Cut(key, " ")
		id, _ := op["operationId"].(string)
		if id == "" || ids[id] != "" {
			t.Errorf("%s: operationId %q missing or also %s's", key, id, ids[id])
		}
		ids[id] = key
		responses := obj(op["responses"])
		if len(responses) == 0 {
			t.Errorf("%s: no responses", key)
			continue
		}
		public := op["security"] != nil && len(op["security"].([]any)) == 0
		var codes []string
		for code := range responses {
			codes = append(codes, code)
		}
		has := func(code string) bool { return slices.Contains(codes, code) }
		if !slices.ContainsFunc(codes, func(c string) bool { return c[0] == '2' }) {
			t.Errorf("%s: no 2xx answer: %v", key, codes)
		}
		if !public && (!has("401") || !has("503")) {
			t.Errorf("%s: declares no 401 or 503: %v", key, codes)
		}
		var params []string
		declared, _ := op["parameters"].([]any)
		for _, p := range declared {
			pm, err := doc.resolve(p)
			if err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			params = append(params, pm["in"].(string)+":"+pm["name"].(string))
		}
		if method == "POST" || method == "PUT" {
			if !slices.Contains(params, "header:Idempotency-Key") || !has("409") || !has("400") {
				t.Errorf("%s: no Idempotency-Key, 400 or 409: %v %v", key, params, codes)
			}
		}
		for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(path, -1) {
			if !slices.Contains(params, "path:"+m[1]) {
				t.Errorf("%s: path parameter %s undeclared", key, m[1])
			}
		}
		for _, code := range codes {
			resp, err := doc.resolve(responses[code])
			if err != nil {
				t.Errorf("%s %s: %v", key, code, err)
				continue
			}
			if resp["description"] == nil {
				t.Errorf("%s %s: no description", key, code)
			}
			n, _ := strconv.Atoi(code)
			if n < 400 {
				continue
			}
			schema := obj(obj(obj(resp["content"])["application/json"])["schema"])
			if schema["$ref"] != "#/components/schemas/Error" {
				t.Errorf("%s %s: the error answer is %v, not the Error schema", key, code, schema)
			}
		}
	}
	// The SPEC's error body: {"error": {"code", "message"}}, both strings.
	e, err := doc.resolve(map[string]any{"$ref": "#/components/schemas/Error"})
	if err != nil {
		t.Fatal(err)
	}
	inner := obj(obj(e["properties"])["error"])
	if !slices.Equal(toStrings(e["required"]), []string{"error"}) || !slices.Equal(toStrings(inner["required"]), []string{"code", "message"}) ||
		obj(obj(inner["properties"])["code"])["type"] != "string" || obj(obj(inner["properties"])["message"])["type"] != "string" {
		t.Errorf("the Error schema is not SPEC §7's: %v", e)
	}
	// Webhooks: the event body and the signature header.
	hook := obj(obj(obj(doc.raw["webhooks"])["paymentRequestFinished"])["post"])
	body := obj(obj(obj(hook["requestBody"])["content"])["application/json"])["schema"]
	if obj(body)["$ref"] != "#/components/schemas/WebhookEvent" || !strings.Contains(fmt.Sprint(hook["parameters"]), "Paygate-Signature") {
		t.Errorf("webhooks: %v", hook)
	}
	ev, err := doc.resolve(body)
	if err != nil || !slices.Equal(toStrings(ev["required"]), []string{"id", "type", "created_at", "data"}) {
		t.Errorf("WebhookEvent %v, %v", ev, err)
	}
	// Every $ref anywhere resolves.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["$ref"]; ok {
				if _, err := doc.resolve(x); err != nil {
					t.Error(err)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc.raw)
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// The document is served, without a token, as it is embedded.
func TestOpenAPIServed(t *testing.T) {
	g := testGateway(t)
	resp, err := http.Get("http://" + g.HTTPAddr() + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || string(body) != string(openAPIDoc) {
		t.Fatalf("%d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}
}

// ValidateAPIResponse checks an API answer against openapi.json: the
// operation of method at path (a concrete path, "/v1/admin/merchants/DEMO",
// its query ignored) must declare status, and body must match its schema
// — types, required properties, no others where the schema says so,
// enums, patterns and date-times. The API's tests call it on what they
// get.
func ValidateAPIResponse(t testing.TB, method, path string, status int, body []byte) {
	t.Helper()
	doc := loadOpenAPI(t)
	path, _, _ = strings.Cut(path, "?")
	var op map[string]any
	var pattern string
	for key, o := range doc.operations() {
		m, tmpl, _ := strings.Cut(key, " ")
		re := "^" + regexp.MustCompile(`\\\{\w+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$"
		// A literal segment wins over a parameter: the longest template.
		if m == method && regexp.MustCompile(re).MatchString(path) && len(tmpl) > len(pattern) {
			op, pattern = o, tmpl
		}
	}
	if op == nil {
		t.Errorf("openapi.json has no operation %s %s", method, path)
		return
	}
	code := strconv.Itoa(status)
	r := obj(op["responses"])[code]
	if r == nil {
		r = obj(op["responses"])[code[:1]+"XX"]
	}
	if r == nil {
		t.Errorf("%s %s: answer %d is not in openapi.json", method, pattern, status)
		return
	}
	resp, err := doc.resolve(r)
	if err != nil {
		t.Error(err)
		return
	}
	schema := obj(obj(resp["content"])["application/json"])["schema"]
	if schema == nil {
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s %s %d: not JSON: %q", method, pattern, status, body)
		return
	}
	for _, p := range doc.check(schema, v, "$") {
		t.Errorf("%s %s %d: %s\n%s", method, pattern, status, p, body)
	}
}

// check returns where v breaks schema.
func (d openAPI) check(schema, v any, at string) []string {
	s, err := d.resolve(schema)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	if alts, ok := s["oneOf"].([]any); ok {
		for _, alt := range alts {
			if len(d.check(alt, v, at)) == 0 {
				return nil
			}
		}
		return []string{at + ": matches none of oneOf"}
	}
	var types []string
	switch tv := s["type"].(type) {
	case string:
		types = []string{tv}
	case []any:
		types = toStrings(tv)
	}
	kind := jsonKind(v)
	if len(types) > 0 && !slices.Contains(types, kind) && !(kind == "integer" && slices.Contains(types, "number")) {
		return []string{fmt.Sprintf("%s: %s, want %v", at, kind, types)}
	}
	var out []string
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		out = append(out, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	switch x := v.(type) {
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			out = append(out, fmt.Sprintf("%s: %q does not match %s", at, x, p))
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				out = append(out, fmt.Sprintf("%s: %q is not a date-time", at, x))
			}
		}
	case map[string]any:
		props := obj(s["properties"])
		for _, r := range toStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				out = append(out, fmt.Sprintf("%s: no %s", at, r))
			}
		}
		for k, sub := range x {
			ps, ok := props[k]
			if !ok {
				if s["additionalProperties"] == false {
					out = append(out, fmt.Sprintf("%s: %s is not in the schema", at, k))
				}
				continue
			}
			out = append(out, d.check(ps, sub, at+"."+k)...)
		}
	case []any:
		if items := s["items"]; items != nil {
			for i, e := range x {
				out = append(out, d.check(items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return out
}

// jsonKind is the JSON Schema type of a decoded JSON value.
func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// The checker of ValidateAPIResponse finds what is wrong.
func TestOpenAPICheckerFinds(t *testing.T) {
	doc := loadOpenAPI(t)
	merchant := map[string]any{"$ref": "#/components/schemas/Merchant"}
	good := `{"code":"DEMO","name":"Demo","bank":"PGB","account":"****9001","disabled":false,"terminal_suspended":false,"created_at":"2026-01-02T03:04:05Z"}`
	for _, c := range []struct {
		name, body string
		problems   int
	}{
		{"good", good, 0},
		{"missing", `{"code":"DEMO"}`, 6},
		{"extra", strings.Replace(good, `"code"`, `"pin":"1234","code"`, 1), 1},
		{"wrong type", strings.Replace(good, `"disabled":false`, `"disabled":"no"`, 1), 1},
		{"not a time", strings.Replace(good, `2026-01-02T03:04:05Z`, `yesterday`, 1), 1},
	} {
		var v any
		if err := json.Unmarshal([]byte(c.body), &v); err != nil {
			t.Fatal(err)
		}
		if got := doc.check(merchant, v, "$"); len(got) != c.problems {
			t.Errorf("%s: %d problems, want %d: %v", c.name, len(got), c.problems, got)
		}
	}
	pr := map[string]any{"$ref": "#/components/schemas/PaymentRequest"}
	var v any
	json.Unmarshal([]byte(`{"id":"x","merchant":"DEMO","phone":"****8000","amount":1.5,"currency":"CNY","reference":"","mode":"card",
		"status":"paid","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","expires_at":"2026-01-02T03:04:05Z",
		"receipt":{"reference":"short"}}`), &v)
	if got := doc.check(pr, v, "$"); len(got) < 4 {
		t.Errorf("a bad payment request: %v", got)
	}
}
