//! Bank data providers behind one interface: list a connection's accounts, and read an account's
//! transactions page by page from a cursor. One module per provider turns its wire format into
//! [`Account`]s and [`Transaction`]s with exact decimal amounts; the sync converts them to minor
//! units and stores them. Errors are typed so the sync can react: refused credentials need a
//! person, a rate limit waits, an outage retries, bad data is recorded.

mod belvo;
pub(crate) mod http;
mod openfinance;
mod pluggy;
pub mod sandbox;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use findash_schema::connections::{Connection, Provider};
use findash_schema::sync::{AccountKind, TransactionStatus};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::Value;

use crate::config::ProvidersConfig;

pub use http::{REQUEST_TIMEOUT, endpoint};
pub use pluggy::ApiKeyCache;

/// An account as a provider describes it. Balances are signed: a card's is negative when owed.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub external_id: String,
    pub kind: AccountKind,
    pub name: String,
    pub institution: String,
    pub currency: String,
    pub current_balance: Option<Decimal>,
    pub available_balance: Option<Decimal>,
    pub credit_limit: Option<Decimal>,
    pub statement_balance: Option<Decimal>,
    pub statement_closing_date: Option<NaiveDate>,
    pub statement_due_date: Option<NaiveDate>,
    pub balance_as_of: Option<DateTime<Utc>>,
}

/// A transaction as a provider describes it: `amount` is signed (negative leaves the account)
/// and in `currency`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub external_id: String,
    pub booked_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount: Decimal,
    /// `None`: the account's currency (the provider does not repeat it).
    pub currency: Option<String>,
    /// The amount as charged, for a purchase in another currency.
    pub original: Option<(Decimal, String)>,
    pub description: String,
    pub counterparty: Option<String>,
    pub provider_category: Option<String>,
    pub status: TransactionStatus,
    /// The provider's item as received (empty for the sandbox).
    pub raw: Value,
}

/// One item of a page: a transaction, or an item that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Transaction(Transaction),
    Unreadable {
        external_id: Option<String>,
        detail: String,
        raw: Value,
    },
}

/// A page of an account's transactions and where the next one starts (`None`: the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

/// The days a sync reads, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: NaiveDate,
    pub until: NaiveDate,
}

/// Why a provider call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the credentials: a person must reconnect.
    #[error("{provider} refused the credentials: {detail}")]
    Auth {
        provider: &'static str,
        detail: String,
    },
    /// Too many requests: come back after `retry_after`.
    #[error("{provider} is rate limiting; retry after {retry_after:?}")]
    RateLimited {
        provider: &'static str,
        retry_after: Duration,
    },
    /// Unreachable, timing out or failing on its side: try again later.
    #[error("{provider} is unavailable: {detail}")]
    Down {
        provider: &'static str,
        detail: String,
    },
    /// An answer the sync cannot read.
    #[error("{provider} sent data the sync cannot read: {detail}")]
    BadData {
        provider: &'static str,
        detail: String,
    },
    /// The deployment or the connection lacks something only an operator can give.
    #[error("{provider} is not configured: {detail}")]
    NotConfigured {
        provider: &'static str,
        detail: String,
    },
}

/// Brazilian dates: instants from Pluggy and Open Finance Brasil are read at GMT-3.
const BRT: chrono::FixedOffset = match chrono::FixedOffset::west_opt(3 * 3600) {
    Some(offset) => offset,
    None => panic!("GMT-3 is a valid offset"),
};

/// Days of history a first sync reads from a real provider.
pub const HISTORY_DAYS: u64 = 365;

/// What every provider client shares: configuration, sealed-credential opener, Pluggy's key.
#[derive(Debug)]
pub struct Providers {
    pub config: ProvidersConfig,
    pub pluggy_keys: ApiKeyCache,
}

impl Providers {
    pub fn new(config: ProvidersConfig) -> Providers {
        Providers {
            config,
            pluggy_keys: ApiKeyCache::default(),
        }
    }
}

