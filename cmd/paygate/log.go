package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
)

// logOptions are the logging flags. They are global: run declares them
// on the top-level flag set and again on every leaf command's, bound to
// the same logOptions, so `paygate --log-level debug sim smsc` and
// `paygate sim smsc --log-level debug` mean the same.
type logOptions struct {
	format string // "text" or "json"
	level  slog.Level
}

func (o *logOptions) setDefaults() {
	o.format = "text"
	o.level = slog.LevelInfo
}

// register declares the logging flags on fs without changing o, so that
// a value given before the command survives declaring them again after
// it. The usage shows the real defaults.
func (o *logOptions) register(fs *flag.FlagSet) {
	fs.Var(formatFlag{&o.format}, "log-format", "log `format` on stderr: text or json")
	fs.Var(levelFlag{&o.level}, "log-level", "lowest `level` logged: debug, info, warn or error")
	var d logOptions
	d.setDefaults()
	fs.Lookup("log-format").DefValue = d.format
	fs.Lookup("log-level").DefValue = levelFlag{&d.level}.String()
}

// logger builds the root logger, writing to w. It is the only one: every
// component gets it, or a child of it, passed down.
func (o *logOptions) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: o.level}
	if o.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

type formatFlag struct{ p *string }

func (f formatFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f formatFlag) Set(s string) error {
	switch s {
	case "text", "json":
		*f.p = s
		return nil
	}
	return errors.New(`must be "text" or "json"`)
}

type levelFlag struct{ p *slog.Level }

func (f levelFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strings.ToLower(f.p.String())
}

// Set accepts slog's level names (debug, info, warn, error, any case,
// with an optional offset such as info+2).
func (f levelFlag) Set(s string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return errors.New("must be debug, info, warn or error")
	}
	*f.p = l
	return nil
}
