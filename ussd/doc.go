// Package ussd is the USSD dialogue engine (SPEC.md §4): menus for
// unregistered, PIN-less and registered phones over transport-neutral
// events, with explicit states, validation and a re-prompt, paging to the
// screen limit (98 More, 0 Back) measured on the encoded text, session
// and per-screen timeouts, in English and Chinese.
//
// The menus collect what a command needs and run it through the flows
// engine (flows.Engine.HandleScreen) in the caller's transaction: a USSD
// payment obeys exactly the rules of an SMS one — trusted transports,
// limits, the PIN and the one-time code of that transfer, lockout. The
// code always goes by SMS; it is typed into the next screen or texted
// back after the session. The session is saved with the step, so a
// restart or another instance goes on where it was. A shortcut dial's
// inputs (*384*2*DEMO#) walk the menus up to the first screen that asks
// for a PIN or a code. A flows reply a screen shows is said in the
// screen's words where flows' are an SMS's (no "OK <PIN>" on a menu).
//
// The transports (SMPP ussd_service_op, an aggregator's HTTP callback)
// are adapters in package gateway.
package ussd
