-- Security modules (SPEC §9). A device is issued (personalised, not yet
-- a phone's), then enrolled to one phone (active), and may be revoked.
-- At most one active device per phone. trust is where its integrity
-- stands (flows.Trust); why says, for operators, why it is not good;
-- measurement is the last reported one (64 hex digits); nonce is the
-- integrity nonce awaiting its report, until nonce_until. Times are unix
-- microseconds.
CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    phone       TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    trust       TEXT NOT NULL DEFAULT 'none',
    why         TEXT NOT NULL DEFAULT '',
    measurement TEXT NOT NULL DEFAULT '',
    nonce       {{bytes}},
    nonce_until BIGINT NOT NULL DEFAULT 0,
    checked_at  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    enrolled_at BIGINT NOT NULL DEFAULT 0,
    revoked_at  BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX devices_phone ON devices (phone) WHERE state = 'active';
CREATE INDEX devices_nonce ON devices (nonce_until) WHERE trust = 'pending';

-- A device's master keys, one per key version (rotation adds one). master
-- is the 32-octet key sealed with the data key, bound to (device, version).
-- up_last is the last uplink counter accepted and down_last the last
-- downlink counter used (envelope replay rule): both move only in the
-- transaction that accepts or sends an envelope.
CREATE TABLE device_keys (
    device_id   TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    master      {{bytes}} NOT NULL,
    state       TEXT NOT NULL,
    up_last     BIGINT NOT NULL DEFAULT 0,
    down_last   BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, key_version)
);

-- The operators' allow-list of integrity measurements (64 hex digits).
CREATE TABLE measurements (
    measurement TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
