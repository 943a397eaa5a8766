//! The ECB's daily reference rates (`eurofxref-daily.xml`): one `Cube time='…'` holding a
//! `Cube currency='…' rate='…'` per currency, units of it per euro. Read by element and
//! attribute names whatever the quoting, layout or currency list; rates stay decimal strings.

use chrono::NaiveDate;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use rust_decimal::Decimal;

/// One day of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRates {
    pub day: NaiveDate,
    /// (currency, rate per euro as written), in feed order.
    pub rates: Vec<(String, String)>,
}

/// Why a feed could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FeedError {
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("no Cube with a time attribute")]
    NoDay,
    #[error("the feed holds more than one day; use the daily feed")]
    SeveralDays,
    #[error("{0}")]
    Bad(String),
}

/// Reads the daily feed.
pub fn parse(xml: &str) -> Result<DailyRates, FeedError> {
    let mut reader = Reader::from_str(xml);
    let mut day = None;
    let mut rates = Vec::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| FeedError::Xml(e.to_string()))?
        {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Cube" => {
                if let Some(time) = attribute(&e, "time")? {
                    if day.is_some() {
                        return Err(FeedError::SeveralDays);
                    }
                    day = Some(
                        NaiveDate::parse_from_str(&time, "%Y-%m-%d")
                            .map_err(|_| FeedError::Bad(format!("time {time:?} is not a date")))?,
                    );
                }
                if let (Some(currency), Some(rate)) =
                    (attribute(&e, "currency")?, attribute(&e, "rate")?)
                {
                    if day.is_none() {
                        return Err(FeedError::Bad(format!("rate for {currency} outside a day")));
                    }
                    rates.push((check_currency(currency)?, check_rate(rate)?));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let day = day.ok_or(FeedError::NoDay)?;
    if rates.is_empty() {
        return Err(FeedError::Bad(format!("no rates for {day}")));
    }
    Ok(DailyRates { day, rates })
}

fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>, FeedError> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| FeedError::Xml(e.to_string()))?;
        if attribute.key.local_name().as_ref() == name {
            let value = attribute
                .normalized_value(XmlVersion::default())
                .map_err(|e| FeedError::Xml(e.to_string()))?;
            return Ok(Some(value.trim().to_owned()));
        }
    }
    Ok(None)
}

fn check_currency(code: String) -> Result<String, FeedError> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(FeedError::Bad(format!(
            "currency {code:?} is not an ISO 4217 code"
        )))
    }
}

/// A positive decimal with at most 12 places (what `fx_rates.rate` holds exactly).
fn check_rate(rate: String) -> Result<String, FeedError> {
    match rate.parse::<Decimal>() {
        Ok(d) if d > Decimal::ZERO && d.scale() <= 12 && !rate.contains(['e', 'E']) => Ok(rate),
        _ => Err(FeedError::Bad(format!(
            "rate {rate:?} is not a positive decimal of at most 12 places"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented shape, byte for byte in its structure (single quotes, namespaces).
    pub const FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender>
		<gesmes:name>European Central Bank</gesmes:name>
	</gesmes:Sender>
	<Cube>
		<Cube time='2016-01-19'>
			<Cube currency='USD' rate='1.0868'/>
			<Cube currency='JPY' rate='128.12'/>
			<Cube currency='GBP' rate='0.76473'/>
			<Cube currency='BRL' rate='4.4045'/>
		</Cube>
	</Cube>
</gesmes:Envelope>"#;

    #[test]
    fn reads_the_documented_feed() {
        let rates = parse(FEED).unwrap();
        assert_eq!(rates.day, NaiveDate::from_ymd_opt(2016, 1, 19).unwrap());
        assert_eq!(
            rates.rates,
            vec![
                ("USD".to_owned(), "1.0868".to_owned()),
                ("JPY".to_owned(), "128.12".to_owned()),
                ("GBP".to_owned(), "0.76473".to_owned()),
                ("BRL".to_owned(), "4.4045".to_owned()),
            ]
        );
        // One line, double quotes: the same day.
        let one_line = FEED.replace(['\n', '\t'], "").replace('\'', "\"");
        assert_eq!(parse(&one_line).unwrap(), rates);
    }

    #[test]
    fn refuses_what_it_cannot_trust() {
        assert!(matches!(
            parse("<Cube><Cube"),
            Err(FeedError::Xml(_)) | Err(FeedError::NoDay)
        ));
        assert_eq!(parse("<Envelope/>"), Err(FeedError::NoDay));
        assert!(matches!(
            parse(&FEED.replace("1.0868", "-1")),
            Err(FeedError::Bad(_))
        ));
        assert!(matches!(
            parse(&FEED.replace("1.0868", "1e3")),
            Err(FeedError::Bad(_))
        ));
        assert!(matches!(
            parse(&FEED.replace("'USD'", "'usd'")),
            Err(FeedError::Bad(_))
        ));
        assert!(matches!(
            parse(&FEED.replace("2016-01-19", "yesterday")),
            Err(FeedError::Bad(_))
        ));
        let two_days = FEED.replace(
            "\t</Cube>\n</gesmes",
            "\t<Cube time='2016-01-18'><Cube currency='USD' rate='1.09'/></Cube></Cube>\n</gesmes",
        );
        assert_eq!(parse(&two_days), Err(FeedError::SeveralDays));
    }
}
