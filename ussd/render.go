package ussd

import (
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/paygate/paygate/flows"
)

// body is the current state's screen, with the note above it.
func (d *dlg) body() string {
	s := d.s
	var b string
	switch s.State {
	case stMain:
		b = d.t(tMain)
	case stWelcome:
		b = d.t(tWelcome)
	case stSetPIN:
		b = d.t(tSetPIN)
	case stSetPIN2:
		b = d.t(tSetPINAgain)
	case stLinkBank:
		b = d.t(tLinkBank)
	case stLinkAccount:
		b = d.t(tLinkAccount)
	case stLinkPIN:
		b = d.t(tLinkPIN)
	case stLinkCode:
		b = d.t(tLinkCode)
	case stSendPayee:
		b = d.t(tSendPayee)
	case stPayMerchant:
		b = d.t(tPayMerchant)
	case stSendAmount, stPayAmount:
		b = d.t(tAmount)
	case stConfirm:
		if s.Op == "pay" {
			b = d.t(tPayConfirm)
		} else {
			b = d.t(tSendConfirm)
		}
	case stCode:
		b = d.t(tCode)
	case stBalPIN:
		if s.Op == "mini" {
			b = d.t(tMiniPIN)
		} else {
			b = d.t(tBalPIN)
		}
	case stAccounts:
		lines := []string{d.t(tAccounts)}
		for i, a := range d.accountLines() {
			lines = append(lines, strconv.Itoa(i+1)+" "+a)
		}
		b = strings.Join(append(lines, d.t(tBack)), "\n")
	case stAccount:
		b = d.t(tAccount)
	case stUnlinkPIN:
		b = d.t(tUnlinkPIN)
	case stOldPIN:
		b = d.t(tOldPIN)
	case stNewPIN:
		b = d.t(tNewPIN)
	case stNewPIN2:
		b = d.t(tNewPINAgain)
	case stLang:
		b = d.t(tLang)
	case stPushPIN:
		b = d.t(tPushPIN)
	case stEndPages:
		b = s.EndText
	}
	if s.Note != "" {
		b = s.Note + "\n" + b
	}
	return b
}

// accountLines are the phone's accounts as the screens show them, the
// default marked.
func (d *dlg) accountLines() []string {
	_, accts, err := d.profile()
	if err != nil {
		panic(stepErr{err})
	}
	out := make([]string, len(accts))
	for i, a := range accts {
		out[i] = a.Label()
		if a.Default {
			out[i] += " *"
		}
	}
	return out
}

// backLine is the option every page of the screen keeps: its "0 …"
// line, if it has one.
func (d *dlg) backLine() string {
	if d.s.State == stEndPages {
		return ""
	}
	b := d.body()
	if i := strings.LastIndexByte(b, '\n'); i >= 0 && strings.HasPrefix(b[i+1:], "0 ") {
		return b[i+1:]
	}
	return ""
}

// render is the screen to send: the current page of the body, and
// whether it ends the session (the last page of a long end screen).
func (d *dlg) render() (string, bool) {
	s := d.s
	pages := d.e.pages(d.body(), s.Lang, d.r.Limit, d.backLine())
	p := min(max(s.Page, 0), len(pages)-1)
	s.Page = p
	last := s.State == stEndPages && p == len(pages)-1
	if last {
		// The last page of an end screen ends the session: no "0 Back".
		return strings.TrimSuffix(pages[p], "\n"+text(s.Lang, tBack, nil)), true
	}
	return pages[p], false
}

// fits reports whether t fits one screen.
func (e *Engine) fits(t string, l Limit) bool {
	n, gsm := e.cfg.Measure(t)
	if gsm {
		return n <= l.GSM7
	}
	return n <= l.UCS2
}

// pages splits body into screens that fit l: every page but the last
// ends with "98 More"; back (the screen's "0 …" option, if any) ends
// every page — on pages after the first it reads "0 Back", which goes to
// the previous page. Lines are kept whole when they fit a page; a longer
// one is cut at a space, or between characters when it has none.
func (e *Engine) pages(body string, lang flows.Lang, l Limit, back string) []string {
	if e.fits(body, l) {
		return []string{body}
	}
	more := text(lang, tMore, nil)
	backPage := text(lang, tBack, nil)
	lines := strings.Split(body, "\n")
	if back != "" && len(lines) > 0 && lines[len(lines)-1] == back {
		lines = lines[:len(lines)-1]
	}
	var pages []string
	var cur []string
	tail := func(last bool) []string {
		var t []string
		if !last {
			t = append(t, more)
		}
		b := back
		if len(pages) > 0 {
			b = backPage
		}
		if b != "" {
			t = append(t, b)
		}
		return t
	}
	page := func(content []string, last bool) string {
		return strings.Join(append(append([]string{}, content...), tail(last)...), "\n")
	}
	for len(lines) > 0 {
		line := lines[0]
		if e.fits(page(append(cur, line), false), l) {
			cur = append(cur, line)
			lines = lines[1:]
			continue
		}
		if len(cur) > 0 {
			pages = append(pages, page(cur, false))
			cur = nil
			continue
		}
		// One line longer than a page: cut it.
		head, rest := e.cut(line, func(h string) bool { return e.fits(page([]string{h}, false), l) })
		pages = append(pages, page([]string{head}, false))
		lines[0] = rest
	}
	if len(cur) > 0 {
		last := page(cur, true)
		if !e.fits(last, l) { // cannot happen: it fit with "98 More"
			last = page(cur, false)
		}
		pages = append(pages, last)
	} else if len(pages) > 0 {
		// The content ended exactly at a page: drop the last "98 More".
		pages[len(pages)-1] = strings.Replace(pages[len(pages)-1], "\n"+more, "", 1)
	}
	return pages
}

// cut returns the longest head of line that ok accepts, cut at a space
// when there is one, and the rest.
func (e *Engine) cut(line string, ok func(string) bool) (string, string) {
	r := []rune(line)
	n := 1
	for n < len(r) && ok(string(r[:n+1])) {
		n++
	}
	if n < len(r) {
		if i := strings.LastIndexByte(string(r[:n]), ' '); i > 0 {
			return string(r[:n])[:i], strings.TrimLeft(string(r[:n])[i:]+string(r[n:]), " ")
		}
	}
	return string(r[:n]), string(r[n:])
}

// gsm7Basic and gsm7Ext are GSM 03.38's default alphabet and its
// extension table (2 septets each).
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext   = "^{}\\[~]|€\f"
)

// Measure is the default screen measure: GSM-7 septets when every
// character is in the GSM 7-bit alphabet, else UTF-16 units (UCS-2).
func Measure(t string) (int, bool) {
	n := 0
	for _, c := range t {
		switch {
		case strings.ContainsRune(gsm7Basic, c):
			n++
		case strings.ContainsRune(gsm7Ext, c):
			n += 2
		default:
			return len(utf16.Encode([]rune(t))), false
		}
	}
	return n, true
}
