//! Open Finance Brasil, Accounts API v2 (`OPENFINANCE_BASE_URL`, the institution's API root). A
//! connection is a consent; its sealed credentials hold the access token the consent's
//! authorization-code flow produced (`{"access_token": "..."}`): the FAPI-BR flow itself (mTLS,
//! `private_key_jwt`, consent creation) happens outside this platform, and an operator stores
//! the token with `findash connections set-credentials` (see `runbooks/bank-sync.md`).
//!
//! Every request carries `Authorization: Bearer` and a fresh `x-fapi-interaction-id`, which the
//! server must echo. Lists page by `links.next` alone (transaction lists have no totals).
//! Amounts are decimal strings with 2–4 places; direction is `creditDebitType`.

use findash_schema::sync::{AccountKind, TransactionStatus};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::{Account, BRT, Page, ProviderError, Providers, Transaction, Window, fingerprint, http};
use crate::money;

const PROVIDER: &str = "openfinance";
/// The access token is the consent's own: refused, expired or revoked, the consent needs its
/// customer again.
const REFUSALS: http::Refusals = http::Refusals {
    connection: &[401, 403],
    deployment: &[],
};
const ROOT: &str = "open-banking/accounts/v2/";
const PAGE_SIZE: &str = "1000";

#[derive(Debug)]
pub struct OpenFinance<'a> {
    http: &'a reqwest::Client,
    base: &'a Url,
    token: SecretString,
}

#[derive(Deserialize)]
struct StoredCredentials {
    access_token: String,
}

#[derive(Deserialize)]
struct List {
    data: Vec<Box<RawValue>>,
    #[serde(default)]
    links: Links,
}

#[derive(Deserialize, Default)]
struct Links {
    next: Option<String>,
}

#[derive(Deserialize)]
struct OfbAccount {
    #[serde(rename = "accountId")]
    id: String,
    #[serde(rename = "brandName")]
    brand: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    number: Option<String>,
}

#[derive(Deserialize)]
struct Balances {
    data: BalanceData,
}

#[derive(Deserialize)]
struct BalanceData {
    #[serde(rename = "availableAmount")]
    available: Amount,
    #[serde(rename = "blockedAmount")]
    blocked: Option<Amount>,
    #[serde(rename = "automaticallyInvestedAmount")]
    invested: Option<Amount>,
}

#[derive(Deserialize)]
struct Amount {
    #[serde(deserialize_with = "money::decimal")]
    amount: Decimal,
    currency: String,
}

#[derive(Deserialize)]
struct OfbTransaction {
    #[serde(rename = "transactionId")]
    id: String,
    #[serde(rename = "completedAuthorisedPaymentType")]
    completion: String,
    #[serde(rename = "creditDebitType")]
    direction: String,
    #[serde(rename = "transactionName")]
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "transactionAmount")]
    amount: Amount,
    #[serde(rename = "transactionDateTime")]
    at: String,
}

