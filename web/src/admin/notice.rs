//! The one-line notice a job action leaves on the page it redirects to. The query string
//! carries a fixed key (`?notice=retried`) and, for bulk actions, counts; the words are written
//! here, never taken from the URL, so a link cannot make the console say something it did not.

/// A notice key and the counts that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Retried,
    Cancelled,
    CancelRequested,
    Discarded,
    /// The job was gone (discarded or pruned meanwhile) when the action reached it.
    JobGone,
    BulkRetried {
        applied: u64,
        skipped: u64,
        remaining: u64,
    },
    BulkCancelled {
        applied: u64,
        stopping: u64,
        skipped: u64,
        remaining: u64,
    },
}

impl Notice {
    /// The query-string pairs that carry this notice.
    pub fn pairs(self) -> Vec<(&'static str, String)> {
        let key = |k: &str| vec![("notice", k.to_owned())];
        match self {
            Notice::Retried => key("retried"),
            Notice::Cancelled => key("cancelled"),
            Notice::CancelRequested => key("cancel_requested"),
            Notice::Discarded => key("discarded"),
            Notice::JobGone => key("job_gone"),
            Notice::BulkRetried {
                applied,
                skipped,
                remaining,
            } => vec![
                ("notice", "bulk_retried".to_owned()),
                ("applied", applied.to_string()),
                ("skipped", skipped.to_string()),
                ("remaining", remaining.to_string()),
            ],
            Notice::BulkCancelled {
                applied,
                stopping,
                skipped,
                remaining,
            } => vec![
                ("notice", "bulk_cancelled".to_owned()),
                ("applied", applied.to_string()),
                ("stopping", stopping.to_string()),
                ("skipped", skipped.to_string()),
                ("remaining", remaining.to_string()),
            ],
        }
    }

    /// The notice in a page's query string, if any (an unknown key is no notice).
    pub fn from_query(query: &str) -> Option<Notice> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let count = |name: &str| value(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Some(match value("notice")?.as_str() {
            "retried" => Notice::Retried,
            "cancelled" => Notice::Cancelled,
            "cancel_requested" => Notice::CancelRequested,
            "discarded" => Notice::Discarded,
            "job_gone" => Notice::JobGone,
            "bulk_retried" => Notice::BulkRetried {
                applied: count("applied"),
                skipped: count("skipped"),
                remaining: count("remaining"),
            },
            "bulk_cancelled" => Notice::BulkCancelled {
                applied: count("applied"),
                stopping: count("stopping"),
                skipped: count("skipped"),
                remaining: count("remaining"),
            },
            _ => return None,
        })
    }

    /// What the page says.
    pub fn text(self) -> String {
        match self {
            Notice::Retried => "Retried: the job is queued again with a fresh set of attempts.".to_owned(),
            Notice::Cancelled => "Cancelled: the job will not run.".to_owned(),
            Notice::CancelRequested => {
                "The job is running: its worker was asked to stop, and ends it cancelled at its next pause."
                    .to_owned()
            }
            Notice::Discarded => "Discarded: the job and its history are deleted.".to_owned(),
            Notice::JobGone => {
                "That job no longer exists: it was discarded or pruned meanwhile.".to_owned()
            }
            Notice::BulkRetried {
                applied,
                skipped,
                remaining,
            } => format!(
                "Retried {}.{}{}",
                jobs(applied),
                moved_on(skipped),
                left(remaining, "retry")
            ),
            Notice::BulkCancelled {
                applied,
                stopping,
                skipped,
                remaining,
            } => {
                let stopping = if stopping > 0 {
                    format!(" {} running: asked to stop.", jobs(stopping))
                } else {
                    String::new()
                };
                format!(
                    "Cancelled {}.{stopping}{}{}",
                    jobs(applied),
                    moved_on(skipped),
                    left(remaining, "cancel")
                )
            }
        }
    }
}

fn jobs(n: u64) -> String {
    if n == 1 {
        "1 job".to_owned()
    } else {
        format!("{n} jobs")
    }
}

fn moved_on(skipped: u64) -> String {
    if skipped > 0 {
        format!(
            " Left alone: {} that had changed state meanwhile.",
            jobs(skipped)
        )
    } else {
        String::new()
    }
}

fn left(remaining: u64, verb: &str) -> String {
    if remaining > 0 {
        format!(" {} more match: {verb} again to go on.", jobs(remaining))
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_travel_as_keys_and_counts() {
        for notice in [
            Notice::Retried,
            Notice::Cancelled,
            Notice::CancelRequested,
            Notice::Discarded,
            Notice::JobGone,
            Notice::BulkRetried {
                applied: 3,
                skipped: 1,
                remaining: 1000,
            },
            Notice::BulkCancelled {
                applied: 1,
                stopping: 2,
                skipped: 0,
                remaining: 0,
            },
        ] {
            let query = serde_urlencoded::to_string(notice.pairs()).unwrap_or_default();
            assert_eq!(Notice::from_query(&query), Some(notice), "{query}");
        }
        assert_eq!(Notice::from_query("notice=you-were-hacked"), None);
        assert_eq!(Notice::from_query("state=dead"), None);
        assert_eq!(
            Notice::BulkRetried {
                applied: 1000,
                skipped: 0,
                remaining: 20
            }
            .text(),
            "Retried 1000 jobs. 20 jobs more match: retry again to go on."
        );
    }
}
