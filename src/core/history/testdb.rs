//! Real SQLite for the history tests: the migrations loaded as wrangler applies them, each
//! statement run with its binds the way the edge hands them to D1, rows read back as D1's
//! `all()` gives them (objects by column name) and deserialized into the row types.

use super::{Bind, Statement, MAX_BINDS};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{params_from_iter, Connection, ToSql};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

impl ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Bind::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Bind::Int(n) => ToSqlOutput::Owned(SqlValue::Integer(*n)),
            Bind::Real(x) => ToSqlOutput::Owned(SqlValue::Real(*x)),
            Bind::Null => ToSqlOutput::Owned(SqlValue::Null),
        })
    }
}

pub struct Db {
    pub conn: Connection,
}

/// Every `migrations/*.sql`, in name order.
pub fn migrations() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable migration");
            (p.display().to_string(), text)
        })
        .collect()
}

impl Db {
    pub fn new() -> Db {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        // D1 enforces foreign keys; the schema must not depend on them being off.
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .expect("pragma");
        for (name, sql) in migrations() {
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        Db { conn }
    }

    fn prepare(&self, s: &Statement) -> rusqlite::Statement<'_> {
        assert!(
            s.binds.len() <= MAX_BINDS,
            "{} binds: {}",
            s.binds.len(),
            s.sql
        );
        let stmt = self
            .conn
            .prepare(&s.sql)
            .unwrap_or_else(|e| panic!("{e}: {}", s.sql));
        assert_eq!(
            stmt.parameter_count(),
            s.binds.len(),
            "bind count of {}",
            s.sql
        );
        stmt
    }

    /// Rows changed, as D1's `meta.changes`.
    pub fn run(&self, s: &Statement) -> usize {
        self.prepare(s)
            .execute(params_from_iter(s.binds.iter()))
            .unwrap_or_else(|e| panic!("{e}: {}", s.sql))
    }

    /// A D1 `batch`: one transaction, all or nothing.
    pub fn batch(&self, ss: &[Statement]) -> Vec<usize> {
        self.conn.execute_batch("BEGIN").expect("begin");
        let out = ss.iter().map(|s| self.run(s)).collect();
        self.conn.execute_batch("COMMIT").expect("commit");
        out
    }

    pub fn json_rows(&self, s: &Statement) -> Vec<Value> {
        let mut stmt = self.prepare(s);
        let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt
            .query(params_from_iter(s.binds.iter()))
            .unwrap_or_else(|e| panic!("{e}: {}", s.sql));
        let mut out = Vec::new();
        while let Some(row) = rows.next().expect("row") {
            let mut obj = Map::new();
            for (i, n) in names.iter().enumerate() {
                let v = match row.get_ref(i).expect("column") {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(x) => Value::from(x),
                    ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => panic!("no blobs in history"),
                };
                obj.insert(n.clone(), v);
            }
            out.push(Value::Object(obj));
        }
        out
    }

    pub fn rows<T: DeserializeOwned>(&self, s: &Statement) -> Vec<T> {
        self.json_rows(s)
            .into_iter()
            .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}")))
            .collect()
    }

    pub fn first<T: DeserializeOwned>(&self, s: &Statement) -> Option<T> {
        self.rows(s).into_iter().next()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}: {sql}"))
    }

    /// `EXPLAIN QUERY PLAN` lines of a statement, with its binds.
    pub fn plan(&self, s: &Statement) -> Vec<String> {
        let explain = Statement::new(format!("EXPLAIN QUERY PLAN {}", s.sql), s.binds.clone());
        self.json_rows(&explain)
            .into_iter()
            .map(|r| r["detail"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Fails if the plan scans a history table (or an alias of one) instead of searching
    /// an index; the `json_each` of a bound array and materialized subqueries may be scanned.
    pub fn assert_indexed(&self, what: &str, s: &Statement) {
        let plan = self.plan(s);
        let tables = [
            "events",
            "deliveries",
            "attempts",
            "log",
            "meta",
            "e",
            "d",
            "x",
        ];
        for line in &plan {
            if let Some(rest) = line.trim().strip_prefix("SCAN ") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                assert!(
                    !tables.contains(&name),
                    "{what}: scans `{name}`:\n{}\n{}",
                    plan.join("\n"),
                    s.sql
                );
            }
        }
        assert!(
            plan.iter().any(|l| l.contains("SEARCH")),
            "{what}: no index search:\n{}",
            plan.join("\n")
        );
    }
}
