package gateway

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3.1 document of every /v1 route, the
// merchant API's and the admin API's, with the webhook events (SPEC §7).
// openapi_test.go holds it to what the gateway serves (g.apiPatterns),
// both ways.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPIRoute serves the document at GET /v1/openapi.json, to anyone:
// it describes the API, it holds no secret.
func (g *Gateway) openAPIRoute(mux *http.ServeMux) {
	g.apiRoute(mux, "GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(openAPIDoc)
	})
}
