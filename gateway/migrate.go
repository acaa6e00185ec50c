package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/store"
)

// Migrate opens the store of cfg (database, keys.data_key_file) and
// applies the migrations it lacks, as New does at startup, for
// `paygate migrate`. It returns the names of the migrations applied, in
// order: none when the schema was up to date. Errors name the config
// key they are about.
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) ([]string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dataKey, err := readKeyFile(cfg.Keys.DataKeyFile)
	if err != nil {
		return nil, fmt.Errorf("keys.data_key_file: %w", err)
	}
	db, err := store.Open(ctx, cfg.Database.Reveal(), store.Options{Keys: store.Keys{DataKey: dataKey}, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		err = fmt.Errorf("database: %w", err)
	}
	return applied, errors.Join(err, db.Close())
}
