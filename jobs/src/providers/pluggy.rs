//! Pluggy (`PLUGGY_BASE_URL`): `POST /auth` with the deployment's client id and secret gives an
//! API key (a JWT valid for 2 h) sent as `X-API-KEY`. The key is cached per process until shortly
//! before it expires; a 401 drops it and authenticates once more. A connection is a Pluggy item.
//! Transactions come from `/v2/transactions` with cursor pagination (`after` = the last page's
//! `next`); directions are in `type` (DEBIT/CREDIT); dates are UTC instants of Brazilian days.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use findash_schema::connections::Connection;
use findash_schema::sync::{AccountKind, TransactionStatus};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::Mutex;
use url::Url;

use super::{Account, BRT, Page, ProviderError, Providers, Transaction, Window, fingerprint, http};
use crate::config::ProviderCredentials;
use crate::money;

const PROVIDER: &str = "pluggy";
/// Pluggy authenticates the deployment (client id and secret, then its API key); an item that
/// needs its user shows in the item's status, not as a refusal.
const REFUSALS: http::Refusals = http::Refusals {
    connection: &[],
    deployment: &[401, 403],
};
/// Pluggy's API keys live 2 hours; a key is renewed this long before it expires.
const KEY_MARGIN: Duration = Duration::from_secs(300);
const KEY_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// The process's Pluggy API key and when it expires.
#[derive(Debug, Default)]
pub struct ApiKeyCache {
    key: Mutex<Option<(SecretString, DateTime<Utc>)>>,
}

#[derive(Debug)]
pub struct Pluggy<'a> {
    http: &'a reqwest::Client,
    base: &'a Url,
    credentials: &'a ProviderCredentials,
    cache: &'a ApiKeyCache,
    item: String,
}

#[derive(Deserialize)]
struct AuthAnswer {
    #[serde(rename = "apiKey")]
    api_key: String,
}

#[derive(Deserialize)]
struct AccountsPage {
    #[serde(rename = "totalPages", default)]
    total_pages: Option<u32>,
    results: Vec<PluggyAccount>,
}

#[derive(Deserialize)]
struct PluggyAccount {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    name: Option<String>,
    #[serde(rename = "marketingName", default)]
    marketing_name: Option<String>,
    #[serde(default, deserialize_with = "money::optional_decimal")]
    balance: Option<Decimal>,
    #[serde(rename = "currencyCode")]
    currency: String,
    #[serde(rename = "creditData", default)]
    credit: Option<CreditData>,
}

#[derive(Deserialize)]
struct CreditData {
    #[serde(
        rename = "creditLimit",
        default,
        deserialize_with = "money::optional_decimal"
    )]
    limit: Option<Decimal>,
    #[serde(
        rename = "availableCreditLimit",
        default,
        deserialize_with = "money::optional_decimal"
    )]
    available: Option<Decimal>,
    #[serde(rename = "balanceCloseDate", default)]
    close_date: Option<String>,
    #[serde(rename = "balanceDueDate", default)]
    due_date: Option<String>,
}

#[derive(Deserialize)]
struct TransactionsPage {
    results: Vec<Box<RawValue>>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct PluggyTransaction {
    id: String,
    date: String,
    description: Option<String>,
    #[serde(rename = "type")]
    direction: String,
    #[serde(deserialize_with = "money::decimal")]
    amount: Decimal,
    #[serde(
        rename = "amountInAccountCurrency",
        default,
        deserialize_with = "money::optional_decimal"
    )]
    amount_in_account_currency: Option<Decimal>,
    #[serde(rename = "currencyCode")]
    currency: String,
    category: Option<String>,
    status: Option<String>,
    #[serde(rename = "paymentData", default)]
    payment: Option<PaymentData>,
    #[serde(default)]
    merchant: Option<Merchant>,
}

#[derive(Deserialize)]
struct PaymentData {
    payer: Option<Party>,
    receiver: Option<Party>,
}

#[derive(Deserialize)]
struct Party {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Merchant {
    name: Option<String>,
}

impl<'a> Pluggy<'a> {
    pub fn new(
        providers: &'a Providers,
        http: &'a reqwest::Client,
        connection: &Connection,
    ) -> Result<Pluggy<'a>, ProviderError> {
        let credentials =
            providers
                .config
                .pluggy
                .as_ref()
                .ok_or_else(|| ProviderError::NotConfigured {
                    provider: PROVIDER,
                    detail: "PLUGGY_CLIENT_ID and PLUGGY_CLIENT_SECRET are not set".to_owned(),
                })?;
        Ok(Pluggy {
            http,
            base: &providers.config.pluggy_base_url,
            credentials,
            cache: &providers.pluggy_keys,
            item: connection.external_id.clone(),
        })
    }

    pub fn rate_limit_key(&self) -> String {
        format!(
            "pluggy:{}",
            fingerprint(self.credentials.id.expose_secret())
        )
    }

    /// The cached API key, or a new one.
    async fn api_key(&self) -> Result<SecretString, ProviderError> {
        let mut cached = self.cache.key.lock().await;
        if let Some((key, expires)) = cached.as_ref()
            && Utc::now() + KEY_MARGIN < *expires
        {
            return Ok(key.clone());
        }
        let request = self
            .http
            .post(http::endpoint(PROVIDER, self.base, "auth")?)
            .json(&json!({
                "clientId": self.credentials.id.expose_secret(),
                "clientSecret": self.credentials.secret.expose_secret(),
            }));
        let body = http::send(PROVIDER, REFUSALS, request).await?;
        let answer: AuthAnswer = http::json(PROVIDER, &body)?;
        let expires = jwt_expiry(&answer.api_key).unwrap_or_else(|| Utc::now() + KEY_LIFETIME);
        let key = SecretString::from(answer.api_key);
        *cached = Some((key.clone(), expires));
        Ok(key)
    }

