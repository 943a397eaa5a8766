//! Mercado Pago: a notification is a pointer. The receiver stores it; `process_webhook` reads
//! the payment it names (`GET /v1/payments/{id}`) with the seller's access token and stores the
//! payment, its refunds and a chargeback as revenue rows. The payment's `date_last_updated`
//! orders states, so an older read never replaces a newer one.

use chrono::{DateTime, FixedOffset, Utc};
use findash_schema::TenantId;
use findash_schema::revenue::{RevenueKind, RevenueRow};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::money;
use crate::providers::ProviderError;
use crate::providers::http::{self, Refusals};

const PROVIDER: &str = "mercadopago";

/// A refused access token blames the linked account: link it again with a valid token.
const REFUSALS: Refusals = Refusals {
    connection: &[401, 403],
    deployment: &[],
};

/// The fields of a notification the receiver and the job read (none of them signed: the
/// signature covers only `data.id`, `x-request-id` and `ts`).
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// The seller the notification is for: its `payment_accounts.account_ref`.
    #[serde(default, deserialize_with = "id_text")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub data: Option<NotificationData>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotificationData {
    #[serde(default, deserialize_with = "id_text")]
    pub id: Option<String>,
}

/// Ids arrive as numbers or strings.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Whether `id` can name a payment in a URL path: 1 to 64 ASCII letters and digits.
pub fn valid_payment_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Debug, Deserialize)]
struct Payment {
    #[serde(deserialize_with = "required_id")]
    id: String,
    status: String,
    #[serde(default)]
    status_detail: Option<String>,
    currency_id: String,
    #[serde(deserialize_with = "money::decimal")]
    transaction_amount: Decimal,
    date_created: DateTime<FixedOffset>,
    #[serde(default)]
    date_approved: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    date_last_updated: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    fee_details: Vec<Fee>,
    #[serde(default)]
    refunds: Vec<Refund>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    payer: Option<Payer>,
    #[serde(default, deserialize_with = "id_text")]
    collector_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Fee {
    #[serde(deserialize_with = "money::decimal")]
    amount: Decimal,
    #[serde(default)]
    fee_payer: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    #[serde(deserialize_with = "required_id")]
    id: String,
    #[serde(deserialize_with = "money::decimal")]
    amount: Decimal,
    #[serde(default)]
    status: Option<String>,
    date_created: DateTime<FixedOffset>,
}

#[derive(Debug, Deserialize)]
struct Payer {
    #[serde(default, deserialize_with = "id_text")]
    id: Option<String>,
}

fn required_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    id_text(d)?.ok_or_else(|| serde::de::Error::custom("an id is missing"))
}

/// Reads payment `id` with the seller's `token`; returns the body as received.
pub async fn fetch_payment(
    http_client: &reqwest::Client,
    base: &Url,
    token: &SecretString,
    id: &str,
) -> Result<Vec<u8>, ProviderError> {
    if !valid_payment_id(id) {
        return Err(ProviderError::BadData {
            provider: PROVIDER,
            detail: "the notification names no valid payment id".to_owned(),
        });
    }
    let url = http::endpoint(PROVIDER, base, &format!("v1/payments/{id}"))?;
    http::send(
        PROVIDER,
        REFUSALS,
        http_client
            .get(url)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json"),
    )
    .await
}

/// The revenue rows of a payment `body` read for seller `account_ref`; `exponent` gives the
/// minor units of the payment's currency (`None`: unknown currency).
pub fn rows(
    body: &[u8],
    tenant: TenantId,
    account_ref: &str,
    event_id: &str,
    exponent: impl Fn(&str) -> Option<u32>,
) -> Result<Vec<RevenueRow>, String> {
    let payment: Payment =
        serde_json::from_slice(body).map_err(|e| format!("the payment is not readable: {e}"))?;
    // The notification's seller is not signed: the payment itself must say it is theirs.
    match &payment.collector_id {
        Some(collector) if collector == account_ref => {}
        Some(collector) => {
            return Err(format!(
                "payment {} belongs to seller {collector}, not to the notified seller {account_ref}",
                payment.id
            ));
        }
        None => {
            return Err(format!(
                "payment {} names no seller (collector_id)",
                payment.id
            ));
        }
    }
    let currency = payment.currency_id.to_ascii_uppercase();
    let exponent = exponent(&currency)
        .ok_or_else(|| format!("`{}` is not a known currency", payment.currency_id))?;
    let to_minor = |amount: Decimal| -> Result<i64, String> {
        if amount.is_sign_negative() {
            return Err(format!("{amount} {currency} is negative"));
        }
        money::to_minor(amount, &currency, exponent).map_err(|e| e.to_string())
    };
    let raw: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let state_at = utc(payment.date_last_updated.unwrap_or(payment.date_created));
    let fee = payment
        .fee_details
        .iter()
        .filter(|f| f.fee_payer.as_deref().is_none_or(|p| p == "collector"))
        .map(|f| to_minor(f.amount))
        .sum::<Result<i64, String>>()?;
    // A refunded or charged-back payment was collected first: its reversal is its own row.
    let (status, rank) = match payment.status.as_str() {
        "refunded" | "charged_back" | "in_mediation" | "approved" => ("approved", 2),
        "rejected" | "cancelled" => (payment.status.as_str(), 2),
        other => (other, 1),
    };
    let base = |kind, external_id: String, status: &str, amount_minor, rank| RevenueRow {
        tenant,
        source: "mercadopago",
        kind,
        external_id,
        related_external_id: None,
        status: status.to_owned(),
        amount_minor,
        fee_minor: 0,
        currency: currency.clone(),
        occurred_at: utc(payment.date_approved.unwrap_or(payment.date_created)),
        customer_ref: payment.payer.as_ref().and_then(|p| p.id.clone()),
        description: payment.description.clone(),
        source_event_id: Some(event_id.to_owned()),
        raw: raw.clone(),
        state_at,
        state_rank: rank,
    };
    let amount = to_minor(payment.transaction_amount)?;
    let mut rows = vec![RevenueRow {
        fee_minor: fee,
        ..base(
            RevenueKind::Payment,
            payment.id.clone(),
            status,
            amount,
            rank,
        )
    }];
    for refund in &payment.refunds {
        let refund_status = refund.status.as_deref().unwrap_or("approved");
        rows.push(RevenueRow {
            related_external_id: Some(payment.id.clone()),
            occurred_at: utc(refund.date_created),
            raw: Value::Null,
            ..base(
                RevenueKind::Refund,
                refund.id.clone(),
                refund_status,
                to_minor(refund.amount)?,
                2,
            )
        });
    }
    let dispute = match payment.status.as_str() {
        // A chargeback the seller was reimbursed for (won the dispute).
        "charged_back" if payment.status_detail.as_deref() == Some("reimbursed") => {
            Some(("won", 3))
        }
        "charged_back" => Some(("lost", 3)),
        "in_mediation" => Some(("under_review", 2)),
        _ => None,
    };
    if let Some((dispute_status, dispute_rank)) = dispute {
        rows.push(RevenueRow {
            related_external_id: Some(payment.id.clone()),
            occurred_at: state_at,
            ..base(
                RevenueKind::Dispute,
                payment.id.clone(),
                dispute_status,
                amount,
                dispute_rank,
            )
        });
    }
    for row in &mut rows {
        if row.raw.is_null() {
            row.raw = Value::Object(Default::default());
        }
    }
    Ok(rows)
}

