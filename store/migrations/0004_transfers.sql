-- Transfers (SPEC §5.2, §5.3, §6): one row per flows.Transfer. sealed
-- is the AES-GCM sealed JSON of what must not be kept in clear — the
-- debit and credit account numbers and the narrative (a PAY reference the
-- payer typed) — bound to the transfer's id; debit_masked and
-- credit_masked are the numbers as they may be shown ("****9001").
-- Amounts are minor units; times unix microseconds.
CREATE TABLE transfers (
    id            TEXT PRIMARY KEY,
    ref           TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    payer         TEXT NOT NULL,
    payee         TEXT NOT NULL,
    payee_phone   TEXT NOT NULL DEFAULT '',
    payee_name    TEXT NOT NULL DEFAULT '',
    debit_bank    TEXT NOT NULL,
    debit_masked  TEXT NOT NULL,
    credit_bank   TEXT NOT NULL,
    credit_masked TEXT NOT NULL,
    sealed        {{bytes}} NOT NULL,
    amount        BIGINT NOT NULL,
    fee           BIGINT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    bank_ref      TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    bind          TEXT NOT NULL DEFAULT '',
    lang          TEXT NOT NULL DEFAULT ''
);
-- A payer's transfers by time: the daily limit (Tx.Spent), MINI, the
-- admin API's search by phone.
CREATE INDEX transfers_payer ON transfers (payer, created_at);
-- Transfers waiting for the payer's PIN or code, by when they expire: the
-- expiry timer (DB.DueTransfers) reads only these.
CREATE INDEX transfers_pending ON transfers (expires_at, id) WHERE state IN ('pending_pin', 'pending_code');
-- Transfers by state, newest first: the admin API's search by state and
-- the metrics gauge of transfers per state (DB.TransferCounts).
CREATE INDEX transfers_state ON transfers (state, created_at);

-- Merchants phones pay with PAY (SPEC §5.3). The account number is
-- AES-GCM sealed, bound to the code; masked is how it may be shown.
-- phone (E.164) gets a receipt per payment, "" for none; webhook is the
-- URL told of payments (https, or http to loopback), "" for none.
CREATE TABLE merchants (
    code          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    bank          TEXT NOT NULL,
    number_sealed {{bytes}} NOT NULL,
    masked        TEXT NOT NULL,
    phone         TEXT NOT NULL DEFAULT '',
    webhook       TEXT NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
