//! Stripe events into revenue rows.
//!
//! A payment is keyed by its PaymentIntent when it has one, so `payment_intent.succeeded`,
//! `charge.succeeded` and `invoice.paid` of one payment are one row, not three; a refund by its
//! refund id (`re_…`), whichever event reports it (`refund.*`, `charge.refund.updated`, or the
//! refund list of `charge.refunded`); a payout and a dispute by their own ids. Each row holds the
//! state of the newest event that reported it (the event's `created`), so a late or replayed
//! older event changes nothing. Amounts are Stripe's integers in the currency's smallest unit
//! (see [`minor_units`] for the two exceptions). Fees come only with an expanded balance
//! transaction, which events do not carry: without one they stay 0.

use chrono::{DateTime, Utc};
use findash_schema::TenantId;
use findash_schema::revenue::{RevenueKind, RevenueRow};
use serde::Deserialize;
use serde_json::Value;

use super::Outcome;

/// The fields every event has, as the receiver reads them.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The connected account (Stripe Connect); absent for the platform's own events.
    #[serde(default)]
    pub account: Option<String>,
}

/// The payment-account reference events without `account` (the platform's own) are linked by.
pub const PLATFORM_ACCOUNT: &str = "platform";

impl Envelope {
    /// The `payment_accounts.account_ref` this event belongs to.
    pub fn account_ref(&self) -> &str {
        self.account.as_deref().unwrap_or(PLATFORM_ACCOUNT)
    }
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// What `body` (a verified event) means for `tenant`'s revenue. An `Err` says why the event
/// cannot be read: processing it again will not help until the code changes.
pub fn outcome(body: &[u8], tenant: TenantId) -> Result<Outcome, String> {
    let event: Event =
        serde_json::from_slice(body).map_err(|e| format!("the event is not readable: {e}"))?;
    let at = timestamp(event.created).ok_or("the event's `created` is not a time")?;
    let ctx = Ctx {
        tenant,
        event_id: &event.id,
        state_at: at,
    };
    let object = &event.data.object;
    let rows = match event.kind.as_str() {
        "payment_intent.succeeded" => vec![ctx.payment_intent(object)?],
        "charge.succeeded" | "charge.captured" => {
            if object.get("captured").and_then(Value::as_bool) == Some(false) {
                return Ok(Outcome::Ignored(
                    "the charge is authorized, not captured".to_owned(),
                ));
            }
            vec![ctx.charge(object)?]
        }
        "invoice.paid" => match ctx.invoice(object)? {
            Some(row) => vec![row],
            None => {
                return Ok(Outcome::Ignored(
                    "the invoice's payment is counted from its own events".to_owned(),
                ));
            }
        },
        "charge.refunded" => {
            let listed = object
                .pointer("/refunds/data")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if listed.is_empty() {
                return Ok(Outcome::Ignored(
                    "the charge lists no refunds; they arrive as refund events".to_owned(),
                ));
            }
            listed
                .iter()
                .map(|refund| ctx.refund(refund))
                .collect::<Result<_, _>>()?
        }
        "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
            vec![ctx.refund(object)?]
        }
        "payout.paid" | "payout.failed" | "payout.canceled" | "payout.updated" => {
            vec![ctx.payout(object)?]
        }
        kind if kind.starts_with("charge.dispute.") => vec![ctx.dispute(object)?],
        other => {
            return Ok(Outcome::Ignored(format!(
                "`{other}` events carry no revenue"
            )));
        }
    };
    Ok(Outcome::Rows(rows))
}

