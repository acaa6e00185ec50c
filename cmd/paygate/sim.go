package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/paygate/paygate/smpp/smsc"
)

// SMPP 3.4 §4.1.1 sizes system_id at 16 and password at 9 octets, NUL
// included: a longer value could never be presented by any ESME.
const (
	maxSystemIDLen = 15
	maxPasswordLen = 8
)

func simSMSCCommand() *command {
	return &command{
		name:    "smsc",
		summary: "run a standalone SMPP SMSC simulator",
		help: "Runs the SMSC simulator of package smpp/smsc on its own, for trying an\n" +
			"ESME by hand: it accepts binds with the given system_id and password,\n" +
			"answers submit_sm with message ids and, with --dlr, sends delivery\n" +
			"receipts. It serves until interrupted (SIGINT or SIGTERM).",
		setup: func(fs *flag.FlagSet) action {
			var cfg smsc.Config
			fs.StringVar(&cfg.Addr, "listen", "127.0.0.1:2775", "`address` to listen on, host:port (port 0 picks a free one)")
			fs.StringVar(&cfg.SystemID, "system-id", "paygate", "system_`id` an ESME must bind with (at most 15 characters)")
			fs.StringVar(&cfg.Password, "password", "secret", "`password` an ESME must bind with (at most 8 characters)")
			fs.BoolVar(&cfg.DLR, "dlr", false, "send a delivery receipt for every submit_sm that asks for one")
			fs.BoolVar(&cfg.HexIDs, "hex-ids", false, "hand out hexadecimal message ids instead of decimal ones")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				// smsc.Config reads "" as "use the default": refuse it
				// here, or --password "" would quietly mean "secret".
				switch {
				case cfg.Addr == "":
					return usageErrorf("--listen must not be empty")
				case cfg.SystemID == "" || len(cfg.SystemID) > maxSystemIDLen:
					return usageErrorf("--system-id must be 1 to %d characters", maxSystemIDLen)
				case cfg.Password == "" || len(cfg.Password) > maxPasswordLen:
					return usageErrorf("--password must be 1 to %d characters", maxPasswordLen)
				}
				log := env.log.With("component", "smsc")
				cfg.Logger = log
				srv, err := smsc.Listen(cfg)
				if err != nil {
					return err
				}
				receipts := "off"
				if cfg.DLR {
					receipts = "on"
				}
				fmt.Fprintf(env.stdout, "SMSC simulator listening on %s (system_id %q, delivery receipts %s)\n",
					srv.Addr(), cfg.SystemID, receipts)
				<-ctx.Done()
				if err := srv.Close(); err != nil {
					return fmt.Errorf("closing the SMSC simulator: %w", err)
				}
				log.Info("smsc simulator stopped", "addr", srv.Addr())
				return nil
			}
		},
	}
}
