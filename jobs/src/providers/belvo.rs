//! Belvo (`BELVO_BASE_URL`): HTTP Basic with the deployment's secret id and password; a
//! connection is a Belvo link. Accounts by link; transactions by link and account, filtered by
//! `value_date`, 1,000 per page, following `next` until it is null. Amounts are positive with
//! the direction in `type`.

use chrono::{FixedOffset, Offset as _};
use findash_schema::connections::Connection;
use findash_schema::sync::{AccountKind, TransactionStatus};
use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::{Account, Page, ProviderError, Providers, Transaction, Window, fingerprint, http};
use crate::config::ProviderCredentials;
use crate::money;

const PROVIDER: &str = "belvo";
/// 401: the deployment's secret id or password; 428: the link needs its user (a token or a new
/// login at the institution).
const REFUSALS: http::Refusals = http::Refusals {
    connection: &[428],
    deployment: &[401],
};
const PAGE_SIZE: &str = "1000";

#[derive(Debug)]
pub struct Belvo<'a> {
    http: &'a reqwest::Client,
    base: &'a Url,
    credentials: &'a ProviderCredentials,
    link: String,
}

#[derive(Deserialize)]
struct Paginated {
    next: Option<String>,
    results: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct BelvoAccount {
    id: String,
    category: Option<String>,
    name: Option<String>,
    currency: String,
    #[serde(default)]
    institution: Option<Institution>,
    #[serde(default)]
    balance: Option<Balance>,
    #[serde(default)]
    credit_data: Option<CreditData>,
}

#[derive(Deserialize)]
struct Institution {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Balance {
    #[serde(default, deserialize_with = "money::optional_decimal")]
    current: Option<Decimal>,
    #[serde(default, deserialize_with = "money::optional_decimal")]
    available: Option<Decimal>,
}

#[derive(Deserialize)]
struct CreditData {
    #[serde(default, deserialize_with = "money::optional_decimal")]
    credit_limit: Option<Decimal>,
    cutting_date: Option<String>,
    next_payment_date: Option<String>,
}

#[derive(Deserialize)]
struct BelvoTransaction {
    id: String,
    value_date: String,
    #[serde(deserialize_with = "money::decimal")]
    amount: Decimal,
    currency: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(rename = "type")]
    direction: Option<String>,
    status: Option<String>,
    #[serde(default)]
    merchant: Option<Merchant>,
}

#[derive(Deserialize)]
struct Merchant {
    merchant_name: Option<String>,
}

impl<'a> Belvo<'a> {
    pub fn new(
        providers: &'a Providers,
        http: &'a reqwest::Client,
        connection: &Connection,
    ) -> Result<Belvo<'a>, ProviderError> {
        let credentials =
            providers
                .config
                .belvo
                .as_ref()
                .ok_or_else(|| ProviderError::NotConfigured {
                    provider: PROVIDER,
                    detail: "BELVO_SECRET_ID and BELVO_SECRET_PASSWORD are not set".to_owned(),
                })?;
        Ok(Belvo {
            http,
            base: &providers.config.belvo_base_url,
            credentials,
            link: connection.external_id.clone(),
        })
    }

    pub fn rate_limit_key(&self) -> String {
        format!("belvo:{}", fingerprint(self.credentials.id.expose_secret()))
    }

