-- What a subscriber's flows keep (flows.Subscriber). state is the sealed
-- flows.MarshalState (lockout, code budget, pending prompt, last
-- operation), NULL while all of it is zero; it is the authoritative copy.
-- failures, locked_until and operator_locked mirror its lockout
-- (flows.Lock Failures, Until, Operator) for operators' queries.
ALTER TABLE subscribers ADD COLUMN pin_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN operator_locked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN state {{bytes}};

-- Bank accounts linked to phones (SPEC §2). The number is AES-GCM sealed
-- (bound to the phone); number_fp is its keyed HMAC fingerprint with the
-- bank, so that one account is linked to a phone at most once without
-- the number in clear. masked is how it may be shown ("****3445", as
-- flows.AccountNumber.Masked writes it); holder is already masked.
CREATE TABLE accounts (
    id            {{id}},
    phone         TEXT NOT NULL,
    bank          TEXT NOT NULL,
    number_sealed {{bytes}} NOT NULL,
    number_fp     {{bytes}} NOT NULL,
    masked        TEXT NOT NULL,
    holder        TEXT NOT NULL DEFAULT '',
    is_default    INTEGER NOT NULL DEFAULT 0,
    linked_at     BIGINT NOT NULL,
    UNIQUE (phone, number_fp)
);
CREATE INDEX accounts_phone ON accounts (phone, id);

-- The bank outbox (ARCHITECTURE.md "Money"). payload is the sealed
-- flows.MarshalBankRequest (it holds an account number), bound to id and
-- erased once the answer is applied (state 'done').
CREATE TABLE bank_outbox (
    id          TEXT PRIMARY KEY,
    phone       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     {{bytes}},
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    done_at     BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX bank_outbox_queued ON bank_outbox (next_at) WHERE state = 'queued';
