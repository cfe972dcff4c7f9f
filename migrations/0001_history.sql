-- History: every event and every delivery attempt, kept HISTORY_DAYS (src/core/history).
-- Every time is unix milliseconds (INTEGER): one unit to compare, bucket and subtract.
-- No FOREIGN KEY: D1 enforces them, and history rows may arrive out of order (a consumer can
-- record an attempt before the ingest's own write lands). Evidence, not the source of truth.

-- The relay's /health reads `schema_version` and compares it with history::SCHEMA_VERSION.
-- Each later migration sets the value it brings the schema to.
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('schema_version', '1');

-- One row per accepted event. A rowid table: rows carry up to 32 KiB of JSON.
CREATE TABLE events (
  id TEXT PRIMARY KEY NOT NULL,
  -- The full CloudEvent type, `com.bigcommerce.company.created`.
  type TEXT NOT NULL,
  store TEXT NOT NULL,
  subject TEXT,
  -- The event's `time`; NULL only if it was not in the relay's RFC 3339 form.
  time INTEGER,
  received_at INTEGER NOT NULL,
  -- JSON array of the routed target names.
  targets TEXT NOT NULL DEFAULT '[]',
  -- The CloudEvent JSON, cut at MAX_JSON_BYTES (`truncated` = 1) so one event cannot bloat D1.
  json TEXT NOT NULL,
  truncated INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  last_duplicate_at INTEGER
);
-- Newest-first listing and retention; each filter index ends in (received_at, id) so that a
-- page under an equality filter comes out of the index already in keyset order.
CREATE INDEX events_received ON events (received_at, id);
CREATE INDEX events_type ON events (type, received_at, id);
CREATE INDEX events_store ON events (store, received_at, id);
CREATE INDEX events_subject ON events (subject, received_at, id);

-- The state of one (event, target). `run` is the Delivery's received_at_ms: a replay starts a
-- new run whose attempts count from 1 again. A write applies only if its (run, attempts,
-- updated_at) is not older than the row's, so late or repeated writes cannot roll it back.
CREATE TABLE deliveries (
  event_id TEXT NOT NULL,
  target TEXT NOT NULL,
  -- A closed set: retention walks deliveries_state once per state.
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'dead_letter', 'held', 'filtered')),
  run INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_status INTEGER,
  last_error TEXT,
  -- Why it is held, filtered or pending again (replay, recover).
  reason TEXT,
  -- A copy of events.received_at: status filters page on this table's own index.
  received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  delivered_at INTEGER,
  PRIMARY KEY (event_id, target)
) WITHOUT ROWID;
CREATE INDEX deliveries_state ON deliveries (state, received_at);
CREATE INDEX deliveries_target ON deliveries (target, state, received_at);

-- Every attempt. The key makes a re-recorded attempt (a queue retry of the consumer) a no-op.
CREATE TABLE attempts (
  event_id TEXT NOT NULL,
  target TEXT NOT NULL,
  run INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead_letter')),
  status INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  at INTEGER NOT NULL,
  next_retry_seconds INTEGER,
  PRIMARY KEY (event_id, target, run, attempt)
) WITHOUT ROWID;
-- Covers the stats query (no table lookups) and retention.
CREATE INDEX attempts_at ON attempts (at, target, outcome, duration_ms, run);

-- Everything else worth keeping: replays, recoveries, quarantined requests, dead letters,
-- operational events (`com.b2brelay.target.opened`). `detail` is JSON without secrets or
-- header values.
CREATE TABLE log (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL,
  target TEXT,
  event_id TEXT,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX log_at ON log (at);
CREATE INDEX log_kind ON log (kind, at);
CREATE INDEX log_event ON log (event_id) WHERE event_id IS NOT NULL;
