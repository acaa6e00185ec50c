package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
)

func simBankCommand() *command {
	return &command{
		name:    "bank",
		summary: "run a standalone bank simulator speaking the Bank API",
		help: "Runs the bank simulator of package bank/banksim on its own: a bank with\n" +
			"accounts, balances, phones on file, a fee account and a double-entry\n" +
			"ledger that speaks SPEC.md §8 (POST /v1/accounts/verify, POST\n" +
			"/v1/transfers, GET /v1/transfers/{id}, POST /v1/accounts/balance, POST\n" +
			"/v1/accounts/statement). Every request must carry a valid\n" +
			"Paygate-Signature (else 401) and every answer is signed, with the key\n" +
			"in --secret-file: point the gateway's bank.secret_file at the same file.\n" +
			"It serves until interrupted (SIGINT or SIGTERM).\n\n" +
			"Without --accounts it opens demo accounts (phones +8613800138000 and\n" +
			"+8613900139000 among them). An accounts file is a JSON or YAML list of\n" +
			"{bank, account, holder, phone (E.164), balance (minor units), closed}.\n\n" +
			"The same address also serves a control API under /sim/ (no\n" +
			"authentication: keep it on loopback) to list and open accounts, audit\n" +
			"the ledger, and inject faults at run time: GET and PUT /sim/faults,\n" +
			"POST /sim/script, GET and POST /sim/accounts, GET /sim/transfers/{id},\n" +
			"GET /sim/audit, GET /sim/stats.",
		setup: func(fs *flag.FlagSet) action {
			var (
				listen, secretFile, secret, accountsFile string
				code, currency, feeAccount               string
			)
			fs.StringVar(&listen, "listen", "127.0.0.1:9090", "`address` to listen on, host:port (port 0 picks a free one)")
			fs.StringVar(&secretFile, "secret-file", "bank.secret", "`file` holding the shared HMAC key as text (trimmed), as the gateway's bank.secret_file; created with a random key when missing")
			fs.StringVar(&secret, "secret", "", "the shared HMAC `key` itself, instead of --secret-file (other users can see a command line: prefer the file or the environment)")
			fs.StringVar(&accountsFile, "accounts", "", "JSON or YAML `file` listing the accounts to open (default: demo accounts)")
			fs.StringVar(&code, "bank-code", banksim.DefaultCode, "this bank's `code`, as the gateway's bank.code")
			fs.StringVar(&currency, "currency", banksim.DefaultCurrency, "ISO 4217 `code` of every account")
			fs.StringVar(&feeAccount, "fee-account", banksim.DefaultFeeAccount, "`account` where fees are credited, as the gateway's bank.fee_account (opened when missing)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				set := map[string]bool{}
				fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
				switch {
				case listen == "":
					return usageErrorf("--listen must not be empty")
				case secret != "" && set["secret-file"]:
					return usageErrorf("give --secret or --secret-file, not both")
				case code == "" || currency == "" || feeAccount == "":
					return usageErrorf("--bank-code, --currency and --fee-account must not be empty")
				}
				key, from, err := bankSecret(secret, secretFile)
				if err != nil {
					return err
				}
				accounts := banksim.DemoAccounts(code)
				if accountsFile != "" {
					if accounts, err = readAccounts(accountsFile); err != nil {
						return err
					}
				}
				log := env.log.With("component", "banksim")
				b, err := banksim.New(banksim.Config{
					Secret: key, Code: code, Currency: currency, FeeAccount: flows.AccountNumber(feeAccount),
					Accounts: accounts, Logger: log,
				})
				if err != nil {
					return err
				}
				srv, err := banksim.Listen(listen, b)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "bank simulator listening on %s (bank %s, currency %s, %d accounts, fee account %s, secret %s), control API on %s/sim/\n",
					srv.Addr(), code, currency, len(b.Accounts()), flows.AccountNumber(feeAccount).Masked(), from, srv.URL())

				var serveErr error
				select {
				case <-ctx.Done():
				case <-srv.Done():
					serveErr = srv.Err()
				}
				if err := srv.Close(); err != nil && serveErr == nil {
					serveErr = fmt.Errorf("closing the bank simulator: %w", err)
				}
				if serveErr != nil {
					return serveErr
				}
				if err := b.Audit(); err != nil {
					log.Error("bank simulator ledger audit failed", "err", err)
				}
				log.Info("bank simulator stopped", "addr", srv.Addr())
				return nil
			}
		},
	}
}

// bankSecret returns the key of `sim bank` and says where it came from,
// never what it is: secret when given, else the trimmed content of
// file, which is created with a random key when it does not exist.
func bankSecret(secret, file string) (bank.Secret, string, error) {
	if secret != "" {
		return bank.Secret(bytes.TrimSpace([]byte(secret))), "from --secret", nil
	}
	if file == "" {
		return nil, "", usageErrorf("--secret-file must not be empty")
	}
	key, err := bank.ReadSecretFile(file)
	if err == nil {
		return key, "from " + file, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	text := hex.EncodeToString(raw)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("bank secret: creating %s: %w", file, err)
	}
	if _, err := io.WriteString(f, text+"\n"); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("bank secret: writing %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return nil, "", fmt.Errorf("bank secret: writing %s: %w", file, err)
	}
	return bank.Secret(text), "new in " + file, nil
}

// accountEntry is one account of an --accounts file.
type accountEntry struct {
	Bank    string `yaml:"bank"`
	Account string `yaml:"account"`
	Holder  string `yaml:"holder"`
	Phone   string `yaml:"phone"`
	Balance int64  `yaml:"balance"`
	Closed  bool   `yaml:"closed"`
}

// readAccounts reads a JSON or YAML list of accounts (JSON is YAML).
// Unknown keys are refused. Errors never quote an account number.
func readAccounts(path string) ([]banksim.Account, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	var entries []accountEntry
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&entries); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("accounts file %s: empty", path)
		}
		return nil, fmt.Errorf("accounts file %s: want a JSON or YAML list of {bank, account, holder, phone, balance, closed}: %s",
			path, maskNumbers(err.Error()))
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("accounts file %s: no accounts", path)
	}
	out := make([]banksim.Account, 0, len(entries))
	for _, e := range entries {
		out = append(out, banksim.Account{
			Bank: e.Bank, Number: flows.AccountNumber(e.Account), Holder: e.Holder,
			Phone: flows.MSISDN(e.Phone), Balance: e.Balance, Closed: e.Closed,
		})
	}
	return out, nil
}

var longNumber = regexp.MustCompile(`[0-9]{8,}`)

// maskNumbers masks every run of 8 digits or more in a parser's message,
// which may quote a value of the file.
func maskNumbers(s string) string {
	return longNumber.ReplaceAllStringFunc(s, func(n string) string { return flows.AccountNumber(n).Masked() })
}
