package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// The JSON API under /v1 (SPEC §7): errors are {"error": {"code",
// "message"}} with a fitting status; every route is registered with
// apiRoute, so that the OpenAPI document can be checked against what is
// served.

// apiError is the body of every API error.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with status and the error code and message. The
// message is for people; it never holds a secret.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Error: apiErrorBody{Code: code, Message: message}})
}

// apiRoute serves h at pattern ("METHOD /path") on mux and records the
// pattern in g.apiPatterns.
func (g *Gateway) apiRoute(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	g.apiPatterns = append(g.apiPatterns, pattern)
	mux.HandleFunc(pattern, h)
}

// maxBody bounds a request body of the API.
const maxBody = 64 << 10

// readJSON decodes r's body into v, refusing unknown fields, trailing
// data and bodies over maxBody; false means it answered 400 already.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body is not the JSON this call takes: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body has data after its JSON object")
		return false
	}
	return true
}

// jsonProblem says what is wrong with a body without quoting its values
// (a body may hold a PIN).
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var big *http.MaxBytesError
	switch {
	case errors.As(err, &syn):
		return "malformed JSON"
	case errors.As(err, &typ):
		return "field " + typ.Field + " has the wrong type"
	case errors.As(err, &big):
		return "the body is too large"
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + f
	}
	return "malformed JSON"
}
