-- subscribers mirror their prompt (flows.Subscriber.Prompt: the pending
-- prompt's id and stage, '' for none) so that the inbox's duplicate check
-- (inbox_seen.state, 0005) reads a column instead of unsealing and
-- decoding the phone's state twice per message.
ALTER TABLE subscribers ADD COLUMN prompt TEXT NOT NULL DEFAULT '';
