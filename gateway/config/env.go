package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// EnvPrefix starts the name of every variable that sets a key.
const EnvPrefix = "PAYGATE_"

// maxEnvItems bounds the list indexes the environment is searched at:
// getenv cannot list the variables, so a variable past a gap in a list
// is found by asking for each index up to this.
const maxEnvItems = 100

// EnvVar returns the variable that sets the key at path, given as its
// keys and list indexes: EnvVar("smsc", 0, "password") is
// PAYGATE_SMSC__0__PASSWORD.
func EnvVar(path ...any) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = strings.ToUpper(fmt.Sprint(p))
	}
	return EnvPrefix + strings.Join(parts, "__")
}

// applyEnv sets the keys of c whose variables getenv has.
func applyEnv(c *Config, getenv func(string) string) []error {
	w := &envWalker{getenv: getenv}
	w.walk(reflect.ValueOf(c).Elem(), "", "")
	return w.errs
}

// envWalker walks Config's keys by their yaml tags, reading the
// variable of each scalar.
type envWalker struct {
	getenv func(string) string
	errs   []error
}

// envChild returns the variable name below parent for a key or index:
// parent is "" at the top.
func envChild(parent, part string) string {
	if parent == "" {
		return EnvPrefix + strings.ToUpper(part)
	}
	return parent + "__" + strings.ToUpper(part)
}

// walk applies the variables under name to v, whose path is key.
func (w *envWalker) walk(v reflect.Value, key, name string) {
	switch {
	case isScalar(v.Type()):
		s := w.getenv(name)
		if s == "" {
			return
		}
		if msg := setScalar(v, s); msg != "" {
			w.errs = append(w.errs, &KeyError{Key: key, Source: name, Msg: msg})
		}
	case v.Kind() == reflect.Slice:
		elem := v.Type().Elem()
		n := v.Len()
		for i := 0; i < maxEnvItems; i++ {
			itemName := envChild(name, strconv.Itoa(i))
			itemKey := fmt.Sprintf("%s[%d]", key, i)
			if i < n {
				w.walk(v.Index(i), itemKey, itemName)
				continue
			}
			set := w.firstSet(elem, itemName)
			if set == "" {
				continue
			}
			if i > n {
				w.errs = append(w.errs, &KeyError{Key: itemKey, Source: set,
					Msg: fmt.Sprintf("%s has no item %d: the environment adds list items in order, from index %d", key, n, n)})
				return
			}
			v.Set(reflect.Append(v, newItem(elem).Elem()))
			n++
			w.walk(v.Index(i), itemKey, itemName)
		}
	case v.Kind() == reflect.Struct:
		if v.IsZero() && key != "" {
			// An absent bank: a variable under it adds it, from its
			// defaults.
			if w.firstSet(v.Type(), name) == "" {
				return
			}
			v.Set(newItem(v.Type()).Elem())
		}
		for _, f := range orderedFields(v.Type()) {
			w.walk(v.FieldByIndex(f.index), join(key, f.name), envChild(name, f.name))
		}
	default:
		panic(fmt.Sprintf("config: %s: no environment variable for %s", key, v.Type()))
	}
}

// firstSet returns the name of a variable that is set under name, for
// a value of type t, or "".
func (w *envWalker) firstSet(t reflect.Type, name string) string {
	switch {
	case isScalar(t):
		if w.getenv(name) != "" {
			return name
		}
	case t.Kind() == reflect.Slice:
		return w.firstSet(t.Elem(), envChild(name, "0"))
	case t.Kind() == reflect.Struct:
		for _, f := range orderedFields(t) {
			if s := w.firstSet(t.FieldByIndex(f.index).Type, envChild(name, f.name)); s != "" {
				return s
			}
		}
	}
	return ""
}