struct Ctx<'a> {
    tenant: TenantId,
    event_id: &'a str,
    state_at: DateTime<Utc>,
}

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        kind: RevenueKind,
        object: &Value,
        external_id: String,
        related: Option<String>,
        status: String,
        amount: i64,
        state_rank: i16,
    ) -> Result<RevenueRow, String> {
        let currency = currency(object)?;
        let amount_minor = minor_units(amount, &currency)?;
        let fee_minor = minor_units(fee(object)?, &currency)?;
        Ok(RevenueRow {
            tenant: self.tenant,
            source: "stripe",
            kind,
            external_id,
            related_external_id: related,
            status,
            amount_minor,
            fee_minor,
            currency,
            occurred_at: time(object, "created")?,
            customer_ref: object.get("customer").and_then(id_of),
            description: text(object, "description"),
            source_event_id: Some(self.event_id.to_owned()),
            raw: object.clone(),
            state_at: self.state_at,
            state_rank,
        })
    }

    fn payment_intent(&self, pi: &Value) -> Result<RevenueRow, String> {
        let amount = match pi.get("amount_received") {
            Some(received) if !received.is_null() => minor(received, "amount_received")?,
            _ => minor_field(pi, "amount")?,
        };
        let status = text(pi, "status").unwrap_or_else(|| "succeeded".to_owned());
        let rank = if status == "succeeded" { 2 } else { 1 };
        let mut row = self.row(
            RevenueKind::Payment,
            pi,
            required_id(pi)?,
            None,
            status,
            amount,
            rank,
        )?;
        // An intent may be created days before it succeeds: the payment happened when it did.
        row.occurred_at = self.state_at;
        Ok(row)
    }

    fn charge(&self, charge: &Value) -> Result<RevenueRow, String> {
        let key = charge
            .get("payment_intent")
            .and_then(id_of)
            .map_or_else(|| required_id(charge), Ok)?;
        let amount = match charge.get("amount_captured") {
            Some(captured) if captured.as_i64().is_some_and(|c| c > 0) => {
                minor(captured, "amount_captured")?
            }
            _ => minor_field(charge, "amount")?,
        };
        let mut row = self.row(
            RevenueKind::Payment,
            charge,
            key,
            None,
            "succeeded".to_owned(),
            amount,
            2,
        )?;
        // A charge authorized days before its capture was paid when it succeeded.
        row.occurred_at = self.state_at;
        Ok(row)
    }

    /// The invoice's payment, keyed like the events of the payment that paid it. API versions
    /// before 2025-03-31 name its PaymentIntent (or, for legacy charges, its charge) on the
    /// invoice; later ones only in the `payments` list, which events do not include. An invoice
    /// that names neither was paid by a payment whose own events count it (`None`), unless it was
    /// paid outside Stripe: then the invoice is the payment.
    fn invoice(&self, invoice: &Value) -> Result<Option<RevenueRow>, String> {
        let amount = minor_field(invoice, "amount_paid")?;
        if amount == 0 {
            return Ok(None);
        }
        let paid_by = invoice
            .get("payment_intent")
            .and_then(id_of)
            .or_else(|| {
                invoice
                    .pointer("/payments/data")
                    .and_then(Value::as_array)?
                    .iter()
                    .find_map(|p| p.pointer("/payment/payment_intent").and_then(id_of))
            })
            .or_else(|| invoice.get("charge").and_then(id_of));
        let out_of_band = invoice.get("paid_out_of_band").and_then(Value::as_bool) == Some(true);
        let key = match (paid_by, out_of_band) {
            (Some(key), _) => key,
            (None, true) => required_id(invoice)?,
            (None, false) => return Ok(None),
        };
        let mut row = self.row(
            RevenueKind::Payment,
            invoice,
            key,
            None,
            "paid".to_owned(),
            amount,
            2,
        )?;
        if let Some(paid_at) = invoice
            .pointer("/status_transitions/paid_at")
            .and_then(Value::as_i64)
            .and_then(timestamp)
        {
            row.occurred_at = paid_at;
        }
        if row.description.is_none() {
            row.description = text(invoice, "number");
        }
        Ok(Some(row))
    }

    fn refund(&self, refund: &Value) -> Result<RevenueRow, String> {
        let related = refund
            .get("payment_intent")
            .and_then(id_of)
            .or_else(|| refund.get("charge").and_then(id_of));
        let status = text(refund, "status").ok_or("the refund has no status")?;
        let rank = match status.as_str() {
            "succeeded" | "failed" | "canceled" => 2,
            _ => 1,
        };
        let amount = minor_field(refund, "amount")?;
        self.row(
            RevenueKind::Refund,
            refund,
            required_id(refund)?,
            related,
            status,
            amount,
            rank,
        )
    }

    fn payout(&self, payout: &Value) -> Result<RevenueRow, String> {
        let status = text(payout, "status").ok_or("the payout has no status")?;
        let rank = match status.as_str() {
            "paid" | "failed" | "canceled" => 2,
            _ => 1,
        };
        let amount = minor_field(payout, "amount")?;
        // One row per payout: a paid payout that fails later is the same row, `failed`.
        let mut row = self.row(
            RevenueKind::Payout,
            payout,
            required_id(payout)?,
            None,
            status,
            amount,
            rank,
        )?;
        if let Some(arrival) = payout
            .get("arrival_date")
            .and_then(Value::as_i64)
            .and_then(timestamp)
        {
            row.occurred_at = arrival;
        }
        Ok(row)
    }

    fn dispute(&self, dispute: &Value) -> Result<RevenueRow, String> {
        let related = dispute
            .get("payment_intent")
            .and_then(id_of)
            .or_else(|| dispute.get("charge").and_then(id_of));
        let status = text(dispute, "status").ok_or("the dispute has no status")?;
        let rank = match status.as_str() {
            "won" | "lost" | "warning_closed" | "charge_refunded" | "prevented" => 3,
            "under_review" | "warning_under_review" => 2,
            _ => 1,
        };
        let amount = minor_field(dispute, "amount")?;
        self.row(
            RevenueKind::Dispute,
            dispute,
            required_id(dispute)?,
            related,
            status,
            amount,
            rank,
        )
    }
}

