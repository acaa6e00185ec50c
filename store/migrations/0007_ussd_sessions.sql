-- USSD sessions (SPEC §4), saved in the step that moves them so that a
-- restart, or another instance on the same PostgreSQL, goes on where the
-- session was. state is the sealed encoding of ussd.Session (it can hold
-- PINs typed into a change-PIN dialogue between screens), bound to its
-- phone and session id. expires_at (unix microseconds) is the session's
-- hard end; the janitor deletes what is past it.
CREATE TABLE ussd_sessions (
    phone      TEXT NOT NULL,
    session_id TEXT NOT NULL,
    state      {{bytes}} NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (phone, session_id)
);
CREATE INDEX ussd_sessions_expires ON ussd_sessions (expires_at);
