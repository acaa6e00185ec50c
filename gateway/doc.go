// Package gateway is the running paygate service: it wires the store, the
// flows engine and the SMPP binds from a config.Config; routes inbound
// messages (SMS commands, delivery receipts, USSD) to flow steps that
// commit before the SMSC is acknowledged; dispatches the MT outbox to the
// binds; and serves the operational HTTP endpoints. The sandbox of
// SPEC §1 (serve with no config) is built here too.
package gateway
