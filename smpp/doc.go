// Package smpp is an SMPP 3.4 ESME session layer and the carrier-facing
// text handling around it.
//
// Sessions: Conn frames PDUs (command_length checked before anything is
// allocated), numbers its own requests per connection, matches responses
// to its own requests only, answers enquire_link and unbind itself, and
// runs request handlers off the read loop. Client binds to an SMSC as a
// transceiver or a transmitter+receiver pair and keeps the bind up:
// enquire_link on idle, reconnect with capped, jittered backoff (long after
// a refused password), a submit window that blocks rather than rejects, a
// token bucket for submits, pauses on ESME_RTHROTTLED/ESME_RMSGQFUL that
// keep each destination's order, and acknowledgements chosen by the
// Handler after it has persisted the message. A submit whose answer never
// came is ErrUnknownOutcome, not a failure.
//
// Text: GSM 7-bit with its extension table or UCS-2, chosen per message;
// long texts split on character boundaries with UDH concatenation
// (SubmitText); inbound parts kept in a PartStore and handed up whole;
// delivery receipts read from TLVs or the Appendix B text and matched to
// messages by a ReceiptTracker; USSD operation and session TLVs.
//
// The package knows nothing about payments. It logs only through the
// *slog.Logger a caller supplies, and reports events through Hooks.
//
// The PDU codec is this package's own: go-smpp's decoder accepts
// truncated PDUs, mis-encodes sm_length above 255 octets, has no data_sm,
// and builds maps for every PDU; its session types misroute deliver_sm
// that share a sequence number with a pending submit, run handlers in the
// read loop, always acknowledge ESME_ROK, drop the bind on unknown PDUs,
// share one sequence counter and split long texts inside characters.
// go-smpp stays in this package's tests as an oracle: differential tests
// and fuzz targets compare the two codecs and show each defect absent here.
package smpp
