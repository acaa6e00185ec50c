// Package envelope is the secure channel between a phone-side security
// module and the gateway (SPEC §9): per-device keys derived with HKDF, one
// per direction; the envelope `version | key version | device id | counter
// | AES-256-GCM ciphertext` carried as 8-bit binary SMS or as GSM-7-safe
// text; the messages inside it (command and reply text, the session
// hello, the platform proof, the integrity nonce and report); the Ed25519
// platform proof; the integrity measurement and its report; and Module,
// the reference phone side that `paygate phone` and tests speak.
//
// The package does no I/O, keeps no global state and reads no clock:
// given keys, counters and a random source every function is
// deterministic, so the gateway can call it inside a flow step. What to
// do with a result — storing the last accepted counter in the
// transaction that accepts the command, counting refusals, the
// allow-list of measurements, key revocation, the secure.envelopes
// policy — is the caller's.
//
// The byte format, key schedule and test vectors are in docs/envelope.md,
// written so a module can be built from it alone; the known-answer tests
// here hold the code to it.
package envelope
