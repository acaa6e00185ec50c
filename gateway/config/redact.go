package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

// masked stands for a secret wherever one would be printed.
const masked = "[redacted]"

// Secret is a password. It prints masked with every fmt verb, in slog
// (text and JSON), and in YAML, JSON and text encodings; Reveal returns
// the value. An empty Secret encodes as "" in YAML and JSON, so a dump
// shows that none is set.
type Secret string

// Reveal returns the secret itself, for handing to what needs it.
func (s Secret) Reveal() string { return string(s) }

func (Secret) String() string             { return masked }
func (Secret) GoString() string           { return masked }
func (Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, masked) }
func (Secret) LogValue() slog.Value       { return slog.StringValue(masked) }
func (Secret) MarshalText() ([]byte, error) {
	return []byte(masked), nil
}

// MarshalYAML masks a set secret.
func (s Secret) MarshalYAML() (any, error) {
	if s == "" {
		return "", nil
	}
	return masked, nil
}

// MarshalJSON masks a set secret.
func (s Secret) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte(`""`), nil
	}
	return json.Marshal(masked)
}

// SecretURL is a URL or DSN that may carry a password: in its user
// information (postgres://user:pw@host/db) or in a password or
// sslpassword query parameter. It prints with the password replaced by
// "[redacted]" (postgres://user:[redacted]@host/db) everywhere Secret
// prints masked, and wholly as "[redacted]" if it cannot be parsed (it
// might be anything). Reveal returns the value.
type SecretURL string

// Reveal returns the URL itself, password included.
func (u SecretURL) Reveal() string { return string(u) }

// String returns the URL with its password masked.
func (u SecretURL) String() string { return redactURL(string(u)) }

func (u SecretURL) GoString() string           { return u.String() }
func (u SecretURL) Format(f fmt.State, _ rune) { fmt.Fprint(f, u.String()) }
func (u SecretURL) LogValue() slog.Value       { return slog.StringValue(u.String()) }
func (u SecretURL) MarshalText() ([]byte, error) {
	return []byte(u.String()), nil
}
func (u SecretURL) MarshalYAML() (any, error)    { return u.String(), nil }
func (u SecretURL) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

// secretParams are query parameters whose value is a password (libpq's
// password and sslpassword).
var secretParams = map[string]bool{"password": true, "sslpassword": true}

// redactURL masks the password in s. It edits the text instead of
// re-encoding a url.URL, which would escape the brackets of
// "[redacted]" and reorder the query. What it cannot take apart with
// certainty it masks whole.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return masked
	}
	body, query, frag := splitURL(s)
	if u.Opaque != "" || !strings.HasPrefix(body, u.Scheme+"://") {
		// sqlite:paygate.db, or anything else without an authority: an
		// "@" in it may follow a password.
		if strings.Contains(s, "@") {
			return masked
		}
	} else {
		rest := body[len(u.Scheme)+3:]
		authority, path := rest, ""
		if i := strings.Index(rest, "/"); i >= 0 {
			authority, path = rest[:i], rest[i:]
		}
		if strings.Contains(path+query+frag, "@") {
			// "user:p/w@host": a password with a "/", "?" or "#" in it,
			// which url.Parse read as a host and a path, query or
			// fragment.
			return masked
		}
		if _, has := u.User.Password(); has {
			at := strings.LastIndex(authority, "@")
			colon := strings.Index(authority[:max(at, 0)], ":")
			if at < 0 || colon < 0 {
				return masked
			}
			authority = authority[:colon+1] + masked + authority[at:]
		}
		body = u.Scheme + "://" + authority + path
	}
	if query != "" {
		parts := strings.Split(query[1:], "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			if name, err := url.QueryUnescape(k); err != nil || secretParams[strings.ToLower(name)] {
				parts[i] = k + "=" + masked
			}
		}
		query = "?" + strings.Join(parts, "&")
	}
	return body + query + frag
}

// splitURL cuts s before its query ("?...") and its fragment ("#...").
func splitURL(s string) (body, query, frag string) {
	if i := strings.Index(s, "#"); i >= 0 {
		s, frag = s[:i], s[i:]
	}
	if i := strings.Index(s, "?"); i >= 0 {
		s, query = s[:i], s[i:]
	}
	return s, query, frag
}

// Redacted returns c as YAML, in the shape Load reads, with every
// secret masked: SMSC passwords as "[redacted]" and the password of the
// database and bank URLs within them. Files that hold secrets appear as
// their paths.
func Redacted(c Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encoding the config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the config: %w", err)
	}
	return buf.Bytes(), nil
}