fn timestamp(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

/// An id field: a string, or an expanded object's `id`.
fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(object) => object.get("id").and_then(id_of),
        _ => None,
    }
}

fn required_id(object: &Value) -> Result<String, String> {
    object
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| "the object has no id".to_owned())
}

fn text(object: &Value, field: &str) -> Option<String> {
    object
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn time(object: &Value, field: &str) -> Result<DateTime<Utc>, String> {
    object
        .get(field)
        .and_then(Value::as_i64)
        .and_then(timestamp)
        .ok_or_else(|| format!("`{field}` is not a unix time"))
}

fn minor(value: &Value, field: &str) -> Result<i64, String> {
    match value.as_i64() {
        Some(amount) if amount >= 0 => Ok(amount),
        _ => Err(format!(
            "`{field}` is not a non-negative integer amount: {value}"
        )),
    }
}

fn minor_field(object: &Value, field: &str) -> Result<i64, String> {
    minor(object.get(field).unwrap_or(&Value::Null), field)
}

fn currency(object: &Value) -> Result<String, String> {
    let code = object
        .get("currency")
        .and_then(Value::as_str)
        .ok_or("the object has no currency")?;
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(format!("`{code}` is not an ISO 4217 currency code"))
    }
}

/// Stripe amounts are in the currency's smallest unit, which are its ISO 4217 minor units except
/// for currencies ISO gives no decimals that Stripe still writes with two (ISK, UGX): there the
/// amount is a multiple of 100.
fn minor_units(amount: i64, currency: &str) -> Result<i64, String> {
    if !matches!(currency, "ISK" | "UGX") {
        return Ok(amount);
    }
    if amount % 100 == 0 {
        Ok(amount / 100)
    } else {
        Err(format!(
            "{amount} {currency} is not a whole amount in Stripe's two-decimal form"
        ))
    }
}

