//! Money as providers send it: decimal amounts, read exactly (never through `f64`) and converted
//! to integer minor units of their currency. An amount with more decimal places than its currency
//! has is refused, not rounded: BRL 10.005 is a provider bug, and rounding it would make the
//! books disagree with the bank's.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::value::RawValue;

/// Why a provider amount cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{amount} {currency} has {places} decimal places; {currency} has {exponent}")]
    Precision {
        amount: Decimal,
        currency: String,
        places: u32,
        exponent: u32,
    },
    #[error("{amount} {currency} does not fit in 64-bit minor units")]
    Overflow { amount: Decimal, currency: String },
}

impl MoneyError {
    /// The `sync_rejections.reason` for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            MoneyError::Precision { .. } => "precision",
            MoneyError::Overflow { .. } => "overflow",
        }
    }
}

/// `amount` in minor units of a currency with `exponent` decimal places (BRL 2, JPY 0, KWD 3):
/// `12.30` BRL is `1230`. Trailing zeros beyond the exponent are fine (`1000.0400` BRL is
/// `100004`); any other extra digit is a [`MoneyError::Precision`].
pub fn to_minor(amount: Decimal, currency: &str, exponent: u32) -> Result<i64, MoneyError> {
    let normalized = amount.normalize();
    if normalized.scale() > exponent {
        return Err(MoneyError::Precision {
            amount,
            currency: currency.to_owned(),
            places: normalized.scale(),
            exponent,
        });
    }
    let overflow = || MoneyError::Overflow {
        amount,
        currency: currency.to_owned(),
    };
    let factor = 10_i64.checked_pow(exponent).ok_or_else(overflow)?;
    let minor = normalized
        .checked_mul(Decimal::from(factor))
        .ok_or_else(overflow)?;
    i64::try_from(minor).map_err(|_| overflow())
}

/// Reads a JSON amount exactly: a number token as written (`932.5`, `1e3`) or a decimal string
/// (`"1000.0400"`). Only for documents parsed by `serde_json` from text, which keeps the token.
pub fn decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw = <&RawValue>::deserialize(deserializer)?;
    parse_token(raw.get()).map_err(D::Error::custom)
}

/// [`decimal`] for an amount that may be `null` or missing.
pub fn optional_decimal<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    let raw = <Option<&RawValue>>::deserialize(deserializer)?;
    match raw {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => parse_token(raw.get()).map(Some).map_err(D::Error::custom),
    }
}

/// Significant digits a `Decimal` holds exactly; its parser rounds longer numbers silently.
const MAX_DIGITS: usize = 28;

fn parse_token(token: &str) -> Result<Decimal, String> {
    let text = match token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner,
        None => token,
    };
    // Only plain decimal notation, and no more digits than can be kept exactly: anything else
    // would be rounded or guessed by the parser.
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return Err(format!("amount {token} is not a decimal number"));
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let significant = mantissa
        .trim_start_matches(['-', '+'])
        .replace('.', "")
        .trim_start_matches('0')
        .len();
    if significant > MAX_DIGITS {
        return Err(format!(
            "amount {token} has more than {MAX_DIGITS} significant digits"
        ));
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        text.parse::<Decimal>()
    };
    parsed.map_err(|e| format!("amount {token} is not a decimal number: {e}"))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn converts_exactly() {
        assert_eq!(to_minor(d("12.30"), "BRL", 2), Ok(1230));
        assert_eq!(to_minor(d("-932.5"), "MXN", 2), Ok(-93250));
        assert_eq!(to_minor(d("1000.0400"), "BRL", 2), Ok(100_004));
        assert_eq!(to_minor(d("1500"), "JPY", 0), Ok(1500));
        assert_eq!(to_minor(d("1.234"), "KWD", 3), Ok(1234));
        assert_eq!(to_minor(d("0.1"), "BRL", 2), Ok(10));
    }

    #[test]
    fn refuses_extra_precision_and_overflow() {
        assert!(matches!(
            to_minor(d("10.005"), "BRL", 2),
            Err(MoneyError::Precision {
                places: 3,
                exponent: 2,
                ..
            })
        ));
        assert!(matches!(
            to_minor(d("1.5"), "JPY", 0),
            Err(MoneyError::Precision { places: 1, .. })
        ));
        assert!(matches!(
            to_minor(d("92233720368547758.08"), "BRL", 2),
            Err(MoneyError::Overflow { .. })
        ));
        assert_eq!(to_minor(d("92233720368547758.07"), "BRL", 2), Ok(i64::MAX));
    }

    #[derive(Deserialize)]
    struct Item {
        #[serde(deserialize_with = "decimal")]
        amount: Decimal,
        #[serde(default, deserialize_with = "optional_decimal")]
        balance: Option<Decimal>,
    }

    #[test]
    fn json_amounts_keep_their_digits() {
        // 0.1 + 0.2 style values and long tokens that f64 would alter.
        let item: Item =
            serde_json::from_str(r#"{"amount": 1234567890123456.78, "balance": "0.30"}"#).unwrap();
        assert_eq!(item.amount, d("1234567890123456.78"));
        assert_eq!(item.balance, Some(d("0.30")));
        let item: Item = serde_json::from_str(r#"{"amount": 1.5e2, "balance": null}"#).unwrap();
        assert_eq!(item.amount, d("150"));
        assert_eq!(item.balance, None);
        let item: Item = serde_json::from_str(r#"{"amount": "10.005"}"#).unwrap();
        assert_eq!(item.amount, d("10.005"));
        assert!(serde_json::from_str::<Item>(r#"{"amount": "ten"}"#).is_err());
        // Digits the parser would round away, and separators it would skip, are refused.
        assert!(
            serde_json::from_str::<Item>(r#"{"amount": "10.0000000000000000000000000001"}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<Item>(r#"{"amount": "1_000.5"}"#).is_err());
        let item: Item =
            serde_json::from_str(r#"{"amount": "0.0000000000000000000000000001"}"#).unwrap();
        assert_eq!(item.amount, d("0.0000000000000000000000000001"));
        assert!(serde_json::from_str::<Item>(r#"{"amount": true}"#).is_err());
    }
}
