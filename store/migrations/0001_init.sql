-- Phones that have written to the gateway.
CREATE TABLE subscribers (
    phone      TEXT PRIMARY KEY,
    lang       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Every inbound message acknowledged to an SMSC (RELIABILITY.md I1).
-- text is the redacted form (no PIN or code in clear).
CREATE TABLE inbox (
    id          {{id}},
    bind        TEXT NOT NULL,
    phone       TEXT NOT NULL,
    dest        TEXT NOT NULL,
    text        TEXT NOT NULL,
    fingerprint {{bytes}} NOT NULL,
    received_at BIGINT NOT NULL
);

-- Keyed HMAC fingerprints of recent inbound messages (SPEC §5.5
-- dedupe_window): a message whose fingerprint was seen within the window
-- is the same message.
CREATE TABLE inbox_seen (
    fingerprint {{bytes}} PRIMARY KEY,
    seen_at     BIGINT NOT NULL
);

-- The MT outbox. body is empty and body_sealed holds the AES-GCM sealed
-- text for a sensitive message (one carrying a code), erased once it is
-- delivered or expired.
CREATE TABLE mt_outbox (
    id          {{id}},
    phone       TEXT NOT NULL,
    sender      TEXT NOT NULL,
    body        TEXT NOT NULL,
    body_sealed {{bytes}},
    bind        TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    sent_bind   TEXT NOT NULL DEFAULT '',
    parts       INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT NOT NULL DEFAULT 0,
    done_at     BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mt_outbox_queued ON mt_outbox (next_at, id) WHERE state = 'queued';
CREATE INDEX mt_outbox_phone ON mt_outbox (phone, id) WHERE state = 'queued';

-- SMSC message ids of the parts of sent MTs, under every lookup key of
-- the id (smpp.MessageIDKeys), so a receipt finds its MT however the SMSC
-- writes the id.
CREATE TABLE mt_parts (
    smsc_key TEXT PRIMARY KEY,
    mt_id    BIGINT NOT NULL,
    part     INTEGER NOT NULL,
    state    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mt_parts_mt ON mt_parts (mt_id);

-- Parts of concatenated inbound messages until the whole message is
-- handled (smpp.PartStore). The payload is sealed: a part may carry a PIN.
CREATE TABLE msg_parts (
    part_key   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    total      INTEGER NOT NULL,
    payload    {{bytes}} NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (part_key, seq)
);
