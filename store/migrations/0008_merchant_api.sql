-- Merchant payment requests (SPEC §5.4, §7). A request is a PAY
-- transfer started by a merchant's system: its id is the transfer's id,
-- and the transfer row holds its state. mode is "push" or "terminal";
-- reference is the merchant's own reference (not the transfer's short
-- one). Times are unix microseconds.
CREATE TABLE payment_requests (
    id          TEXT PRIMARY KEY,
    merchant    TEXT NOT NULL,
    phone       TEXT NOT NULL,
    mode        TEXT NOT NULL,
    reference   TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
-- A merchant's requests to one phone by time: the limit of pushes per
-- phone per hour (SPEC §5.5).
CREATE INDEX payment_requests_merchant_phone ON payment_requests (merchant, phone, created_at);

-- Failed authentications at a merchant's terminals (a wrong PIN or code
-- posted through the API): they count against the phone as everywhere,
-- and here against the merchant, whose terminal mode is suspended after
-- repeated failures across phones (SPEC §5.5).
CREATE TABLE merchant_failures (
    id       {{id}},
    merchant TEXT NOT NULL,
    phone    TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX merchant_failures_at ON merchant_failures (merchant, at);

-- terminal_suspended: when the merchant's terminal mode was suspended
-- (0: it is not); an operator lifts it. webhook_secret: the key webhook
-- signatures are made with, AES-GCM sealed and bound to the code; NULL
-- until a webhook URL is set.
ALTER TABLE merchants ADD COLUMN terminal_suspended BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchants ADD COLUMN webhook_secret {{bytes}};

-- The USSD push outbox: network-initiated prompts (SPEC §4, §5.4) a step
-- queued, sent by the push dispatcher after the commit. id is the payment
-- request's. A push past expires_at is not sent.
CREATE TABLE ussd_pushes (
    id          TEXT PRIMARY KEY,
    phone       TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    done_at     BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ussd_pushes_due ON ussd_pushes (next_at) WHERE done_at = 0;

-- The webhook outbox (SPEC §7): one row per event for a merchant, queued
-- by the step that made it and posted, signed, until the merchant's
-- server answers 2xx. id is the event's id, sent with it for dedupe; body
-- is the JSON posted, exactly as signed.
CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,
    merchant     TEXT NOT NULL,
    event        TEXT NOT NULL,
    request      TEXT NOT NULL,
    body         {{bytes}} NOT NULL,
    created_at   BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    delivered_at BIGINT NOT NULL DEFAULT 0,
    last_status  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhooks_due ON webhooks (next_at) WHERE delivered_at = 0;
CREATE INDEX webhooks_merchant ON webhooks (merchant, created_at);

-- Merchant API keys (SPEC §7), stored hashed: id is the key's public
-- prefix (shown to operators), hash a keyed hash of the whole key.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    merchant   TEXT NOT NULL,
    hash       {{bytes}} NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_merchant ON api_keys (merchant);

-- Idempotency-Key records (SPEC §7): per caller (scope "merchant:CODE"
-- or "operator:NAME") and key, a hash of the first request's body and
-- its answer, sealed (an answer can hold a new API key). status 0: the
-- first request is still being answered.
CREATE TABLE idempotency (
    scope      TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    body_hash  {{bytes}} NOT NULL,
    status     INTEGER NOT NULL DEFAULT 0,
    response   {{bytes}},
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);

-- The admin audit log (SPEC §7): every admin action, with the operator's
-- name, what was acted on and the outcome. Never a secret.
CREATE TABLE audit (
    id       {{id}},
    at       BIGINT NOT NULL,
    operator TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL DEFAULT '',
    status   INTEGER NOT NULL,
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at);

-- A transfer a merchant's payment request started carries the request's
-- mode ("push" or "terminal"); "" for one the phone started.
ALTER TABLE transfers ADD COLUMN mode TEXT NOT NULL DEFAULT '';