    async fn forget_key(&self) {
        *self.cache.key.lock().await = None;
    }

    /// GET with the API key; on 401 the key is renewed once.
    async fn get(&self, url: Url) -> Result<Vec<u8>, ProviderError> {
        for attempt in 0..2 {
            let key = self.api_key().await?;
            let request = self
                .http
                .get(url.clone())
                .header("X-API-KEY", key.expose_secret());
            match http::send(PROVIDER, REFUSALS, request).await {
                // The key expired early or was revoked: one renewal.
                Err(ProviderError::NotConfigured { .. }) if attempt == 0 => self.forget_key().await,
                other => return other,
            }
        }
        Err(ProviderError::NotConfigured {
            provider: PROVIDER,
            detail: "a renewed API key was refused".to_owned(),
        })
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, ProviderError> {
        let mut accounts = Vec::new();
        let mut page = 1;
        loop {
            let mut url = http::endpoint(PROVIDER, self.base, "accounts")?;
            url.query_pairs_mut()
                .append_pair("itemId", &self.item)
                .append_pair("page", &page.to_string());
            let body = self.get(url).await?;
            let answer: AccountsPage = http::json(PROVIDER, &body)?;
            accounts.extend(answer.results.into_iter().filter_map(convert_account));
            if page >= answer.total_pages.unwrap_or(1) {
                return Ok(accounts);
            }
            page += 1;
        }
    }

    pub async fn transactions(
        &self,
        account: &str,
        window: Window,
        cursor: Option<&str>,
    ) -> Result<Page, ProviderError> {
        let mut url = http::endpoint(PROVIDER, self.base, "v2/transactions")?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("accountId", account)
                .append_pair("dateFrom", &window.since.to_string())
                .append_pair("dateTo", &window.until.to_string());
            if let Some(after) = cursor {
                query.append_pair("after", after);
            }
        }
        let body = self.get(url).await?;
        let page: TransactionsPage = http::json(PROVIDER, &body)?;
        Ok(Page {
            items: super::items(page.results, "id", convert_transaction),
            next: page.next.filter(|n| !n.is_empty()),
        })
    }
}

fn convert_account(account: PluggyAccount) -> Option<Account> {
    let kind = match (account.kind.as_str(), account.subtype.as_deref()) {
        ("CREDIT", _) | (_, Some("CREDIT_CARD")) => AccountKind::CreditCard,
        ("BANK", Some("SAVINGS_ACCOUNT")) => AccountKind::Savings,
        ("BANK", _) => AccountKind::Checking,
        _ => return None,
    };
    let card = kind == AccountKind::CreditCard;
    let credit = account.credit.filter(|_| card);
    let date = |s: Option<&String>| s.and_then(|s| super::date_of(s, BRT).ok());
    Some(Account {
        external_id: account.id,
        kind,
        name: account
            .marketing_name
            .or(account.name)
            .unwrap_or_else(|| "Account".to_owned()),
        institution: "Pluggy".to_owned(),
        currency: account.currency,
        // A card's balance is what it owes, positive; balances here are signed.
        current_balance: account.balance.map(|b| if card { -b } else { b }),
        available_balance: if card {
            credit.as_ref().and_then(|c| c.available)
        } else {
            account.balance
        },
        credit_limit: credit.as_ref().and_then(|c| c.limit),
        statement_balance: None,
        statement_closing_date: date(credit.as_ref().and_then(|c| c.close_date.as_ref())),
        statement_due_date: date(credit.as_ref().and_then(|c| c.due_date.as_ref())),
        balance_as_of: Some(Utc::now()),
    })
}

fn convert_transaction(
    t: PluggyTransaction,
    raw: serde_json::Value,
) -> Result<Transaction, String> {
    let sign = match t.direction.as_str() {
        "CREDIT" => Decimal::ONE,
        "DEBIT" => Decimal::NEGATIVE_ONE,
        other => return Err(format!("type {other:?} is neither DEBIT nor CREDIT")),
    };
    // A purchase in another currency: the account's amount is `amountInAccountCurrency`.
    let (amount, original) = match t.amount_in_account_currency {
        Some(in_account) => (
            sign * in_account.abs(),
            Some((sign * t.amount.abs(), t.currency.clone())),
        ),
        None => (sign * t.amount.abs(), None),
    };
    let day = super::date_of(&t.date, BRT)?;
    let party = t.payment.and_then(|p| {
        if sign.is_sign_negative() {
            p.receiver
        } else {
            p.payer
        }
    });
    Ok(Transaction {
        external_id: t.id,
        booked_date: day,
        value_date: Some(day),
        amount,
        // With `amountInAccountCurrency`, `currencyCode` is the original amount's currency and
        // the account's is not repeated.
        currency: if original.is_some() {
            None
        } else {
            Some(t.currency)
        },
        original,
        description: t.description.unwrap_or_default(),
        counterparty: party
            .and_then(|p| p.name)
            .or_else(|| t.merchant.and_then(|m| m.name)),
        provider_category: t.category,
        status: if t.status.as_deref() == Some("PENDING") {
            TransactionStatus::Pending
        } else {
            TransactionStatus::Posted
        },
        raw,
    })
}

/// The `exp` claim of a JWT, read without verifying it (only to know when to renew).
fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}
