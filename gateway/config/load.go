package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// KeyError is one problem with a configuration, about one key.
type KeyError struct {
	// Key is the key's path as the file writes it: "smsc[0].password",
	// "limits.per_day"; empty for the file as a whole.
	Key string
	// Source is where the value came from when that is known: the file
	// and line ("paygate.yaml:12") or the environment variable
	// ("PAYGATE_SMSC__0__WINDOW"). Validate's errors have none: they are
	// about the merged configuration.
	Source string
	// Msg says what is wrong. It never contains a secret.
	Msg string
}

// Error returns "[source: ][key: ]msg".
func (e *KeyError) Error() string {
	s := e.Msg
	if e.Key != "" {
		s = e.Key + ": " + s
	}
	if e.Source != "" {
		s = e.Source + ": " + s
	}
	return s
}

// Load returns the configuration of the YAML file at path, over
// Default, with the environment's overrides on top. It does not
// validate: call Validate (or ValidateSandbox).
//
// The file is read strictly: a key that Config does not have, a list
// where a value belongs and a value that does not parse are errors that
// name the key's path and line (`paygate.yaml:7: smsc[0].pasword:
// unknown key`). A key that is absent or null keeps its default; the
// items of smsc and a bank that are given start from DefaultSMSC and
// DefaultBank. A list in the file replaces the default list.
//
// Then every scalar key can be set by the variable "PAYGATE_" + its
// path in capitals, levels joined by "__" and list items by index
// (PAYGATE_DATABASE, PAYGATE_BANK__SECRET_FILE, PAYGATE_SMSC__0__PASSWORD;
// SPEC.md §1), read through getenv, which may be nil. A variable that is
// empty counts as unset. A variable for the item just past the end of a
// list adds that item, from its defaults, and so on up the indexes
// (PAYGATE_SMSC__0__ADDR with no smsc in the file adds a bind); one past
// a gap is an error. A variable under bank adds a bank when there is
// none.
//
// Last, relative paths (token_file, secret_file, ca_file, cert_file,
// key_file, pepper_file, data_key_file and the path of a sqlite:
// database) are made relative to the directory of the file, as absolute
// paths; this applies to values from the environment too.
//
// With path "" there is no file: Load returns Default with the
// environment's overrides, and leaves relative paths relative to the
// working directory (the sandbox of `paygate serve`).
//
// The error is a file that cannot be read, or every problem found,
// joined (errors.Join), each a *KeyError; a value from the file or the
// environment that is a secret is never quoted in it.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("reading the config: %w", err)
		}
		errs = append(errs, decodeYAML(path, data, &c)...)
	}
	if getenv != nil {
		errs = append(errs, applyEnv(&c, getenv)...)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if path != "" {
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return Config{}, fmt.Errorf("finding the config's directory: %w", err)
		}
		c.ResolvePaths(dir)
	}
	return c, nil
}

// decodeYAML decodes data, the contents of file, over c.
func decodeYAML(file string, data []byte, c *Config) []error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // an empty file
			return nil
		}
		return []error{&KeyError{Source: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return []error{&KeyError{Source: file, Msg: "more than one YAML document; the config is one"}}
	}
	d := &decoder{file: file}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	d.value(root, reflect.ValueOf(c).Elem(), "")
	return d.errs
}

// decoder decodes YAML nodes into Config's types, strictly, keeping
// every error with its key's path.
type decoder struct {
	file string
	errs []error
}

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, &KeyError{
		Key:    key,
		Source: fmt.Sprintf("%s:%d", d.file, n.Line),
		Msg:    fmt.Sprintf(format, args...),
	})
}

// value decodes n into v, whose path is key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // as if absent: keep the default
	}
	switch {
	case isScalar(v.Type()):
		if n.Kind != yaml.ScalarNode {
			d.fail(n, key, "expected a single value, found %s", kindName(n))
			return
		}
		if msg := setScalar(v, n.Value); msg != "" {
			d.fail(n, key, "%s", msg)
		}
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, key, "expected a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for i, item := range n.Content {
			s = reflect.Append(s, newItem(v.Type().Elem()).Elem())
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		v.Set(s)
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, key, "expected a mapping of keys to values, found %s", kindName(n))
			return
		}
		if v.IsZero() {
			// A bank that is given starts from its defaults.
			v.Set(newItem(v.Type()).Elem())
		}
		d.mapping(n, v, key, map[string]bool{})
	default:
		panic(fmt.Sprintf("config: %s: no decoding for %s", key, v.Type()))
	}
}

