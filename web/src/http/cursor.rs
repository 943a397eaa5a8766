//! Page cursors: opaque base64url tokens of a fixed length, so any token of the documented shape
//! is a position (clamped to what PostgreSQL can compare) and anything else is plainly invalid.

use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use uuid::Uuid;

/// URL-safe, unpadded; a token's unused trailing bits are ignored, so every token of the right
/// length and alphabet decodes.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
);

/// The earliest day a cursor may name: PostgreSQL's dates and timestamps start in 4713 BC.
fn earliest() -> NaiveDate {
    NaiveDate::from_ymd_opt(-4000, 1, 1).unwrap_or(NaiveDate::MIN)
}

fn decode<const N: usize>(token: &str) -> Option<[u8; N]> {
    ENGINE.decode(token).ok()?.try_into().ok()
}

/// A `(booked_date, id)` position: 27 characters.
pub fn encode_day(day: NaiveDate, id: Uuid) -> String {
    let mut bytes = [0_u8; 20];
    bytes[..4].copy_from_slice(&day.num_days_from_ce().to_be_bytes());
    bytes[4..].copy_from_slice(id.as_bytes());
    ENGINE.encode(bytes)
}

pub fn decode_day(token: &str) -> Option<(NaiveDate, Uuid)> {
    let bytes: [u8; 20] = decode(token)?;
    let days = i32::from_be_bytes(bytes[..4].try_into().ok()?);
    let day = NaiveDate::from_num_days_from_ce_opt(days)
        .unwrap_or(if days < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
        .max(earliest());
    Some((day, Uuid::from_bytes(bytes[4..].try_into().ok()?)))
}

/// A `(timestamp, id)` position: 32 characters.
pub fn encode_instant(at: DateTime<Utc>, id: Uuid) -> String {
    let mut bytes = [0_u8; 24];
    bytes[..8].copy_from_slice(&at.timestamp_micros().to_be_bytes());
    bytes[8..].copy_from_slice(id.as_bytes());
    ENGINE.encode(bytes)
}

pub fn decode_instant(token: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let bytes: [u8; 24] = decode(token)?;
    let micros = i64::from_be_bytes(bytes[..8].try_into().ok()?);
    let floor = earliest().and_hms_opt(0, 0, 0)?.and_utc();
    let at = DateTime::from_timestamp_micros(micros)
        .unwrap_or(if micros < 0 {
            floor
        } else {
            DateTime::<Utc>::MAX_UTC
        })
        .max(floor);
    Some((at, Uuid::from_bytes(bytes[8..].try_into().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let id = Uuid::now_v7();
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default();
        let token = encode_day(day, id);
        assert_eq!(token.len(), 27);
        assert_eq!(decode_day(&token), Some((day, id)));
        let at = DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap_or_default();
        let token = encode_instant(at, id);
        assert_eq!(token.len(), 32);
        assert_eq!(decode_instant(&token), Some((at, id)));
    }

    #[test]
    fn any_token_of_the_shape_is_a_position_and_nothing_else_is() {
        assert!(decode_day(&"_".repeat(27)).is_some());
        assert!(decode_day(&"A".repeat(27)).is_some());
        assert!(decode_instant(&"-".repeat(32)).is_some());
        assert!(decode_instant(&"z".repeat(32)).is_some());
        assert_eq!(decode_day(""), None);
        assert_eq!(decode_day(&"A".repeat(26)), None);
        assert_eq!(decode_day(&"+".repeat(27)), None);
        assert_eq!(decode_instant("2026-11-25.x"), None);
    }
}
