//! Ledger rows for console tests, written as the database's owner: a job in any state, of any
//! tenant, created at any time, with attempts; and what a page lists.

use findash_engine::testing::TestEngine;
use findash_schema::TenantId;
use findash_schema::testing::sql;
use serde_json::{Value, json};

/// A job to insert; [`Job::default`] is a queued system `noop`.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub tenant: Option<TenantId>,
    pub kind: &'a str,
    pub queue: &'a str,
    pub state: &'a str,
    pub payload: Value,
    pub result: Option<Value>,
    pub last_error: Option<&'a str>,
    /// A timestamptz literal; the id is made of the same time, as the engine's ids are.
    pub created_at: Option<&'a str>,
}

impl Default for Job<'_> {
    fn default() -> Self {
        Job {
            tenant: None,
            kind: "noop",
            queue: "default",
            state: "queued",
            payload: json!({}),
            result: None,
            last_error: None,
            created_at: None,
        }
    }
}

/// `'text'` with quotes doubled, or `NULL`.
pub fn quote(text: Option<&str>) -> String {
    text.map_or_else(
        || "NULL".to_owned(),
        |t| format!("'{}'", t.replace('\'', "''")),
    )
}

/// Inserts `job`; its id.
pub fn insert(t: &TestEngine, job: Job<'_>) -> String {
    let tenant = quote(job.tenant.map(|t| t.to_string()).as_deref());
    let created = job
        .created_at
        .map_or_else(|| "now()".to_owned(), |c| format!("'{c}'::timestamptz"));
    let finished = matches!(
        job.state,
        "succeeded" | "dead" | "cancelled" | "quarantined"
    );
    let running = job.state == "running";
    let attempts = match job.state {
        "queued" => 0,
        "dead" => 3,
        _ => 1,
    };
    sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO jobs (id, tenant_id, kind, queue, state, payload, result, max_attempts, \
                               attempts, last_error, created_at, started_at, finished_at, \
                               lease_owner, lease_expires_at, dispatched_at, dispatch_token) \
             VALUES (findash_uuid_v7({created}), {tenant}, '{kind}', '{queue}', '{state}', \
                     {payload}::jsonb, {result}::jsonb, 3, {attempts}, {error}, {created}, \
                     {started}, {finished}, {owner}, {lease}, {dispatched}, {token}) \
             RETURNING id::text AS value",
            kind = job.kind,
            queue = job.queue,
            state = job.state,
            payload = quote(Some(&job.payload.to_string())),
            result = quote(job.result.map(|r| r.to_string()).as_deref()),
            error = quote(job.last_error),
            started = if attempts > 0 { "now()" } else { "NULL" },
            finished = if finished { "now()" } else { "NULL" },
            owner = if running { "'worker-test'" } else { "NULL" },
            lease = if running {
                "now() + interval '5 minutes'"
            } else {
                "NULL"
            },
            dispatched = if running { "now()" } else { "NULL" },
            token = if running { "'test'" } else { "NULL" },
        ),
    )
}

/// Records attempt `n` of job `id`, finished with `outcome` and `error`.
pub fn attempt(t: &TestEngine, id: &str, n: i32, outcome: &str, error: Option<&str>) {
    super::exec(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO job_attempts (job_id, tenant_id, attempt, worker, started_at, \
                                       finished_at, outcome, error) \
             SELECT id, tenant_id, {n}, 'worker-{n}', now() - interval '10 seconds', \
                    now() - interval '8 seconds', '{outcome}', {error} \
             FROM jobs WHERE id = '{id}'",
            error = quote(error),
        ),
    );
}

/// Job `id`'s state, or `gone`.
pub fn state(t: &TestEngine, id: &str) -> String {
    sql::text(
        &mut t.db.admin_conn(),
        &format!("SELECT coalesce((SELECT state FROM jobs WHERE id = '{id}'), 'gone') AS value"),
    )
}

/// The audit log's console entries, oldest first: `action subject_id`.
pub fn audit(t: &TestEngine) -> Vec<String> {
    sql::texts(
        &mut t.db.admin_conn(),
        "SELECT action || ' ' || coalesce(subject_id, '-') AS value FROM audit_log \
         WHERE action LIKE 'console.job%' ORDER BY id",
    )
}

/// The ids of the jobs a page's table lists, in order (each row's link is labelled `Job <id>`).
pub fn listed(html: &str) -> Vec<String> {
    const MARK: &str = "aria-label=\"Job ";
    html.match_indices(MARK)
        .filter_map(|(at, _)| {
            let rest = &html[at + MARK.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// The href of the link whose text is `text`, its HTML escapes undone.
pub fn link(html: &str, text: &str) -> Option<String> {
    let label = html.find(&format!(">{text}</a>"))?;
    let start = html[..label].rfind("href=\"")? + "href=\"".len();
    let end = html[start..label].find('"')? + start;
    Some(unescape(&html[start..end]))
}

/// Undoes the HTML escapes askama writes.
pub fn unescape(text: &str) -> String {
    text.replace("&#38;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}