// mapping decodes mapping node n into struct v. Merged mappings
// ("<<: *base") are decoded first, so that the keys next to them win.
// seen holds the keys already set directly.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string, seen map[string]bool) {
	fields := fieldsOf(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], v, key)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, key, "a key must be a single value, found %s", kindName(k))
			continue
		}
		path := join(key, k.Value)
		f, ok := fields[k.Value]
		if !ok {
			d.fail(k, path, "unknown key")
			continue
		}
		if seen[k.Value] {
			d.fail(k, path, "given twice")
			continue
		}
		seen[k.Value] = true
		d.value(val, v.FieldByIndex(f.index), path)
	}
}

// merge decodes the mapping, or list of mappings, of a "<<" key into v.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, key string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		d.mapping(n, v, key, map[string]bool{})
	case yaml.SequenceNode:
		// The first mapping of the list wins: decode them last to first.
		for i := len(n.Content) - 1; i >= 0; i-- {
			d.merge(n.Content[i], v, key)
		}
	default:
		d.fail(n, join(key, "<<"), "expected a mapping to merge, found %s", kindName(n))
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "something else"
}

// join returns the path of key name under parent.
func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// field is a struct field that is a key.
type field struct {
	name  string // the yaml key
	index []int
	path  bool // a file path, made relative to the config file
}

// fieldsOf returns the keys of struct type t by name, from the yaml
// tags. A field without a yaml tag is not a key.
func fieldsOf(t reflect.Type) map[string]field {
	m := map[string]field{}
	for _, f := range orderedFields(t) {
		m[f.name] = f
	}
	return m
}

// orderedFields returns the keys of struct type t in declaration order.
func orderedFields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fs = append(fs, field{name: name, index: sf.Index, path: sf.Tag.Get("config") == "path"})
	}
	return fs
}

var durationType = reflect.TypeFor[time.Duration]()

// isScalar reports whether t holds one value rather than keys or items.
func isScalar(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// setScalar parses s into v, which isScalar. It returns what is wrong,
// or "". Only numbers, booleans and durations can fail, so the message
// may quote s: no secret is any of those.
func setScalar(v reflect.Value, s string) string {
	if v.Kind() != reflect.String {
		s = strings.TrimSpace(s)
	}
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Sprintf(`%q is not a duration such as "10m", "30s" or "1h30m"`, s)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Sprintf("%q is not true or false", s)
		}
		v.SetBool(b)
	case v.CanInt():
		i, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Sprintf("%q is out of range", s)
		}
		if err != nil {
			return fmt.Sprintf("%q is not a whole number", s)
		}
		v.SetInt(i)
	case v.CanUint():
		u, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Sprintf("%q is not a whole number of 0 or more in range", s)
		}
		v.SetUint(u)
	case v.CanFloat():
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprintf("%q is not a number", s)
		}
		v.SetFloat(f)
	default:
		panic("config: no parsing for " + v.Type().String())
	}
	return ""
}

// newItem returns a pointer to a new value of type t, a list item or a
// struct that was absent, from its defaults: DefaultSMSC, DefaultBank,
// or else the zero value.
func newItem(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	switch t {
	case reflect.TypeFor[SMSC]():
		p.Elem().Set(reflect.ValueOf(DefaultSMSC()))
	case reflect.TypeFor[Bank]():
		p.Elem().Set(reflect.ValueOf(DefaultBank()))
	}
	return p
}

// ResolvePaths makes every relative file path of c (the fields tagged
// config:"path", and a sqlite: database's file) relative to dir, as Load
// does with the config file's directory. In-memory databases and SQLite
// file: URIs are left alone.
func (c *Config) ResolvePaths(dir string) {
	resolvePaths(reflect.ValueOf(c).Elem(), dir)
	c.Database = SecretURL(resolveDatabase(c.Database.Reveal(), dir))
}

// resolvePaths makes the relative paths in the fields tagged
// `config:"path"` under v relative to dir.
func resolvePaths(v reflect.Value, dir string) {
	switch v.Kind() {
	case reflect.Slice:
		for i := range v.Len() {
			resolvePaths(v.Index(i), dir)
		}
	case reflect.Struct:
		for _, f := range orderedFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if f.path && fv.Kind() == reflect.String {
				fv.SetString(resolvePath(fv.String(), dir))
				continue
			}
			resolvePaths(fv, dir)
		}
	}
}

func resolvePath(p, dir string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// resolveDatabase resolves the path of a sqlite: database, keeping any
// query (sqlite:paygate.db?_pragma=...). An in-memory database and
// SQLite's file: URIs are left alone.
func resolveDatabase(db, dir string) string {
	rest, ok := strings.CutPrefix(db, "sqlite:")
	if !ok {
		return db
	}
	p, query, _ := strings.Cut(rest, "?")
	if p == "" || p == ":memory:" || strings.HasPrefix(p, "file:") || strings.HasPrefix(p, "//") {
		return db
	}
	out := "sqlite:" + resolvePath(p, dir)
	if query != "" {
		out += "?" + query
	}
	return out
}
