package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// canary is a password that must never be printed.
const canary = "Zq7wPx2k"

// environ is a getenv over a fixed map: tests never see the real
// environment.
func environ(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// writeConfig writes a config file into a new temporary directory and
// returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "paygate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// minimal is a file that validates: one bind and a bank.
const minimal = `
smsc:
  - name: carrier-a
    addr: 127.0.0.1:2775
    system_id: paygate
    password: ` + canary + `
bank:
  kind: http
  url: http://127.0.0.1:9090
  secret_file: bank.secret
`

// valid returns a config that passes Validate.
func valid() Config {
	c := Default()
	s := DefaultSMSC()
	s.Name, s.Addr, s.SystemID, s.Password = "carrier-a", "127.0.0.1:2775", "paygate", canary
	c.SMSC = []SMSC{s}
	c.Bank = DefaultBank()
	c.Bank.URL, c.Bank.SecretFile = "http://127.0.0.1:9090", "bank.secret"
	return c
}

// problemsOf returns the KeyErrors joined in err.
func problemsOf(t *testing.T, err error) []*KeyError {
	t.Helper()
	if err == nil {
		return nil
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var out []*KeyError
	for _, e := range list {
		var ke *KeyError
		if !errors.As(e, &ke) {
			t.Fatalf("problem %v (%T) is not a *KeyError", e, e)
		}
		out = append(out, ke)
	}
	return out
}

func TestDefault(t *testing.T) {
	d := Default()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"database", d.Database.Reveal(), "sqlite:paygate.db"},
		{"http.listen", d.HTTP.Listen, "127.0.0.1:8080"},
		{"currency", d.Currency, "CNY"},
		{"country", d.Country, "86"},
		{"timezone", d.Timezone, "Asia/Shanghai"},
		{"language", d.Language, "en"},
		{"short_code", d.ShortCode, "3030"},
		{"ussd_code", d.USSDCode, "*384#"},
		{"pin_length", d.PINLength, 6},
		{"limits.per_transfer", d.Limits.PerTransfer, int64(5000000)},
		{"limits.per_day", d.Limits.PerDay, int64(20000000)},
		{"fees", d.Fees, Fees{}},
		{"dedupe_window", d.DedupeWindow, 10 * time.Minute},
		{"admin.token_file", d.Admin.TokenFile, "admin.token"},
		{"ussd_http.token_file", d.USSDHTTP.TokenFile, "ussd.token"},
		{"ussd_http.trusted", d.USSDHTTP.Trusted, false},
		{"routes", len(d.Routes), 0},
		{"smsc", len(d.SMSC), 0},
		{"bank", d.HasBank(), false},
		{"keys.pepper_file", d.Keys.PepperFile, "pepper.key"},
		{"keys.data_key_file", d.Keys.DataKeyFile, "data.key"},
		{"log.level", d.Log.Level, "info"},
		{"log.format", d.Log.Format, "text"},
		{"smsc[].bind", DefaultSMSC().Bind, "transceiver"},
		{"smsc[].window", DefaultSMSC().Window, 10},
		{"smsc[].rate", DefaultSMSC().Rate, 100.0},
		{"smsc[].trusted", DefaultSMSC().Trusted, true},
		{"smsc[].ussd_session", DefaultSMSC().USSDSession, "its_session_info"},
		{"smsc[].enquire_interval", DefaultSMSC().EnquireInterval, 30 * time.Second},
		{"smsc[].response_timeout", DefaultSMSC().ResponseTimeout, 10 * time.Second},
		{"smsc[].receipts", DefaultSMSC().Receipts, true},
		{"bank.kind", DefaultBank().Kind, "http"},
		{"bank.code", DefaultBank().Code, "PGB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("default %s = %#v, want %#v", tt.name, tt.got, tt.want)
			}
		})
	}
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().ValidateSandbox(); err != nil {
		t.Errorf("Default().ValidateSandbox() = %v, want nil", err)
	}
	// For a deployment, only what has no default is missing.
	var keys []string
	for _, p := range problemsOf(t, Default().Validate()) {
		keys = append(keys, p.Key)
	}
	if want := []string{"smsc", "bank"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("Default().Validate() is about %q, want %q", keys, want)
	}
}

