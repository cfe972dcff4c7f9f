//! The statements history writes, as text only: the relay's writer (`write`) binds them, and
//! the benchmark's I/O floor (`bench/floors/io`, which includes this file) sends the very same
//! ones with fixed values, so the floor's D1 work is the relay's.

pub const INSERT_EVENT: &str = "INSERT INTO events \
     (id, type, store, subject, time, received_at, targets, json, truncated) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (id) DO NOTHING";

/// Rows: `[event_id, target, state, run, attempts, last_status, last_error, reason, at]`.
/// A row applies unless the stored one is newer by (run, attempts, updated_at); the last
/// status and error change only with an attempt's outcome, so holding or replaying a delivery
/// keeps why it last failed. `received_at` comes from the event when it is there (a status
/// search pages on it), else from the run (the consumer wrote first).
pub const UPSERT_DELIVERIES: &str = "INSERT INTO deliveries \
     (event_id, target, state, run, attempts, last_status, last_error, reason, received_at, updated_at, delivered_at) \
     SELECT u.e, u.t, u.s, u.run, u.n, u.status, u.error, u.reason, \
       coalesce((SELECT received_at FROM events WHERE id = u.e), u.run), \
       u.at, CASE WHEN u.s = 'delivered' THEN u.at END \
     FROM (SELECT json_extract(value, '$[0]') AS e, json_extract(value, '$[1]') AS t, \
       json_extract(value, '$[2]') AS s, json_extract(value, '$[3]') AS run, \
       json_extract(value, '$[4]') AS n, json_extract(value, '$[5]') AS status, \
       json_extract(value, '$[6]') AS error, json_extract(value, '$[7]') AS reason, \
       json_extract(value, '$[8]') AS at FROM json_each(?)) AS u \
     WHERE true \
     ON CONFLICT (event_id, target) DO UPDATE SET \
       state = excluded.state, run = excluded.run, attempts = excluded.attempts, \
       last_status = CASE WHEN excluded.state IN ('delivered', 'failed', 'dead_letter') \
         THEN excluded.last_status ELSE deliveries.last_status END, \
       last_error = CASE WHEN excluded.state IN ('delivered', 'failed', 'dead_letter') \
         THEN excluded.last_error ELSE deliveries.last_error END, \
       reason = excluded.reason, updated_at = excluded.updated_at, \
       delivered_at = excluded.delivered_at \
     WHERE (excluded.run, excluded.attempts, excluded.updated_at) \
       >= (deliveries.run, deliveries.attempts, deliveries.updated_at)";

/// Rows: `[event_id, target, run, attempt, outcome, status, error, duration_ms, at, next]`.
pub const INSERT_ATTEMPTS: &str = "INSERT INTO attempts \
     (event_id, target, run, attempt, outcome, status, error, duration_ms, at, next_retry_seconds) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
       json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
       json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'), \
       json_extract(value, '$[9]') \
     FROM json_each(?) WHERE true \
     ON CONFLICT (event_id, target, run, attempt) DO NOTHING";

/// Rows: `[kind, at, target, event_id, detail]`.
pub const INSERT_LOG: &str = "INSERT INTO log (kind, at, target, event_id, detail) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
       json_extract(value, '$[3]'), json_extract(value, '$[4]') \
     FROM json_each(?)";

pub const DUPLICATE: &str = "UPDATE events SET duplicates = duplicates + 1, \
     last_duplicate_at = max(coalesce(last_duplicate_at, ?1), ?1) WHERE id = ?2";
