//! Money and dates as the tenant's locale writes them. Amounts come in as integer minor units
//! with their currency's exponent (0, 2 or 3 decimals) and are formatted with integer
//! arithmetic only, never through a float.
//!
//! Styles: `pt-*` `R$ 1.234,56`; `en-US` `$1,234.56`; `en-GB` `£1,234.56`; `de-*` and `es-ES`
//! `1.234,56 €`; `es-MX`, `es-US`, `es-419` `$1,234.56`; other `es-*` `$ 1.234,56`. Any other
//! locale falls back to the currency code before an `en` number (`CHF 1,234.56`). A negative
//! amount puts its minus sign in front (`-R$ 1.234,56`, `-1.234,56 €`).

use chrono::NaiveDate;

/// How one locale lays a number and its currency out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Style {
    group: char,
    decimal: char,
    /// Symbol before the number (else after it, with a space).
    symbol_first: bool,
    /// A space between a leading symbol and the number.
    space_after_symbol: bool,
}

const EN: Style = Style {
    group: ',',
    decimal: '.',
    symbol_first: true,
    space_after_symbol: false,
};

fn style(locale: &str) -> Style {
    let (language, region) = split(locale);
    match (language, region) {
        ("pt", _) => Style {
            group: '.',
            decimal: ',',
            symbol_first: true,
            space_after_symbol: true,
        },
        ("de", _) | ("es", Some("ES")) => Style {
            group: '.',
            decimal: ',',
            symbol_first: false,
            space_after_symbol: false,
        },
        ("es", Some("MX" | "US" | "419")) => EN,
        ("es", _) => Style {
            group: '.',
            decimal: ',',
            symbol_first: true,
            space_after_symbol: true,
        },
        _ => EN,
    }
}

fn split(locale: &str) -> (&str, Option<&str>) {
    match locale.split_once('-') {
        Some((language, region)) => (language, Some(region)),
        None => (locale, None),
    }
}

/// The sign that names `currency` in `locale`; the ISO code when there is no common one.
fn symbol(currency: &str, locale: &str) -> Option<&'static str> {
    let (language, region) = split(locale);
    Some(match currency {
        "BRL" => "R$",
        "EUR" => "€",
        "GBP" => "£",
        "USD" if locale == "en-US" || (language == "es" && region == Some("US")) => "$",
        "USD" => "US$",
        "MXN" if locale == "es-MX" => "$",
        "ARS" if locale == "es-AR" => "$",
        "CLP" if locale == "es-CL" => "$",
        "COP" if locale == "es-CO" => "$",
        "JPY" => "¥",
        _ => return None,
    })
}

/// Whether `locale` is one of the styles above (the rest fall back).
fn known(locale: &str) -> bool {
    let (language, region) = split(locale);
    matches!(language, "pt" | "de" | "es") || matches!((language, region), ("en", Some(_)))
}

/// `minor` units of `currency` (with `exponent` decimals) as `locale` writes it.
pub fn format_money(minor: i64, exponent: u8, currency: &str, locale: &str) -> String {
    let style = if known(locale) { style(locale) } else { EN };
    let number = format_number(minor.unsigned_abs(), exponent, style);
    let sign = if minor < 0 { "-" } else { "" };
    match symbol(currency, locale).filter(|_| known(locale)) {
        Some(symbol) if style.symbol_first => {
            let space = if style.space_after_symbol { " " } else { "" };
            format!("{sign}{symbol}{space}{number}")
        }
        Some(symbol) => format!("{sign}{number} {symbol}"),
        None if style.symbol_first => format!("{sign}{currency} {number}"),
        None => format!("{sign}{number} {currency}"),
    }
}

fn format_number(abs: u64, exponent: u8, style: Style) -> String {
    let scale = 10_u64.pow(u32::from(exponent.min(4)));
    let (whole, fraction) = (abs / scale, abs % scale);
    let digits = whole.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 6);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(style.group);
        }
        out.push(digit);
    }
    if exponent > 0 {
        out.push(style.decimal);
        out.push_str(&format!(
            "{fraction:0width$}",
            width = usize::from(exponent)
        ));
    }
    out
}

/// `day` as `locale` writes a short date: `24/11/2026` (pt, es, en-GB, most), `11/24/2026`
/// (en-US), `24.11.2026` (de), ISO otherwise.
pub fn format_date(day: NaiveDate, locale: &str) -> String {
    let (language, region) = split(locale);
    let pattern = match (language, region) {
        ("en", Some("US")) => "%m/%d/%Y",
        ("de", _) => "%d.%m.%Y",
        ("pt" | "es" | "fr" | "it", _) | ("en", Some(_)) => "%d/%m/%Y",
        _ => "%Y-%m-%d",
    };
    day.format(pattern).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_locale_writes_money_its_own_way() {
        let cases = [
            (123_456, 2, "BRL", "pt-BR", "R$ 1.234,56"),
            (-123_456, 2, "BRL", "pt-BR", "-R$ 1.234,56"),
            (123_456, 2, "USD", "en-US", "$1,234.56"),
            (-123_456, 2, "USD", "en-US", "-$1,234.56"),
            (123_456, 2, "GBP", "en-GB", "£1,234.56"),
            (123_456, 2, "EUR", "de-DE", "1.234,56 €"),
            (-123_456, 2, "EUR", "es-ES", "-1.234,56 €"),
            (123_456, 2, "MXN", "es-MX", "$1,234.56"),
            (123_456, 2, "ARS", "es-AR", "$ 1.234,56"),
            (123_456, 2, "USD", "pt-BR", "US$ 1.234,56"),
            (123_456, 2, "CHF", "en-US", "CHF 1,234.56"),
            (123_456, 2, "CHF", "de-CH", "1.234,56 CHF"),
            (123_456, 2, "BRL", "fr-FR", "BRL 1,234.56"),
        ];
        for (minor, exponent, currency, locale, expected) in cases {
            assert_eq!(
                format_money(minor, exponent, currency, locale),
                expected,
                "{minor} {currency} in {locale}"
            );
        }
    }

    #[test]
    fn the_currency_exponent_decides_the_decimals() {
        assert_eq!(format_money(1_234_567, 0, "JPY", "en-US"), "¥1,234,567");
        assert_eq!(format_money(1_234_567, 0, "CLP", "es-CL"), "$ 1.234.567");
        assert_eq!(format_money(1_234_567, 3, "KWD", "en-US"), "KWD 1,234.567");
        assert_eq!(format_money(5, 2, "BRL", "pt-BR"), "R$ 0,05");
        assert_eq!(format_money(-5, 3, "BHD", "en-GB"), "-BHD 0.005");
        assert_eq!(format_money(0, 2, "BRL", "pt-BR"), "R$ 0,00");
        assert_eq!(
            format_money(100_000_000, 2, "EUR", "de-DE"),
            "1.000.000,00 €"
        );
    }

    #[test]
    fn extreme_amounts_do_not_overflow() {
        assert_eq!(
            format_money(i64::MIN, 2, "USD", "en-US"),
            "-$92,233,720,368,547,758.08"
        );
        assert_eq!(
            format_money(i64::MAX, 0, "JPY", "en-US"),
            "¥9,223,372,036,854,775,807"
        );
    }

    #[test]
    fn dates_follow_the_locale() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(format_date(day, "pt-BR"), "24/11/2026");
        assert_eq!(format_date(day, "en-US"), "11/24/2026");
        assert_eq!(format_date(day, "de-DE"), "24.11.2026");
        assert_eq!(format_date(day, "ja"), "2026-11-24");
    }
}