// TestLoadPrecedence checks that the file wins over the defaults and
// the environment over the file.
func TestLoadPrecedence(t *testing.T) {
	file := minimal + `
database: postgres://paygate@db.example/paygate
http: { listen: 0.0.0.0:80 }
limits: { per_day: 300 }
fees: { pay: { percent: 0.5 } }
dedupe_window: 5m
`
	tests := []struct {
		name string
		env  map[string]string
		get  func(Config) any
		want any
	}{
		{name: "default", get: func(c Config) any { return c.Currency }, want: "CNY"},
		{name: "file over default", get: func(c Config) any { return c.HTTP.Listen }, want: "0.0.0.0:80"},
		{
			name: "environment over file",
			env:  map[string]string{"PAYGATE_HTTP__LISTEN": "127.0.0.1:9999"},
			get:  func(c Config) any { return c.HTTP.Listen }, want: "127.0.0.1:9999",
		},
		{
			name: "environment over default",
			env:  map[string]string{"PAYGATE_CURRENCY": "USD"},
			get:  func(c Config) any { return c.Currency }, want: "USD",
		},
		{
			name: "database",
			env:  map[string]string{"PAYGATE_DATABASE": "postgres://other@db2.example/p"},
			get:  func(c Config) any { return c.Database.Reveal() }, want: "postgres://other@db2.example/p",
		},
		{
			name: "int64",
			env:  map[string]string{"PAYGATE_LIMITS__PER_DAY": "400"},
			get:  func(c Config) any { return c.Limits }, want: Limits{PerTransfer: 5000000, PerDay: 400},
		},
		{
			name: "sibling keeps the file's value",
			env:  map[string]string{"PAYGATE_LIMITS__PER_TRANSFER": "100"},
			get:  func(c Config) any { return c.Limits }, want: Limits{PerTransfer: 100, PerDay: 300},
		},
		{
			name: "float",
			env:  map[string]string{"PAYGATE_FEES__PAY__PERCENT": "1.25"},
			get:  func(c Config) any { return c.Fees.Pay.Percent }, want: 1.25,
		},
		{
			name: "duration",
			env:  map[string]string{"PAYGATE_DEDUPE_WINDOW": "90s"},
			get:  func(c Config) any { return c.DedupeWindow }, want: 90 * time.Second,
		},
		{
			name: "bool",
			env:  map[string]string{"PAYGATE_SMSC__0__RECEIPTS": "false"},
			get:  func(c Config) any { return c.SMSC[0].Receipts }, want: false,
		},
		{
			name: "password",
			env:  map[string]string{"PAYGATE_SMSC__0__PASSWORD": "fromenv"},
			get:  func(c Config) any { return c.SMSC[0].Password.Reveal() }, want: "fromenv",
		},
		{
			name: "empty variable is unset",
			env:  map[string]string{"PAYGATE_SMSC__0__PASSWORD": ""},
			get:  func(c Config) any { return c.SMSC[0].Password.Reveal() }, want: canary,
		},
		{
			name: "bank key",
			env:  map[string]string{"PAYGATE_BANK__CODE": "XYZ"},
			get:  func(c Config) any { return c.Bank.Code }, want: "XYZ",
		},
		{
			name: "variables of other programs are ignored",
			env:  map[string]string{"PAYGATE_LOG_LEVEL": "debug", "PAYGATE_HTTP_LISTEN": "x"},
			get:  func(c Config) any { return []string{c.Log.Level, c.HTTP.Listen} }, want: []string{"info", "0.0.0.0:80"},
		},
	}
	path := writeConfig(t, file)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(path, environ(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestLoadSpecExample(t *testing.T) {
	c, err := Load("testdata/spec.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	b := c.SMSC[1]
	want := SMSC{
		Name: "carrier-b", Addr: "smsc.carrier-b.example:2775", SystemID: "paygate",
		Bind: BindTransmitterReceiver, Window: 10, Rate: 100, Trusted: false,
		USSDSession: SessionUserMessageReference, EnquireInterval: time.Minute,
		ResponseTimeout: 10 * time.Second, Receipts: false,
	}
	if b != want {
		t.Errorf("smsc[1] = %+v\nwant %+v", b, want)
	}
	if c.Fees.Pay != (Fee{Flat: 100, Percent: 0.5}) {
		t.Errorf("fees.pay = %+v", c.Fees.Pay)
	}
	if c.Log != (Log{Level: "debug", Format: "json"}) {
		t.Errorf("log = %+v", c.Log)
	}
}

// TestItemDefaults checks that the keys a bind or bank leaves out take
// their defaults, from the file and from the environment alike.
func TestItemDefaults(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
	}{
		{name: "file", file: "smsc: [{name: a, addr: 'h:1'}]\nbank: {kind: sim}\n"},
		{name: "environment", env: map[string]string{
			"PAYGATE_SMSC__0__NAME": "a", "PAYGATE_SMSC__0__ADDR": "h:1", "PAYGATE_BANK__KIND": "sim",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, tt.file), environ(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultSMSC()
			want.Name, want.Addr = "a", "h:1"
			if len(c.SMSC) != 1 || c.SMSC[0] != want {
				t.Errorf("smsc = %+v, want [%+v]", c.SMSC, want)
			}
			wantBank := DefaultBank()
			wantBank.Kind = BankSim
			if c.Bank != wantBank {
				t.Errorf("bank = %+v, want %+v", c.Bank, wantBank)
			}
		})
	}
}

func TestLoadEnvCreatesItems(t *testing.T) {
	oneBind := "smsc: [{name: a, addr: 'h:1'}]\n"
	names := func(c Config) []string {
		var n []string
		for _, s := range c.SMSC {
			n = append(n, s.Name+"@"+s.Addr)
		}
		return n
	}
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{
			name: "bind 0 with no smsc in the file",
			env:  map[string]string{"PAYGATE_SMSC__0__ADDR": "h:2"},
			want: []string{"@h:2"},
		},
		{
			name: "two binds",
			env: map[string]string{
				"PAYGATE_SMSC__0__NAME": "x", "PAYGATE_SMSC__1__NAME": "y", "PAYGATE_SMSC__1__ADDR": "h:3",
			},
			want: []string{"x@", "y@h:3"},
		},
		{
			name: "after the file's",
			file: oneBind,
			env:  map[string]string{"PAYGATE_SMSC__1__NAME": "b"},
			want: []string{"a@h:1", "b@"},
		},
		{
			name: "over the file's",
			file: oneBind,
			env:  map[string]string{"PAYGATE_SMSC__0__NAME": "z"},
			want: []string{"z@h:1"},
		},
		{
			name: "no variables",
			file: oneBind,
			want: []string{"a@h:1"},
		},
		{
			name:    "past a gap",
			file:    oneBind,
			env:     map[string]string{"PAYGATE_SMSC__2__NAME": "c"},
			wantErr: "PAYGATE_SMSC__2__NAME: smsc[2]: smsc has no item 1",
		},
		{
			name:    "past a gap with nothing in the file",
			env:     map[string]string{"PAYGATE_SMSC__1__ADDR": "h:3"},
			wantErr: "PAYGATE_SMSC__1__ADDR: smsc[1]: smsc has no item 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, tt.file), environ(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("binds %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("route and bank", func(t *testing.T) {
		c, err := Load("", environ(map[string]string{
			"PAYGATE_ROUTES__0__PREFIX": "+86138", "PAYGATE_ROUTES__0__SMSC": "a",
			"PAYGATE_BANK__SECRET_FILE": "bank.secret",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if want := []Route{{Prefix: "+86138", SMSC: "a"}}; !reflect.DeepEqual(c.Routes, want) {
			t.Errorf("routes %+v, want %+v", c.Routes, want)
		}
		if !c.HasBank() || c.Bank.SecretFile != "bank.secret" || c.Bank.Code != "PGB" {
			t.Errorf("bank %+v, want one with secret_file bank.secret and the defaults", c.Bank)
		}
	})
}

// TestEveryKeyHasAVariable sets each scalar key through its variable
// and checks that it changed: the walk misses none.
func TestEveryKeyHasAVariable(t *testing.T) {
	base := valid()
	base.Routes = []Route{{Prefix: "+86", SMSC: "carrier-a"}}
	path := writeConfig(t, "")

	var walk func(v reflect.Value, key string, vars []string)
	count := 0
	walk = func(v reflect.Value, key string, vars []string) {
		switch {
		case isScalar(v.Type()):
			count++
			var val string
			switch {
			case v.Type() == durationType:
				val = "7s"
			case v.Kind() == reflect.String:
				val = "set-by-env"
			case v.Kind() == reflect.Bool:
				val = fmt.Sprint(!v.Bool())
			case v.CanInt():
				val = "7"
			case v.CanFloat():
				val = "0.25"
			}
			name := EnvVar(anySlice(vars)...)
			t.Run(key, func(t *testing.T) {
				// Load from an empty file, then put base's lists and
				// bank in through their variables too.
				env := envOf(base)
				env[name] = val
				c, err := Load(path, environ(env))
				if err != nil {
					t.Fatal(err)
				}
				got := lookup(reflect.ValueOf(c), vars)
				want := reflect.New(v.Type()).Elem()
				if msg := setScalar(want, val); msg != "" {
					t.Fatal(msg)
				}
				if v.Kind() == reflect.String && strings.HasSuffix(key, "_file") {
					want.SetString(filepath.Join(filepath.Dir(path), val))
				}
				if !reflect.DeepEqual(got.Interface(), want.Interface()) {
					t.Errorf("%s=%s: %s is %v, want %v", name, val, key, got, want)
				}
			})
		case v.Kind() == reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", key, i), append(vars[:len(vars):len(vars)], fmt.Sprint(i)))
			}
		case v.Kind() == reflect.Struct:
			for _, f := range orderedFields(v.Type()) {
				walk(v.FieldByIndex(f.index), join(key, f.name), append(vars[:len(vars):len(vars)], f.name))
			}
		}
	}
	walk(reflect.ValueOf(base), "", nil)
	if count < 46 {
		t.Errorf("walked %d keys; Config had 46 when this test was written", count)
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// lookup follows a variable's path of keys and indexes from v.
func lookup(v reflect.Value, path []string) reflect.Value {
	for _, p := range path {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() == reflect.Slice {
			var i int
			fmt.Sscan(p, &i)
			v = v.Index(i)
			continue
		}
		v = v.FieldByIndex(fieldsOf(v.Type())[p].index)
	}
	return v
}

// envOf returns variables that make the lists and bank of c.
func envOf(c Config) map[string]string {
	env := map[string]string{}
	for i, s := range c.SMSC {
		env[EnvVar("smsc", i, "name")] = s.Name
	}
	for i, r := range c.Routes {
		env[EnvVar("routes", i, "prefix")] = r.Prefix
	}
	if c.HasBank() {
		env[EnvVar("bank", "kind")] = c.Bank.Kind
	}
	return env
}

func TestEnvVar(t *testing.T) {
	tests := []struct {
		name string
		path []any
		want string
	}{
		{"top", []any{"database"}, "PAYGATE_DATABASE"},
		{"nested", []any{"bank", "secret_file"}, "PAYGATE_BANK__SECRET_FILE"},
		{"list item", []any{"smsc", 0, "password"}, "PAYGATE_SMSC__0__PASSWORD"},
		{"deep", []any{"fees", "send", "flat"}, "PAYGATE_FEES__SEND__FLAT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EnvVar(tt.path...); got != tt.want {
				t.Errorf("EnvVar(%v) = %s, want %s", tt.path, got, tt.want)
			}
		})
	}
}

func TestLoadEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"int", map[string]string{"PAYGATE_PIN_LENGTH": "six"}, `PAYGATE_PIN_LENGTH: pin_length: "six" is not a whole number`},
		{"int64", map[string]string{"PAYGATE_LIMITS__PER_DAY": "1.5"}, `PAYGATE_LIMITS__PER_DAY: limits.per_day: "1.5" is not a whole number`},
		{"int out of range", map[string]string{"PAYGATE_LIMITS__PER_DAY": "99999999999999999999"}, `PAYGATE_LIMITS__PER_DAY: limits.per_day: "99999999999999999999" is out of range`},
		{"float", map[string]string{"PAYGATE_FEES__SEND__PERCENT": "half"}, `PAYGATE_FEES__SEND__PERCENT: fees.send.percent: "half" is not a number`},
		{"float NaN", map[string]string{"PAYGATE_FEES__SEND__PERCENT": "NaN"}, `PAYGATE_FEES__SEND__PERCENT: fees.send.percent: "NaN" is not a number`},
		{"bool", map[string]string{"PAYGATE_USSD_HTTP__TRUSTED": "yes"}, `PAYGATE_USSD_HTTP__TRUSTED: ussd_http.trusted: "yes" is not true or false`},
		{"duration", map[string]string{"PAYGATE_DEDUPE_WINDOW": "600"}, `PAYGATE_DEDUPE_WINDOW: dedupe_window: "600" is not a duration`},
		{"in a new item", map[string]string{"PAYGATE_SMSC__0__WINDOW": "ten"}, `PAYGATE_SMSC__0__WINDOW: smsc[0].window: "ten" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", environ(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}

	t.Run("all reported", func(t *testing.T) {
		_, err := Load("", environ(map[string]string{"PAYGATE_PIN_LENGTH": "x", "PAYGATE_DEDUPE_WINDOW": "y"}))
		if n := len(problemsOf(t, err)); n != 2 {
			t.Errorf("%d problems, want 2: %v", n, err)
		}
	})
}

func TestLoadStrict(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // each problem, in order
	}{
		{
			name: "unknown key in a bind",
			file: "smsc:\n  - name: a\n    pasword: x\n",
			want: []string{"paygate.yaml:3: smsc[0].pasword: unknown key"},
		},
		{
			name: "unknown top-level key",
			file: "sandbox: true\n",
			want: []string{"paygate.yaml:1: sandbox: unknown key"},
		},
		{
			name: "unknown nested key",
			file: "limits: {per_dya: 5}\n",
			want: []string{"paygate.yaml:1: limits.per_dya: unknown key"},
		},
		{
			name: "unknown key in the second bind",
			file: "smsc:\n  - name: a\n  - name: b\n    windw: 3\n",
			want: []string{"paygate.yaml:4: smsc[1].windw: unknown key"},
		},
		{
			name: "unknown key in bank and route",
			file: "bank: {knd: sim}\nroutes: [{prefix: '+86', bind: a}]\n",
			want: []string{"paygate.yaml:1: bank.knd: unknown key", "paygate.yaml:2: routes[0].bind: unknown key"},
		},
		{
			name: "not a number",
			file: "pin_length: six\n",
			want: []string{`paygate.yaml:1: pin_length: "six" is not a whole number`},
		},
		{
			name: "not a duration",
			file: "smsc: [{response_timeout: 10}]\n",
			want: []string{`paygate.yaml:1: smsc[0].response_timeout: "10" is not a duration such as "10m", "30s" or "1h30m"`},
		},
		{
			name: "not a bool",
			file: "ussd_http: {trusted: maybe}\n",
			want: []string{`paygate.yaml:1: ussd_http.trusted: "maybe" is not true or false`},
		},
		{
			name: "value where a mapping belongs",
			file: "limits: 5\n",
			want: []string{"paygate.yaml:1: limits: expected a mapping of keys to values, found a single value"},
		},
		{
			name: "mapping where a list belongs",
			file: "smsc: {name: a}\n",
			want: []string{"paygate.yaml:1: smsc: expected a list, found a mapping"},
		},
		{
			name: "list where a value belongs",
			file: "smsc: [{password: [a, b]}]\n",
			want: []string{"paygate.yaml:1: smsc[0].password: expected a single value, found a list"},
		},
		{
			name: "top level not a mapping",
			file: "- a\n",
			want: []string{"paygate.yaml:1: expected a mapping of keys to values, found a list"},
		},
		{
			name: "key given twice",
			file: "currency: CNY\ncurrency: USD\n",
			want: []string{"paygate.yaml:2: currency: given twice"},
		},
		{
			name: "two documents",
			file: "currency: CNY\n---\ncurrency: USD\n",
			want: []string{"paygate.yaml: more than one YAML document; the config is one"},
		},
		{
			name: "syntax",
			file: "currency: [CNY\n",
			want: []string{"paygate.yaml: line 1: did not find expected ',' or ']'"},
		},
		{
			name: "every problem",
			file: "currncy: CNY\npin_length: x\nsmsc: [{nme: a}]\n",
			want: []string{
				"paygate.yaml:1: currncy: unknown key",
				`paygate.yaml:2: pin_length: "x" is not a whole number`,
				"paygate.yaml:3: smsc[0].nme: unknown key",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			_, err := Load(path, nil)
			var got []string
			for _, p := range problemsOf(t, err) {
				got = append(got, strings.ReplaceAll(p.Error(), path, "paygate.yaml"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoadYAMLForms(t *testing.T) {
	tests := []struct {
		name string
		file string
		get  func(Config) any
		want any
	}{
		{
			name: "empty file",
			file: "",
			get:  func(c Config) any { return []any{c.Currency, c.Limits, len(c.SMSC), c.HasBank()} },
			want: []any{"CNY", Default().Limits, 0, false},
		},
		{
			name: "comments only",
			file: "# nothing\n",
			get:  func(c Config) any { return c.PINLength }, want: 6,
		},
		{
			name: "null keeps the default",
			file: "pin_length: ~\nlimits:\nsmsc:\nbank: null\n",
			get:  func(c Config) any { return []any{c.PINLength, c.Limits.PerDay, len(c.SMSC), c.HasBank()} },
			want: []any{6, int64(20000000), 0, false},
		},
		{
			name: "number as text",
			file: "country: 86\nshort_code: 03030\n",
			get:  func(c Config) any { return c.Country + "," + c.ShortCode }, want: "86,03030",
		},
		{
			name: "password kept as written",
			file: "smsc: [{password: \" 0x1F \"}]\n",
			get:  func(c Config) any { return c.SMSC[0].Password.Reveal() }, want: " 0x1F ",
		},
		{
			name: "a list replaces the default",
			file: "routes: [{prefix: '+1', smsc: a}]\n",
			get:  func(c Config) any { return c.Routes }, want: []Route{{Prefix: "+1", SMSC: "a"}},
		},
		{
			name: "anchors and merge keys",
			file: "smsc:\n  - &base {name: a, addr: 'h:1', system_id: pg, window: 4}\n  - <<: *base\n    name: b\n",
			get: func(c Config) any {
				return fmt.Sprint(c.SMSC[1].Name, c.SMSC[1].Addr, c.SMSC[1].SystemID, c.SMSC[1].Window, c.SMSC[1].Rate)
			},
			want: "bh:1pg4 100",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, tt.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v, want one wrapping os.ErrNotExist", err)
		}
	})
	t.Run("no file", func(t *testing.T) {
		c, err := Load("", environ(map[string]string{"PAYGATE_HTTP__LISTEN": "127.0.0.1:0"}))
		if err != nil {
			t.Fatal(err)
		}
		want := Default()
		want.HTTP.Listen = "127.0.0.1:0"
		if !reflect.DeepEqual(c, want) {
			t.Errorf("Load(\"\") = %+v\nwant %+v (relative paths kept)", c, want)
		}
	})
}

func TestRelativePaths(t *testing.T) {
	path := writeConfig(t, `
database: sqlite:state/paygate.db?_pragma=busy_timeout(5000)
admin: {token_file: /etc/paygate/admin.token}
bank:
  url: https://bank.example/
  secret_file: bank.secret
  ca_file: ../ca.pem
  cert_file: tls/client.pem
  key_file: tls/client.key
`)
	dir := filepath.Dir(path)
	env := map[string]string{"PAYGATE_KEYS__DATA_KEY_FILE": "env/data.key"}
	c, err := Load(path, environ(env))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"database", c.Database.Reveal(), "sqlite:" + filepath.Join(dir, "state/paygate.db") + "?_pragma=busy_timeout(5000)"},
		{"admin.token_file absolute", c.Admin.TokenFile, "/etc/paygate/admin.token"},
		{"ussd_http.token_file", c.USSDHTTP.TokenFile, filepath.Join(dir, "ussd.token")},
		{"bank.secret_file", c.Bank.SecretFile, filepath.Join(dir, "bank.secret")},
		{"bank.ca_file", c.Bank.CAFile, filepath.Join(filepath.Dir(dir), "ca.pem")},
		{"bank.cert_file", c.Bank.CertFile, filepath.Join(dir, "tls/client.pem")},
		{"bank.key_file", c.Bank.KeyFile, filepath.Join(dir, "tls/client.key")},
		{"keys.pepper_file default", c.Keys.PepperFile, filepath.Join(dir, "pepper.key")},
		{"keys.data_key_file from the environment", c.Keys.DataKeyFile, filepath.Join(dir, "env/data.key")},
		{"bank.url is not a path", c.Bank.URL.Reveal(), "https://bank.example/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}

	t.Run("relative config path", func(t *testing.T) {
		t.Chdir(dir)
		c, err := Load("paygate.yaml", nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "bank.secret"); c.Bank.SecretFile != want {
			t.Errorf("bank.secret_file %q, want %q", c.Bank.SecretFile, want)
		}
	})

	dbs := []struct{ name, in, want string }{
		{"absolute", "sqlite:/var/lib/paygate.db", "sqlite:/var/lib/paygate.db"},
		{"memory", "sqlite::memory:", "sqlite::memory:"},
		{"uri", "sqlite:file:x.db?mode=rwc", "sqlite:file:x.db?mode=rwc"},
		{"postgres", "postgres://u@h/db", "postgres://u@h/db"},
		{"relative", "sqlite:x.db", "sqlite:/cfg/x.db"},
	}
	for _, tt := range dbs {
		t.Run("database "+tt.name, func(t *testing.T) {
			if got := resolveDatabase(tt.in, "/cfg"); got != tt.want {
				t.Errorf("resolveDatabase(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestValidate checks each rule alone: one problem, naming its key.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // the one problem, "key: message"
	}{
		{"database scheme", func(c *Config) { c.Database = "mysql://u@h/db" }, `database: "mysql://u@h/db" is not sqlite:PATH`},
		{"database empty", func(c *Config) { c.Database = "" }, "database: missing"},
		{"database sqlite no path", func(c *Config) { c.Database = "sqlite:" }, "database: sqlite: needs the path"},
		{"database postgres opaque", func(c *Config) { c.Database = "postgres:db" }, `database: "postgres:db" is not a URL`},
		{"http.listen", func(c *Config) { c.HTTP.Listen = "8080" }, `http.listen: "8080" is not host:port`},
		{"http.listen port", func(c *Config) { c.HTTP.Listen = "127.0.0.1:http" }, `http.listen: "127.0.0.1:http" is not host:port: the port must be a number`},
		{"currency", func(c *Config) { c.Currency = "yuan" }, `currency: "yuan" is not 3 capital letters`},
		{"country", func(c *Config) { c.Country = "+86" }, `country: "+86" is not 1 to 3 digits`},
		{"timezone", func(c *Config) { c.Timezone = "Mars/Olympus" }, `timezone: "Mars/Olympus" is not a known IANA time zone`},
		{"timezone Local", func(c *Config) { c.Timezone = "Local" }, `timezone: "Local" is not a known IANA time zone`},
		{"timezone empty", func(c *Config) { c.Timezone = "" }, "timezone: missing"},
		{"language", func(c *Config) { c.Language = "fr" }, `language: "fr" is not en or zh`},
		{"short_code", func(c *Config) { c.ShortCode = "30-30" }, `short_code: "30-30" is not 1 to 20 digits`},
		{"ussd_code", func(c *Config) { c.USSDCode = "384" }, `ussd_code: "384" is not a USSD code`},
		{"pin_length low", func(c *Config) { c.PINLength = 3 }, "pin_length: 3 is outside 4..6"},
		{"pin_length high", func(c *Config) { c.PINLength = 7 }, "pin_length: 7 is outside 4..6"},
		{"pin_hash workers", func(c *Config) { c.PINHash.Workers = -1 }, "pin_hash.workers: -1 is negative"},
		{"pin_hash max_wait", func(c *Config) { c.PINHash.MaxWait = 0 }, "pin_hash.max_wait: 0s is not more than 0"},
		{"pin_hash time", func(c *Config) { c.PINHash.Time = 0 }, "pin_hash.time: 0 is less than 1 pass"},
		{"limits.per_transfer", func(c *Config) { c.Limits.PerTransfer = 0 }, "limits.per_transfer: 0 is not more than 0"},
		{"limits.per_day", func(c *Config) { c.Limits.PerDay, c.Limits.PerTransfer = -1, 1 }, "limits.per_day: -1 is not more than 0"},
		{"limits above the day", func(c *Config) { c.Limits.PerTransfer = c.Limits.PerDay + 1 }, "limits.per_transfer: 20000001 is more than limits.per_day, 20000000"},
		{"fees.send.flat", func(c *Config) { c.Fees.Send.Flat = -5; c.Bank.FeeAccount = "9" }, "fees.send.flat: -5 is less than 0"},
		{"fees.pay.percent", func(c *Config) { c.Fees.Pay.Percent = 101; c.Bank.FeeAccount = "9" }, "fees.pay.percent: 101 is not from 0 to 100"},
		{"dedupe_window", func(c *Config) { c.DedupeWindow = 0 }, "dedupe_window: 0s is not more than 0"},
		{"admin.token_file", func(c *Config) { c.Admin.TokenFile = "" }, "admin.token_file: missing"},
		{"routes prefix", func(c *Config) { c.Routes = []Route{{Prefix: "86-138", SMSC: "carrier-a"}} }, `routes[0].prefix: "86-138" is not a number prefix`},
		{"routes duplicate prefix", func(c *Config) {
			c.Routes = []Route{{Prefix: "+86", SMSC: "carrier-a"}, {Prefix: "+86", SMSC: "carrier-a"}}
		}, `routes[1].prefix: "+86" is also the prefix of routes[0]`},
		{"routes unknown bind", func(c *Config) { c.Routes = []Route{{Prefix: "+86", SMSC: "carrier-z"}} }, `routes[0].smsc: "carrier-z" is not the name of a bind in smsc`},
		{"routes no bind", func(c *Config) { c.Routes = []Route{{Prefix: "+86"}} }, "routes[0].smsc: missing"},
		{"smsc missing", func(c *Config) { c.SMSC = nil }, "smsc: no bind"},
		{"smsc name", func(c *Config) { c.SMSC[0].Name = "" }, "smsc[0].name: missing"},
		{"smsc duplicate name", func(c *Config) {
			b := c.SMSC[0]
			b.Addr = "127.0.0.1:2776"
			c.SMSC = append(c.SMSC, b)
		}, `smsc[1].name: "carrier-a" is also the name of smsc[0]`},
		{"smsc addr", func(c *Config) { c.SMSC[0].Addr = "smsc.example" }, `smsc[0].addr: "smsc.example" is not host:port`},
		{"smsc addr port 0", func(c *Config) { c.SMSC[0].Addr = "h:0" }, `smsc[0].addr: "h:0" is not host:port: the port must be a number from 1`},
		{"smsc addr empty", func(c *Config) { c.SMSC[0].Addr = "" }, "smsc[0].addr: missing"},
		{"smsc system_id", func(c *Config) { c.SMSC[0].SystemID = "" }, "smsc[0].system_id: missing"},
		{"smsc system_id long", func(c *Config) { c.SMSC[0].SystemID = strings.Repeat("s", 16) }, "smsc[0].system_id: longer than 15 characters"},
		{"smsc ussd_screen", func(c *Config) { c.SMSC[0].USSDScreen = USSDScreen{GSM7: 300} }, "smsc[0].ussd_screen: 300 GSM-7 / 0 UCS-2 characters is outside 0..255 / 0..127"},
		{"smsc password long", func(c *Config) { c.SMSC[0].Password = canary + "9" }, "smsc[0].password: longer than 8 characters"},
		{"smsc system_type long", func(c *Config) { c.SMSC[0].SystemType = strings.Repeat("t", 13) }, "smsc[0].system_type: longer than 12 characters"},
		{"smsc bind", func(c *Config) {
			b := c.SMSC[0]
			b.Name, b.Bind = "carrier-b", "tx"
			c.SMSC = append(c.SMSC, b)
		}, `smsc[1].bind: "tx" is not transceiver or transmitter+receiver`},
		{"smsc window", func(c *Config) { c.SMSC[0].Window = 0 }, "smsc[0].window: 0 is less than 1"},
		{"smsc rate", func(c *Config) { c.SMSC[0].Rate = -1 }, "smsc[0].rate: -1 is less than 0"},
		{"smsc ussd_session", func(c *Config) { c.SMSC[0].USSDSession = "its" }, `smsc[0].ussd_session: "its" is not its_session_info or user_message_reference`},
		{"smsc enquire_interval", func(c *Config) { c.SMSC[0].EnquireInterval = 0 }, "smsc[0].enquire_interval: 0s is not more than 0"},
		{"smsc response_timeout", func(c *Config) { c.SMSC[0].ResponseTimeout = -time.Second }, "smsc[0].response_timeout: -1s is not more than 0"},
		{"bank missing", func(c *Config) { c.Bank = Bank{} }, "bank: missing"},
		{"bank.kind", func(c *Config) { c.Bank.Kind = "iso8583" }, `bank.kind: "iso8583" is not http or sim`},
		{"bank.url missing", func(c *Config) { c.Bank.URL = "" }, "bank.url: missing"},
		{"bank.url scheme", func(c *Config) { c.Bank.URL = "ftp://bank" }, `bank.url: "ftp://bank" is not an http:// or https:// URL`},
		{"bank.secret_file", func(c *Config) { c.Bank.SecretFile = "" }, "bank.secret_file: missing"},
		{"bank.code", func(c *Config) { c.Bank.Code = "" }, `bank.code: "" is not 1 to 16 letters and digits`},
		{"bank.fee_account", func(c *Config) { c.Fees.Send.Flat = 100 }, "bank.fee_account: missing"},
		{"bank.ca_file without https", func(c *Config) { c.Bank.CAFile = "ca.pem" }, "bank.ca_file: given for a URL that is not https://"},
		{"bank.key_file", func(c *Config) { c.Bank.URL = "https://bank"; c.Bank.CertFile = "c.pem" }, "bank.key_file: missing"},
		{"bank.cert_file", func(c *Config) { c.Bank.URL = "https://bank"; c.Bank.KeyFile = "c.key" }, "bank.cert_file: missing"},
		{"keys.pepper_file", func(c *Config) { c.Keys.PepperFile = "" }, "keys.pepper_file: missing"},
		{"keys.data_key_file", func(c *Config) { c.Keys.DataKeyFile = "" }, "keys.data_key_file: missing"},
		{"keys the same", func(c *Config) { c.Keys.DataKeyFile = c.Keys.PepperFile }, "keys.data_key_file: the same file as keys.pepper_file"},
		{"log.level", func(c *Config) { c.Log.Level = "loud" }, `log.level: "loud" is not debug, info, warn or error`},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			ps := problemsOf(t, c.Validate())
			if len(ps) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(ps), c.Validate())
			}
			key, _, _ := strings.Cut(tt.want, ": ")
			if ps[0].Key != key || !strings.HasPrefix(ps[0].Error(), tt.want) {
				t.Errorf("problem %q (key %q), want %q...", ps[0], ps[0].Key, tt.want)
			}
			if strings.Contains(ps[0].Error(), canary) {
				t.Errorf("problem %q contains the password", ps[0])
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		if err := valid().Validate(); err != nil {
			t.Errorf("Validate() = %v", err)
		}
	})
	t.Run("every problem", func(t *testing.T) {
		c := valid()
		c.PINLength, c.Language, c.SMSC[0].Window = 9, "fr", 0
		var keys []string
		for _, p := range problemsOf(t, c.Validate()) {
			keys = append(keys, p.Key)
		}
		if want := []string{"language", "pin_length", "smsc[0].window"}; !reflect.DeepEqual(keys, want) {
			t.Errorf("problems about %q, want %q", keys, want)
		}
	})
}

func TestValidateSandbox(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // keys of the problems
	}{
		{name: "neither smsc nor bank", change: func(c *Config) { c.SMSC, c.Bank = nil, Bank{} }},
		{name: "only a bank", change: func(c *Config) { c.SMSC = nil }},
		{name: "only a bind", change: func(c *Config) { c.Bank = Bank{} }},
		{name: "what is given is checked", change: func(c *Config) { c.Bank.Kind = "x" }, want: []string{"bank.kind"}},
		{name: "routes need binds", change: func(c *Config) {
			c.SMSC = nil
			c.Routes = []Route{{Prefix: "+86", SMSC: "carrier-a"}}
		}, want: []string{"routes[0].smsc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			var keys []string
			for _, p := range problemsOf(t, c.ValidateSandbox()) {
				keys = append(keys, p.Key)
			}
			if !reflect.DeepEqual(keys, tt.want) {
				t.Errorf("problems about %q, want %q", keys, tt.want)
			}
		})
	}
}

// TestValidateNeverQuotesSecrets checks the problems of values that
// hold a password.
func TestValidateNeverQuotesSecrets(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		key    string
	}{
		{"database scheme", func(c *Config) { c.Database = SecretURL("mysql://u:" + canary + "@h/db") }, "database"},
		{"database unparsable", func(c *Config) { c.Database = SecretURL("postgres://u:" + canary + "@h:port/db") }, "database"},
		{"bank.url unparsable", func(c *Config) { c.Bank.URL = SecretURL("https://u:" + canary + "@h:port/") }, "bank.url"},
		{"bank.url scheme", func(c *Config) { c.Bank.URL = SecretURL("ftp://u:" + canary + "@h/") }, "bank.url"},
		{"smsc password", func(c *Config) { c.SMSC[0].Password += "toolong" }, "smsc[0].password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != tt.key {
				t.Fatalf("problems %v, want one about %s", err, tt.key)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("problem %q contains the password", err)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"sqlite", "sqlite:paygate.db", "sqlite:paygate.db"},
		{"no password", "postgres://user@host/db", "postgres://user@host/db"},
		{"password", "postgres://user:" + canary + "@host:5432/db?sslmode=verify-full", "postgres://user:[redacted]@host:5432/db?sslmode=verify-full"},
		{"empty password", "postgres://user:@host/db", "postgres://user:[redacted]@host/db"},
		{"escaped password", "postgresql://user:p%40ss%2F" + canary + "@host/db", "postgresql://user:[redacted]@host/db"},
		{"@ in the password", "postgres://user:p@" + canary + "@host/db", "postgres://user:[redacted]@host/db"},
		{"query password", "postgres://host/db?user=u&password=" + canary + "&sslmode=disable", "postgres://host/db?user=u&password=[redacted]&sslmode=disable"},
		{"query sslpassword", "postgres://host/db?sslpassword=" + canary, "postgres://host/db?sslpassword=[redacted]"},
		{"query and fragment", "https://u:" + canary + "@bank/?password=" + canary + "#x", "https://u:[redacted]@bank/?password=[redacted]#x"},
		{"slash in the password", "postgres://u:1/" + canary + "@host/db", "[redacted]"},
		{"hash in the password", "postgres://u:1#" + canary + "@host/db", "[redacted]"},
		{"question mark in the password", "postgres://u:1?" + canary + "@host/db", "[redacted]"},
		{"unparsable", "postgres://u:" + canary + "@host:port/db", "[redacted]"},
		{"opaque with @", "postgres:u:" + canary + "@host/db", "[redacted]"},
		{"http", "https://bank.example:9443/api", "https://bank.example:9443/api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SecretURL(tt.in).String(); got != tt.want {
				t.Errorf("SecretURL(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestRedaction prints a config with passwords in every place one can
// be, every way a config gets printed, and looks for the password.
func TestRedaction(t *testing.T) {
	c := valid()
	c.Database = SecretURL("postgres://paygate:" + canary + "@db.example/paygate")
	c.Bank.URL = SecretURL("https://gw:" + canary + "@bank.example/")
	c.SMSC = append(c.SMSC, c.SMSC[0])
	c.SMSC[1].Name = "carrier-b"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	logged := func(h func(*bytes.Buffer) slog.Handler, args ...any) string {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("config", args...)
		return buf.String()
	}
	text := func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }
	jsonh := func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }
	jsonOf := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Verbs that do not suit every field: a variable format keeps vet
	// from objecting.
	anyVerb := func(v any) string {
		var out string
		for _, verb := range []string{"%s", "%q", "%x", "%X", "%d", "%T"} {
			out += fmt.Sprintf(verb, v)
		}
		return out
	}
	redacted, err := Redacted(c)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		out  string
		want []string // must appear
	}{
		{"Redacted", string(redacted), []string{
			"password: '[redacted]'", "database: postgres://paygate:[redacted]@db.example/paygate",
			"url: https://gw:[redacted]@bank.example/", "secret_file: bank.secret",
		}},
		{"%v", fmt.Sprintf("%v", c), []string{"[redacted]"}},
		{"%+v", fmt.Sprintf("%+v", c), []string{"Password:[redacted]"}},
		{"%#v", fmt.Sprintf("%#v", c), []string{"Password:[redacted]"}},
		{"other verbs", anyVerb(c), nil},
		{"%v of a bind", fmt.Sprintf("%v %+v %#v", c.SMSC[0], c.SMSC[0], c.SMSC[0]), nil},
		{"%v of the bank", fmt.Sprintf("%v %+v %#v", c.Bank, &c.Bank, c.Bank) + anyVerb(c.Bank) + anyVerb(&c.Bank) + anyVerb(&c), nil},
		{"%v of a password", fmt.Sprintf("%v %s %q %x %#v %d", c.SMSC[0].Password, c.SMSC[0].Password, c.SMSC[0].Password, c.SMSC[0].Password, c.SMSC[0].Password, c.SMSC[0].Password), nil},
		{"String", c.SMSC[0].Password.String() + c.Database.String() + c.Bank.URL.GoString(), nil},
		{"slog text", logged(text, "config", c, "smsc", c.SMSC[0], "password", c.SMSC[0].Password, "database", c.Database), []string{"password=[redacted]"}},
		{"slog json", logged(jsonh, "config", c, "smsc", c.SMSC[0], "password", c.SMSC[0].Password, "database", c.Database), []string{`"password":"[redacted]"`}},
		{"json", jsonOf(c), []string{`"Password":"[redacted]"`}},
		{"errors", fmt.Errorf("bind %v: %w", c.SMSC[0], errors.New("x")).Error(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.out, canary) {
				t.Errorf("the password appears in:\n%s", tt.out)
			}
			for _, w := range tt.want {
				if !strings.Contains(tt.out, w) {
					t.Errorf("%q is missing from:\n%s", w, tt.out)
				}
			}
		})
	}

	t.Run("Reveal", func(t *testing.T) {
		if got := c.SMSC[0].Password.Reveal(); got != canary {
			t.Errorf("Reveal() = %q, want the password", got)
		}
		if got := c.Database.Reveal(); !strings.Contains(got, canary) {
			t.Errorf("Reveal() = %q, want the DSN with its password", got)
		}
	})
	t.Run("empty password", func(t *testing.T) {
		c := valid()
		c.SMSC[0].Password = ""
		out, err := Redacted(c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `password: ""`) {
			t.Errorf("an unset password should show as unset:\n%s", out)
		}
	})
}