    async fn get(&self, url: Url) -> Result<Paginated, ProviderError> {
        let request = self.http.get(url).basic_auth(
            self.credentials.id.expose_secret(),
            Some(self.credentials.secret.expose_secret()),
        );
        let body = http::send(PROVIDER, REFUSALS, request).await?;
        http::json(PROVIDER, &body)
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, ProviderError> {
        let mut url = http::endpoint(PROVIDER, self.base, "api/accounts/")?;
        url.query_pairs_mut()
            .append_pair("link", &self.link)
            .append_pair("page_size", PAGE_SIZE);
        let mut accounts = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next {
            let page = self.get(url).await?;
            for raw in page.results {
                let account: BelvoAccount =
                    serde_json::from_str(raw.get()).map_err(|e| ProviderError::BadData {
                        provider: PROVIDER,
                        detail: format!("account: {e}"),
                    })?;
                if let Some(account) = convert_account(account) {
                    accounts.push(account);
                }
            }
            next = page
                .next
                .map(|n| http::same_origin(PROVIDER, self.base, &n))
                .transpose()?;
        }
        Ok(accounts)
    }

    pub async fn transactions(
        &self,
        account: &str,
        window: Window,
        cursor: Option<&str>,
    ) -> Result<Page, ProviderError> {
        let url = match cursor {
            Some(next) => http::same_origin(PROVIDER, self.base, next)?,
            None => {
                let mut url = http::endpoint(PROVIDER, self.base, "api/transactions/")?;
                url.query_pairs_mut()
                    .append_pair("link", &self.link)
                    .append_pair("account", account)
                    .append_pair("value_date__gte", &window.since.to_string())
                    .append_pair("value_date__lte", &window.until.to_string())
                    .append_pair("page_size", PAGE_SIZE);
                url
            }
        };
        let page = self.get(url).await?;
        Ok(Page {
            items: super::items(page.results, "id", convert_transaction),
            next: page.next,
        })
    }
}

/// Checking, savings and card accounts; Belvo's other kinds (loans, investments) are not
/// bank accounts of the dashboard.
fn convert_account(account: BelvoAccount) -> Option<Account> {
    let kind = match account.category.as_deref() {
        Some("CHECKING_ACCOUNT") => AccountKind::Checking,
        Some("SAVINGS_ACCOUNT") => AccountKind::Savings,
        Some("CREDIT_CARD") => AccountKind::CreditCard,
        _ => return None,
    };
    let card = kind == AccountKind::CreditCard;
    let balance = account.balance.unwrap_or(Balance {
        current: None,
        available: None,
    });
    // Belvo reports what a card owes as a positive current balance; balances here are signed.
    let current = balance.current.map(|b| if card { -b } else { b });
    let credit = account.credit_data;
    let date = |s: Option<&String>| s.and_then(|s| super::date_of(s, utc()).ok());
    Some(Account {
        external_id: account.id,
        kind,
        name: account.name.unwrap_or_else(|| "Account".to_owned()),
        institution: account
            .institution
            .and_then(|i| i.name)
            .unwrap_or_else(|| "Belvo".to_owned()),
        currency: account.currency,
        current_balance: current,
        available_balance: balance.available,
        credit_limit: credit
            .as_ref()
            .and_then(|c| c.credit_limit)
            .filter(|_| card),
        statement_balance: None,
        statement_closing_date: date(credit.as_ref().and_then(|c| c.cutting_date.as_ref()))
            .filter(|_| card),
        statement_due_date: date(credit.as_ref().and_then(|c| c.next_payment_date.as_ref()))
            .filter(|_| card),
        balance_as_of: Some(chrono::Utc::now()),
    })
}

fn convert_transaction(t: BelvoTransaction, raw: serde_json::Value) -> Result<Transaction, String> {
    let amount = match t.direction.as_deref() {
        Some("INFLOW") => t.amount.abs(),
        Some("OUTFLOW") => -t.amount.abs(),
        other => return Err(format!("type {other:?} is neither INFLOW nor OUTFLOW")),
    };
    let day = super::date_of(&t.value_date, utc())?;
    Ok(Transaction {
        external_id: t.id,
        booked_date: day,
        value_date: Some(day),
        amount,
        currency: Some(t.currency),
        original: None,
        description: t.description.unwrap_or_default(),
        counterparty: t.merchant.and_then(|m| m.merchant_name),
        provider_category: t.category,
        status: if t.status.as_deref() == Some("PENDING") {
            TransactionStatus::Pending
        } else {
            TransactionStatus::Posted
        },
        raw,
    })
}

fn utc() -> FixedOffset {
    chrono::Utc.fix()
}
