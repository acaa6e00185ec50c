package gateway

import (
	"context"
	"fmt"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
)

// durableParts is the smpp.PartStore of the gateway: parts of long
// inbound messages are sealed in the store before they are acknowledged.
type durableParts struct{ db *store.DB }

func partKey(k smpp.PartKey) string {
	return fmt.Sprintf("%s|%s|%d|%t|%d", k.Source, k.Destination, k.Ref, k.Ref16, k.Total)
}

func (p durableParts) AddPart(ctx context.Context, k smpp.PartKey, seq uint8, payload []byte) ([][]byte, bool, error) {
	return p.db.AddPart(ctx, partKey(k), int(seq), int(k.Total), payload)
}

func (p durableParts) Forget(ctx context.Context, k smpp.PartKey) error {
	return p.db.ForgetParts(ctx, partKey(k))
}