// TestRedactedGolden dumps testdata/spec.yaml; run with -update to
// rewrite the golden file. The testdata directory is written as $DIR.
func TestRedactedGolden(t *testing.T) {
	c, err := Load("testdata/spec.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Redacted(c)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(string(out), dir, "$DIR")
	golden := "testdata/spec.redacted.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Redacted differs from %s (go test -update to accept):\n%s", golden, got)
	}
	if strings.Contains(got, canary) {
		t.Errorf("the password appears in the dump")
	}
}

// TestRedactedLoads checks that the dump reads back as the config, but
// for the masked passwords.
func TestRedactedLoads(t *testing.T) {
	c, err := Load("testdata/spec.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Redacted(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(writeConfig(t, string(out)), nil)
	if err != nil {
		t.Fatalf("loading the dump: %v\n%s", err, out)
	}
	c.SMSC[0].Password = masked // the one that was set
	if !reflect.DeepEqual(back, c) {
		t.Errorf("the dump loads as\n%+v\nwant\n%+v", back, c)
	}
}

func TestSMPP(t *testing.T) {
	tests := []struct {
		name     string
		bind     string
		session  string
		wantMode smpp.BindMode
		wantTag  smpp.Tag
	}{
		{"transceiver", BindTransceiver, SessionITSSessionInfo, smpp.Transceiver, smpp.TagITSSessionInfo},
		{"transmitter+receiver", BindTransmitterReceiver, SessionUserMessageReference, smpp.TransmitterReceiver, smpp.TagUserMessageReference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid().SMSC[0]
			s.Bind, s.USSDSession, s.SystemType, s.Rate = tt.bind, tt.session, "VMA", 2.5
			got := s.SMPP()
			if got.Mode != tt.wantMode || got.USSDSession != tt.wantTag {
				t.Errorf("Mode %v USSDSession %#x, want %v %#x", got.Mode, got.USSDSession, tt.wantMode, tt.wantTag)
			}
			if got.Name != s.Name || got.Addr != s.Addr || got.SystemID != s.SystemID || got.SystemType != "VMA" ||
				string(got.Password) != canary || got.Window != 10 || got.Rate != 2.5 ||
				got.EnquireInterval != 30*time.Second || got.ResponseTimeout != 10*time.Second {
				t.Errorf("SMPP() = %+v, not the bind's fields", got)
			}
		})
	}
}