impl<'a> OpenFinance<'a> {
    pub fn new(
        providers: &'a Providers,
        http: &'a reqwest::Client,
        credentials: Option<SecretString>,
    ) -> Result<OpenFinance<'a>, ProviderError> {
        let not_configured = |detail: &str| ProviderError::NotConfigured {
            provider: PROVIDER,
            detail: detail.to_owned(),
        };
        let base = providers
            .config
            .openfinance_base_url
            .as_ref()
            .ok_or_else(|| not_configured("OPENFINANCE_BASE_URL is not set"))?;
        let credentials = credentials
            .ok_or_else(|| not_configured("the connection has no stored access token"))?;
        let stored: StoredCredentials =
            serde_json::from_str(credentials.expose_secret()).map_err(|_| {
                not_configured("stored credentials are not {\"access_token\": \"...\"}")
            })?;
        Ok(OpenFinance {
            http,
            base,
            token: SecretString::from(stored.access_token),
        })
    }

    pub fn rate_limit_key(&self) -> String {
        format!("openfinance:{}", fingerprint(self.token.expose_secret()))
    }

    async fn get(&self, url: Url) -> Result<List, ProviderError> {
        let body = self.get_bytes(url).await?;
        http::json(PROVIDER, &body)
    }

    async fn get_bytes(&self, url: Url) -> Result<Vec<u8>, ProviderError> {
        let interaction = uuid::Uuid::new_v4().to_string();
        let request = self
            .http
            .get(url)
            .bearer_auth(self.token.expose_secret())
            .header("x-fapi-interaction-id", &interaction);
        http::send_checked(PROVIDER, REFUSALS, request, |headers| {
            match headers
                .get("x-fapi-interaction-id")
                .and_then(|v| v.to_str().ok())
            {
                Some(echoed) if echoed != interaction => Err(format!(
                    "x-fapi-interaction-id {echoed} does not echo {interaction}"
                )),
                _ => Ok(()),
            }
        })
        .await
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, ProviderError> {
        let mut next = Some(http::endpoint(
            PROVIDER,
            self.base,
            &format!("{ROOT}accounts"),
        )?);
        let mut accounts = Vec::new();
        while let Some(url) = next {
            let list = self.get(url).await?;
            for raw in list.data {
                let account: OfbAccount =
                    serde_json::from_str(raw.get()).map_err(|e| ProviderError::BadData {
                        provider: PROVIDER,
                        detail: format!("account: {e}"),
                    })?;
                if let Some(account) = self.with_balance(account).await? {
                    accounts.push(account);
                }
            }
            next = list
                .links
                .next
                .map(|n| http::same_origin(PROVIDER, self.base, &n))
                .transpose()?;
        }
        Ok(accounts)
    }

    async fn with_balance(&self, account: OfbAccount) -> Result<Option<Account>, ProviderError> {
        let kind = match account.kind.as_str() {
            "CONTA_DEPOSITO_A_VISTA" | "CONTA_PAGAMENTO_PRE_PAGA" => AccountKind::Checking,
            "CONTA_POUPANCA" => AccountKind::Savings,
            _ => return Ok(None),
        };
        let url = http::endpoint(
            PROVIDER,
            self.base,
            &format!("{ROOT}accounts/{}/balances", encode(&account.id)),
        )?;
        let body = self.get_bytes(url).await?;
        let balances: Balances = http::json(PROVIDER, &body)?;
        let available = balances.data.available;
        let held = [balances.data.blocked, balances.data.invested]
            .into_iter()
            .flatten()
            .filter(|a| a.currency == available.currency)
            .map(|a| a.amount)
            .sum::<Decimal>();
        Ok(Some(Account {
            external_id: account.id,
            kind,
            name: account
                .number
                .map_or_else(|| "Conta".to_owned(), |n| format!("Conta {n}")),
            institution: account.brand.unwrap_or_else(|| "Open Finance".to_owned()),
            current_balance: Some(available.amount + held),
            available_balance: Some(available.amount),
            currency: available.currency,
            credit_limit: None,
            statement_balance: None,
            statement_closing_date: None,
            statement_due_date: None,
            balance_as_of: Some(chrono::Utc::now()),
        }))
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
                let mut url = http::endpoint(
                    PROVIDER,
                    self.base,
                    &format!("{ROOT}accounts/{}/transactions", encode(account)),
                )?;
                url.query_pairs_mut()
                    .append_pair("fromBookingDate", &window.since.to_string())
                    .append_pair("toBookingDate", &window.until.to_string())
                    .append_pair("page-size", PAGE_SIZE);
                url
            }
        };
        let list = self.get(url).await?;
        Ok(Page {
            items: super::items(list.data, "transactionId", convert_transaction),
            next: list.links.next,
        })
    }
}

fn convert_transaction(t: OfbTransaction, raw: serde_json::Value) -> Result<Transaction, String> {
    let magnitude = t.amount.amount.abs();
    let amount = match t.direction.as_str() {
        "CREDITO" => magnitude,
        "DEBITO" => -magnitude,
        other => {
            return Err(format!(
                "creditDebitType {other:?} is neither CREDITO nor DEBITO"
            ));
        }
    };
    let status = match t.completion.as_str() {
        "TRANSACAO_EFETIVADA" => TransactionStatus::Posted,
        "LANCAMENTO_FUTURO" | "TRANSACAO_PROCESSANDO" => TransactionStatus::Pending,
        other => {
            return Err(format!(
                "completedAuthorisedPaymentType {other:?} is unknown"
            ));
        }
    };
    let day = super::date_of(&t.at, BRT)?;
    Ok(Transaction {
        external_id: t.id,
        booked_date: day,
        value_date: Some(day),
        amount,
        currency: Some(t.amount.currency),
        original: None,
        description: t.name.unwrap_or_default(),
        counterparty: None,
        provider_category: t.kind,
        status,
        raw,
    })
}

/// A path segment, percent-encoded.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