/// A client for one connection.
#[derive(Debug)]
pub enum Client<'a> {
    Sandbox(sandbox::Sandbox),
    Belvo(belvo::Belvo<'a>),
    Pluggy(pluggy::Pluggy<'a>),
    OpenFinance(openfinance::OpenFinance<'a>),
}

impl<'a> Client<'a> {
    /// The client for `connection`; `credentials` are its opened credentials, if it has any.
    pub fn new(
        providers: &'a Providers,
        http: &'a reqwest::Client,
        connection: &Connection,
        credentials: Option<SecretString>,
    ) -> Result<Client<'a>, ProviderError> {
        Ok(match connection.provider {
            Provider::Sandbox => Client::Sandbox(sandbox::Sandbox::from_settings(
                &connection.external_id,
                &connection.settings,
            )?),
            Provider::Belvo => Client::Belvo(belvo::Belvo::new(providers, http, connection)?),
            Provider::Pluggy => Client::Pluggy(pluggy::Pluggy::new(providers, http, connection)?),
            Provider::OpenFinance => {
                Client::OpenFinance(openfinance::OpenFinance::new(providers, http, credentials)?)
            }
        })
    }

    /// The provider's today: the sandbox's `as_of`, the real date for the others.
    pub fn today(&self) -> NaiveDate {
        match self {
            Client::Sandbox(c) => c.as_of(),
            _ => Utc::now().date_naive(),
        }
    }

    /// Where a first sync's history starts: the sandbox's first day, a year for the others
    /// (Open Finance Brasil serves 12 months back).
    pub fn history_start(&self, today: NaiveDate) -> NaiveDate {
        match self {
            Client::Sandbox(c) => c.first_day(),
            _ => today - chrono::Days::new(HISTORY_DAYS),
        }
    }

    /// Requests sharing this key share a rate limit: one per provider credential.
    pub fn rate_limit_key(&self) -> String {
        match self {
            Client::Sandbox(_) => "sandbox".to_owned(),
            Client::Belvo(c) => c.rate_limit_key(),
            Client::Pluggy(c) => c.rate_limit_key(),
            Client::OpenFinance(c) => c.rate_limit_key(),
        }
    }

    /// The connection's accounts.
    pub async fn accounts(&self) -> Result<Vec<Account>, ProviderError> {
        match self {
            Client::Sandbox(c) => Ok(c.accounts()),
            Client::Belvo(c) => c.accounts().await,
            Client::Pluggy(c) => c.accounts().await,
            Client::OpenFinance(c) => c.accounts().await,
        }
    }

    /// A page of `account`'s transactions in `window`, from `cursor` (`None`: the first page).
    pub async fn transactions(
        &self,
        account: &str,
        window: Window,
        cursor: Option<&str>,
    ) -> Result<Page, ProviderError> {
        match self {
            Client::Sandbox(c) => c.transactions(account, window, cursor),
            Client::Belvo(c) => c.transactions(account, window, cursor).await,
            Client::Pluggy(c) => c.transactions(account, window, cursor).await,
            Client::OpenFinance(c) => c.transactions(account, window, cursor).await,
        }
    }
}

/// A short, stable, non-reversible name for a credential, for rate-limit keys and logs.
fn fingerprint(secret_part: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(secret_part.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses the items of a page one by one, so one unreadable item does not lose the page.
fn items<T, F>(
    raw_items: Vec<Box<serde_json::value::RawValue>>,
    id_field: &str,
    convert: F,
) -> Vec<Item>
where
    T: serde::de::DeserializeOwned,
    F: Fn(T, Value) -> Result<Transaction, String>,
{
    raw_items
        .into_iter()
        .map(|raw| {
            let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let external_id = value
                .get(id_field)
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map(str::to_owned);
            let parsed = serde_json::from_str::<T>(raw.get())
                .map_err(|e| e.to_string())
                .and_then(|typed| convert(typed, value.clone()));
            match parsed {
                Ok(transaction) => Item::Transaction(transaction),
                Err(detail) => Item::Unreadable {
                    external_id,
                    detail,
                    raw: value,
                },
            }
        })
        .collect()
}

/// `value` as a date: `YYYY-MM-DD` or the date of an RFC 3339 timestamp, read in `offset`
/// (e.g. Pluggy's UTC timestamps are Brazilian dates at GMT-3).
fn date_of(value: &str, offset: chrono::FixedOffset) -> Result<NaiveDate, String> {
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(day);
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&offset).date_naive())
        .map_err(|_| format!("`{value}` is not a date"))
}
