-- A duplicate is the same message acting on the same state (SPEC §5.5
-- "the same message (answered once)"): inbox_seen keeps, with each
-- fingerprint, the tag of the phone's prompt the message left behind
-- (flows.Engine.PromptTag). An identical text inside the window is a
-- duplicate only while the phone's prompt is still that one: a user who
-- pays twice in ten minutes sends "OK <PIN>" twice, and is answered twice.
ALTER TABLE inbox_seen ADD COLUMN state TEXT NOT NULL DEFAULT '';