/// Stripe's fee, when the balance transaction is expanded on the object (it usually is not:
/// then 0, and a later state that carries it fills it in).
fn fee(object: &Value) -> Result<i64, String> {
    match object.pointer("/balance_transaction/fee") {
        Some(fee) => minor(fee, "balance_transaction.fee"),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, created: i64, object: Value) -> Vec<u8> {
        let mut event = json!({
            "id": format!("evt_{created}"), "object": "event", "type": kind, "created": created,
            "livemode": false,
        });
        event["data"] = json!({});
        event["data"]["object"] = object;
        serde_json::to_vec(&event).unwrap()
    }

    fn rows(body: &[u8]) -> Vec<RevenueRow> {
        match outcome(body, TenantId(uuid::Uuid::nil())).unwrap() {
            Outcome::Rows(rows) => rows,
            Outcome::Ignored(why) => panic!("ignored: {why}"),
        }
    }

    #[test]
    fn one_payment_however_many_events_report_it() {
        let pi = rows(&event(
            "payment_intent.succeeded",
            1_700_000_100,
            json!({"id": "pi_1", "object": "payment_intent", "amount": 5000, "amount_received": 5000,
                   "currency": "brl", "created": 1_700_000_000, "status": "succeeded", "customer": "cus_1"}),
        ));
        let charge = rows(&event(
            "charge.succeeded",
            1_700_000_101,
            json!({"id": "ch_1", "object": "charge", "amount": 5000, "amount_captured": 5000,
                   "captured": true, "currency": "brl", "created": 1_700_000_001,
                   "payment_intent": "pi_1",
                   "balance_transaction": {"id": "txn_1", "fee": 219}}),
        ));
        let invoice = rows(&event(
            "invoice.paid",
            1_700_000_102,
            json!({"id": "in_1", "object": "invoice", "amount_paid": 5000, "currency": "brl",
                   "created": 1_699_999_000, "payment_intent": "pi_1",
                   "status_transitions": {"paid_at": 1_700_000_002}}),
        ));
        // Current API versions name no payment on the invoice: its payment's own events count it.
        let nil = TenantId(uuid::Uuid::nil());
        let basil = event(
            "invoice.paid",
            1_700_000_103,
            json!({"id": "in_2", "object": "invoice", "amount_paid": 5000, "currency": "brl",
                   "created": 1_699_999_000, "status": "paid"}),
        );
        assert!(matches!(outcome(&basil, nil), Ok(Outcome::Ignored(_))));
        let out_of_band = rows(&event(
            "invoice.paid",
            1_700_000_104,
            json!({"id": "in_3", "object": "invoice", "amount_paid": 700, "currency": "brl",
                   "created": 1_699_999_000, "paid_out_of_band": true}),
        ));
        assert_eq!(out_of_band[0].external_id, "in_3");
        for r in [&pi[0], &charge[0], &invoice[0]] {
            assert_eq!(
                (
                    r.kind,
                    r.external_id.as_str(),
                    r.amount_minor,
                    r.currency.as_str()
                ),
                (RevenueKind::Payment, "pi_1", 5000, "BRL")
            );
        }
        assert_eq!(charge[0].fee_minor, 219);
        assert_eq!(pi[0].customer_ref.as_deref(), Some("cus_1"));
        assert_eq!(invoice[0].occurred_at.timestamp(), 1_700_000_002);
        assert_eq!(pi[0].state_at.timestamp(), 1_700_000_100);
        assert_eq!(
            pi[0].occurred_at.timestamp(),
            1_700_000_100,
            "when it succeeded"
        );
        let isk = rows(&event(
            "payment_intent.succeeded",
            1,
            json!({"id": "pi_9", "amount_received": 150_000, "currency": "isk", "created": 1}),
        ));
        assert_eq!(isk[0].amount_minor, 1_500);
    }

    #[test]
    fn refunds_are_keyed_by_refund_and_point_at_their_payment() {
        let listed = rows(&event(
            "charge.refunded",
            1_700_000_200,
            json!({"id": "ch_1", "amount": 5000, "currency": "brl", "created": 1, "payment_intent": "pi_1",
                   "refunds": {"data": [
                       {"id": "re_1", "amount": 1000, "currency": "brl", "created": 1_700_000_150, "status": "succeeded", "charge": "ch_1", "payment_intent": "pi_1"},
                       {"id": "re_2", "amount": 500, "currency": "brl", "created": 1_700_000_190, "status": "pending", "charge": "ch_1"}]}}),
        ));
        assert_eq!(listed.len(), 2);
        assert_eq!(
            (
                listed[0].external_id.as_str(),
                listed[0].related_external_id.as_deref(),
                listed[0].state_rank
            ),
            ("re_1", Some("pi_1"), 2)
        );
        assert_eq!(
            (
                listed[1].related_external_id.as_deref(),
                listed[1].state_rank
            ),
            (Some("ch_1"), 1)
        );
        let alone = rows(&event(
            "refund.updated",
            1_700_000_300,
            json!({"id": "re_1", "object": "refund", "amount": 1000, "currency": "brl",
                   "created": 1_700_000_150, "status": "succeeded", "charge": {"id": "ch_1"}, "payment_intent": "pi_1"}),
        ));
        assert_eq!(
            (alone[0].kind, alone[0].external_id.as_str()),
            (RevenueKind::Refund, "re_1")
        );
        // A charge.refunded without its refund list says nothing countable.
        assert!(matches!(
            outcome(
                &event(
                    "charge.refunded",
                    5,
                    json!({"id": "ch_1", "amount": 1, "currency": "brl", "created": 1})
                ),
                TenantId(uuid::Uuid::nil())
            ),
            Ok(Outcome::Ignored(_))
        ));
    }

    #[test]
    fn payouts_disputes_and_everything_else() {
        let paid = rows(&event(
            "payout.paid",
            10,
            json!({"id": "po_1", "amount": 90_000, "currency": "usd", "created": 5, "arrival_date": 8, "status": "paid"}),
        ));
        assert_eq!(
            (paid[0].kind, paid[0].occurred_at.timestamp()),
            (RevenueKind::Payout, 8)
        );
        let failed = rows(&event(
            "payout.failed",
            11,
            json!({"id": "po_1", "amount": 90_000, "currency": "usd", "created": 5, "status": "failed"}),
        ));
        assert_eq!(
            (
                failed[0].kind,
                failed[0].external_id.as_str(),
                failed[0].status.as_str()
            ),
            (RevenueKind::Payout, "po_1", "failed")
        );
        let lost = rows(&event(
            "charge.dispute.closed",
            12,
            json!({"id": "dp_1", "amount": 700, "currency": "eur", "created": 6, "status": "lost", "charge": "ch_9"}),
        ));
        assert_eq!(
            (
                lost[0].kind,
                lost[0].status.as_str(),
                lost[0].state_rank,
                lost[0].related_external_id.as_deref()
            ),
            (RevenueKind::Dispute, "lost", 3, Some("ch_9"))
        );
        for kind in [
            "customer.created",
            "invoice.payment_failed",
            "balance.available",
        ] {
            assert!(matches!(
                outcome(
                    &event(kind, 1, json!({"id": "x"})),
                    TenantId(uuid::Uuid::nil())
                ),
                Ok(Outcome::Ignored(_))
            ));
        }
        assert!(matches!(
            outcome(
                &event(
                    "charge.succeeded",
                    1,
                    json!({"id": "ch_2", "amount": 1, "currency": "brl", "created": 1, "captured": false})
                ),
                TenantId(uuid::Uuid::nil())
            ),
            Ok(Outcome::Ignored(_))
        ));
    }

    #[test]
    fn unreadable_events_say_why() {
        let nil = TenantId(uuid::Uuid::nil());
        let bad = [
            (
                event(
                    "payment_intent.succeeded",
                    1,
                    json!({"id": "pi_1", "amount_received": -5, "currency": "brl", "created": 1}),
                ),
                "amount_received",
            ),
            (
                event(
                    "payment_intent.succeeded",
                    1,
                    json!({"id": "pi_1", "amount_received": 12.5, "currency": "brl", "created": 1}),
                ),
                "amount_received",
            ),
            (
                event(
                    "refund.created",
                    1,
                    json!({"id": "re_1", "amount": 5, "currency": "brl", "created": 1}),
                ),
                "status",
            ),
            (
                event(
                    "payout.paid",
                    1,
                    json!({"id": "po_1", "amount": 5, "currency": "real", "created": 1, "status": "paid"}),
                ),
                "ISO 4217",
            ),
            (b"not json".to_vec(), "not readable"),
        ];
        for (body, needle) in bad {
            match outcome(&body, nil) {
                Err(why) => assert!(why.contains(needle), "{why}"),
                Ok(other) => panic!("accepted: {other:?}"),
            }
        }
    }
}
