// Package smpp is an SMPP 3.4 ESME session layer: PDU framing and codec,
// connections with per-session sequence numbers and request/response
// matching, and a reconnecting client that binds to an SMSC, paces and
// windows submits, answers enquire_link, and hands inbound messages to a
// handler off the read loop so that the handler chooses the acknowledgement
// status after it has persisted the message.
//
// The package knows nothing about payments. It logs nothing on its own
// except through the *slog.Logger a caller supplies, and reports
// asynchronous events through the Hooks a caller supplies.
//
// The PDU codec is this package's own. go-smpp's decoder accepts truncated
// PDUs, mis-encodes sm_length above 255 octets, has no data_sm, and builds
// maps for every PDU; it is kept as an oracle in differential tests
// (codec_oracle_test.go) rather than used on the wire.
package smpp
