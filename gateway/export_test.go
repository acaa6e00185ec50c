package gateway

import "context"

// ExpireReports runs the janitor's pass over integrity nonces now, as
// the janitor would within a minute.
func (g *Gateway) ExpireReports(ctx context.Context) error { return g.expireReports(ctx, g.now()) }