fn utc(at: DateTime<FixedOffset>) -> DateTime<Utc> {
    at.with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brl(code: &str) -> Option<u32> {
        (code == "BRL").then_some(2)
    }

    const PAYMENT: &str = r#"{"id": 123456789, "status": "refunded", "status_detail": "refunded",
        "currency_id": "BRL", "transaction_amount": 150.75, "transaction_amount_refunded": 50.25,
        "date_created": "2025-03-20T17:20:38.000-04:00", "date_approved": "2025-03-20T17:20:40.000-04:00",
        "date_last_updated": "2025-03-22T10:00:00.000-04:00",
        "fee_details": [{"type": "mercadopago_fee", "amount": 7.54, "fee_payer": "collector"}],
        "refunds": [{"id": 991, "payment_id": 123456789, "amount": 50.25, "status": "approved",
                     "date_created": "2025-03-22T09:59:00.000-04:00"}],
        "collector_id": 777, "payer": {"id": "555", "email": "buyer@example.com"}}"#;

    #[test]
    fn a_refunded_payment_is_a_payment_and_its_refund() {
        let tenant = TenantId(uuid::Uuid::nil());
        let rows = rows(PAYMENT.as_bytes(), tenant, "777", "n-1", brl).unwrap();
        assert_eq!(rows.len(), 2);
        let (payment, refund) = (&rows[0], &rows[1]);
        assert_eq!(
            (
                payment.kind,
                payment.external_id.as_str(),
                payment.status.as_str()
            ),
            (RevenueKind::Payment, "123456789", "approved")
        );
        assert_eq!((payment.amount_minor, payment.fee_minor), (15_075, 754));
        assert_eq!(
            payment.occurred_at.to_rfc3339(),
            "2025-03-20T21:20:40+00:00"
        );
        assert_eq!(payment.state_at.to_rfc3339(), "2025-03-22T14:00:00+00:00");
        assert_eq!(
            (
                refund.kind,
                refund.external_id.as_str(),
                refund.amount_minor
            ),
            (RevenueKind::Refund, "991", 5_025)
        );
        assert_eq!(refund.related_external_id.as_deref(), Some("123456789"));
    }

    #[test]
    fn refuses_what_it_cannot_store_exactly() {
        let tenant = TenantId(uuid::Uuid::nil());
        let other_seller = rows(PAYMENT.as_bytes(), tenant, "778", "n-1", brl).unwrap_err();
        assert!(
            other_seller.contains("belongs to seller 777"),
            "{other_seller}"
        );
        let precise = PAYMENT.replace("150.75", "150.755");
        assert!(
            rows(precise.as_bytes(), tenant, "777", "n", brl)
                .unwrap_err()
                .contains("decimal places")
        );
        let anonymous = PAYMENT.replace(r#""collector_id": 777, "#, "");
        assert!(
            rows(anonymous.as_bytes(), tenant, "777", "n", brl)
                .unwrap_err()
                .contains("names no seller")
        );
        let unknown = PAYMENT.replace("\"BRL\"", "\"XXX\"");
        assert!(
            rows(unknown.as_bytes(), tenant, "777", "n", brl)
                .unwrap_err()
                .contains("not a known currency")
        );
    }

    #[test]
    fn chargebacks_are_lost_disputes() {
        let body = PAYMENT.replace("\"refunded\",", "\"charged_back\",").replace(
            r#""refunds": [{"id": 991, "payment_id": 123456789, "amount": 50.25, "status": "approved",
                     "date_created": "2025-03-22T09:59:00.000-04:00"}],"#,
            "",
        );
        let rows = rows(
            body.as_bytes(),
            TenantId(uuid::Uuid::nil()),
            "777",
            "n",
            brl,
        )
        .unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(
            (rows[1].kind, rows[1].status.as_str(), rows[1].amount_minor),
            (RevenueKind::Dispute, "lost", 15_075)
        );
        assert!(
            valid_payment_id("123456789") && !valid_payment_id("../x") && !valid_payment_id("")
        );
    }
}
