package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/paygate/paygate/gateway/config"
)

// configCanary is a password that must never be printed.
const configCanary = "Qm4vTt9r"

const checkedConfig = `
database: postgres://paygate:` + configCanary + `@db.example/paygate
smsc:
  - name: carrier-a
    addr: 127.0.0.1:2775
    system_id: paygate
    password: ` + configCanary + `
bank:
  kind: http
  url: http://127.0.0.1:9090
  secret_file: bank.secret
`

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name       string
		file       string // written to paygate.yaml; "" for none
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout []string // each must appear
		wantStderr []string
	}{
		{
			name:     "valid",
			file:     checkedConfig,
			wantCode: exitOK,
			wantStdout: []string{
				"name: carrier-a", "password: '[redacted]'", "database: postgres://paygate:[redacted]@db.example/paygate",
				"pin_length: 6", "secret_file: $DIR/bank.secret",
			},
		},
		{
			name:       "environment overrides",
			file:       checkedConfig,
			env:        map[string]string{"PAYGATE_SMSC__0__PASSWORD": "Env7pw", "PAYGATE_SMSC__1__NAME": "carrier-b", "PAYGATE_SMSC__1__ADDR": "h:1", "PAYGATE_SMSC__1__SYSTEM_ID": "pg", "PAYGATE_PIN_LENGTH": "4"},
			wantCode:   exitOK,
			wantStdout: []string{"name: carrier-b", "pin_length: 4"},
		},
		{
			name:       "config from the environment",
			file:       checkedConfig,
			args:       []string{},
			env:        map[string]string{"PAYGATE_CONFIG_CHECK_CONFIG": "$DIR/paygate.yaml"},
			wantCode:   exitOK,
			wantStdout: []string{"name: carrier-a"},
		},
		{
			name:     "invalid",
			file:     checkedConfig + "pin_length: 9\nlanguage: fr\nroutes: [{prefix: '+86', smsc: carrier-z}]\n",
			wantCode: exitError,
			wantStderr: []string{
				"\nlanguage: \"fr\" is not en or zh\n",
				"\npin_length: 9 is outside 4..6\n",
				"\nroutes[0].smsc: \"carrier-z\" is not the name of a bind in smsc\n",
				"paygate config check: $DIR/paygate.yaml: 3 problems\n",
			},
		},
		{
			name:       "unknown key",
			file:       strings.Replace(checkedConfig, "    password:", "    pasword:", 1),
			wantCode:   exitError,
			wantStderr: []string{"$DIR/paygate.yaml:7: smsc[0].pasword: unknown key\n", "1 problem\n"},
		},
		{
			name:       "missing smsc and bank",
			file:       "currency: USD\n",
			wantCode:   exitError,
			wantStderr: []string{"smsc: no bind", "bank: missing"},
		},
		{
			name:       "bad variable",
			file:       checkedConfig,
			env:        map[string]string{"PAYGATE_LIMITS__PER_DAY": "lots"},
			wantCode:   exitError,
			wantStderr: []string{`PAYGATE_LIMITS__PER_DAY: limits.per_day: "lots" is not a whole number`},
		},
		{
			name:       "invalid password from the environment",
			file:       checkedConfig,
			env:        map[string]string{"PAYGATE_SMSC__0__PASSWORD": configCanary + "-too-long"},
			wantCode:   exitError,
			wantStderr: []string{"smsc[0].password: longer than 8 characters"},
		},
		{
			name:       "no file",
			args:       []string{"--config", "$DIR/nope.yaml"},
			wantCode:   exitError,
			wantStderr: []string{"paygate config check: reading the config: open $DIR/nope.yaml: no such file or directory"},
		},
		{
			name:       "no --config",
			args:       []string{},
			wantCode:   exitUsage,
			wantStderr: []string{"paygate config check: --config is required"},
		},
		{
			name:       "argument",
			file:       checkedConfig,
			args:       []string{"--config", "$DIR/paygate.yaml", "extra"},
			wantCode:   exitUsage,
			wantStderr: []string{`unexpected argument "extra"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			expand := func(s string) string { return strings.ReplaceAll(s, "$DIR", dir) }
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(dir, "paygate.yaml"), []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"config", "check", "--config", "$DIR/paygate.yaml"}
			if tt.args != nil {
				args = append([]string{"config", "check"}, tt.args...)
			}
			for i := range args {
				args[i] = expand(args[i])
			}
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = expand(v)
			}

			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, environ(env), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, &stderr)
			}
			out, errOut := stdout.String(), "\n"+stderr.String()
			for _, w := range tt.wantStdout {
				if !strings.Contains(out, expand(w)) {
					t.Errorf("stdout lacks %q:\n%s", expand(w), out)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(errOut, expand(w)) {
					t.Errorf("stderr lacks %q:\n%s", expand(w), errOut)
				}
			}
			if tt.wantCode == exitOK && stderr.Len() > 0 {
				t.Errorf("stderr is not empty:\n%s", &stderr)
			}
			if tt.wantCode != exitOK && stdout.Len() > 0 {
				t.Errorf("stdout is not empty after a failure:\n%s", &stdout)
			}
			for _, pw := range []string{configCanary, tt.env["PAYGATE_SMSC__0__PASSWORD"]} {
				if pw != "" && strings.Contains(out+errOut, pw) {
					t.Errorf("the password %q is in the output:\nstdout:\n%s\nstderr:\n%s", pw, out, errOut)
				}
			}
		})
	}
}

// TestConfigCheckOutputLoads checks that what config check prints is a
// config that checks as the same, once the environment supplies the
// secrets it masks.
func TestConfigCheckOutputLoads(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "paygate.yaml")
	if err := os.WriteFile(in, []byte(checkedConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var first, stderr bytes.Buffer
	if code := run(context.Background(), []string{"config", "check", "--config", in}, environ(nil), &first, &stderr); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, &stderr)
	}
	again := filepath.Join(dir, "again.yaml")
	if err := os.WriteFile(again, first.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := environ(map[string]string{
		"PAYGATE_DATABASE":          "postgres://paygate:" + configCanary + "@db.example/paygate",
		"PAYGATE_SMSC__0__PASSWORD": configCanary,
	})
	var second bytes.Buffer
	if code := run(context.Background(), []string{"config", "check", "--config", again}, secrets, &second, &stderr); code != exitOK {
		t.Fatalf("checking the output: exit code %d; stderr:\n%s", code, &stderr)
	}
	if first.String() != second.String() {
		t.Errorf("the output checks as something else:\n%s\nthen:\n%s", &first, &second)
	}
}

// TestConfigVariablesAreNotFlagVariables checks that no flag's variable
// (PAYGATE_LOG_LEVEL, PAYGATE_SIM_SMSC_PASSWORD, ...) also sets a config
// key (PAYGATE_DATABASE, PAYGATE_SMSC__0__PASSWORD, ...): the two
// families share a prefix.
func TestConfigVariablesAreNotFlagVariables(t *testing.T) {
	var names []string
	root := commands()
	var lo logOptions
	lo.setDefaults()
	global := flag.NewFlagSet("", flag.ContinueOnError)
	lo.register(global)
	global.VisitAll(func(f *flag.Flag) { names = append(names, envName(envPrefix, f.Name)) })
	root.leaves(nil, func(path []string, leaf *command) {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		leaf.setup(fs)
		fs.VisitAll(func(f *flag.Flag) { names = append(names, envName(commandEnvPrefix(path), f.Name)) })
	})
	if len(names) < 3 {
		t.Fatalf("found only the flag variables %q", names)
	}
	def, err := config.Load("", environ(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			// A config key would take either value, or refuse it.
			for _, v := range []string{"13", "x"} {
				c, err := config.Load("", environ(map[string]string{name: v}))
				if err != nil || !reflect.DeepEqual(c, def) {
					t.Errorf("%s=%s changes the config: it is also a config variable", name, v)
				}
			}
		})
	}
}
