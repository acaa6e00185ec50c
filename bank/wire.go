package bank

import (
	"encoding/json"
	"strings"
	"time"
)

// The JSON bodies of SPEC.md §8. Account numbers are plain strings here:
// flows.AccountNumber marshals masked on purpose, and these structs are
// the only place where the connector writes numbers in clear.

type wireParty struct {
	Bank    string `json:"bank"`
	Account string `json:"account"`
}

func toWire(a Account) wireParty { return wireParty{Bank: a.Bank, Account: a.Number.Reveal()} }

type wireVerifyRequest struct {
	Bank    string `json:"bank"`
	Account string `json:"account"`
	Phone   string `json:"phone"`
}

type wireVerifyResponse struct {
	Exists       *bool  `json:"exists"`
	PhoneMatches bool   `json:"phone_matches"`
	HolderName   string `json:"holder_name"`
}

type wireTransferRequest struct {
	ID        string    `json:"id"`
	Reference string    `json:"reference"`
	Debit     wireParty `json:"debit"`
	Credit    wireParty `json:"credit"`
	Amount    int64     `json:"amount"`
	Fee       int64     `json:"fee"`
	Currency  string    `json:"currency"`
	Narrative string    `json:"narrative"`
}

type wireTransferResponse struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	BankReference string `json:"bank_reference"`
	Reason        string `json:"reason"`
}

type wireStatementRequest struct {
	Bank    string `json:"bank"`
	Account string `json:"account"`
	Limit   int    `json:"limit"`
}

type wireBalanceResponse struct {
	Available *int64 `json:"available"`
	Currency  string `json:"currency"`
}

type wireStatementResponse struct {
	Entries *[]wireEntry `json:"entries"`
}

type wireEntry struct {
	Time        time.Time `json:"time"`
	Amount      int64     `json:"amount"`
	Counterpart string    `json:"counterpart"`
	Reference   string    `json:"reference"`
}

type wireError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorCode returns the code of an error body if it looks like a code.
func errorCode(body []byte) string {
	var e wireError
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return codeLike(e.Error.Code)
}

// codeLike returns c if it looks like a code — lower-case letters,
// digits, '_', '.', '-', at most 64 bytes and 3 digits — else "", so that
// nothing a bank writes there can carry an account number into an error
// string or a hook label.
func codeLike(c string) string {
	if len(c) == 0 || len(c) > 64 {
		return ""
	}
	digits := 0
	for _, r := range c {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r >= 'a' && r <= 'z', r == '_', r == '.', r == '-':
		default:
			return ""
		}
	}
	if digits > 3 {
		return ""
	}
	return strings.Clone(c)
}
