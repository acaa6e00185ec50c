-- Sensitive MTs (one-time codes) whose sealed text is still kept: the
-- janitor erases it once the code is dead (DB.ExpireSealed).
CREATE INDEX mt_outbox_sealed ON mt_outbox (created_at) WHERE body_sealed IS NOT NULL;
