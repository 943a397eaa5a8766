//! An outbox row as a MIME message: multipart/alternative (plain text, then HTML), a
//! `Message-ID` derived from the outbox id (so a second attempt after a crash carries the same
//! id and can be recognised as the same email), and one-click unsubscribe headers (RFC 2369,
//! RFC 8058).

use findash_schema::email::OutboxEmail;
use lettre::Message;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

/// `List-Unsubscribe: <https://…>`.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// Why an outbox row cannot become a message (bad address): the same every time.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MessageError(String);

/// The `Message-ID` of outbox email `id` sent from `from`'s domain.
pub fn message_id(email: &OutboxEmail, from: &Mailbox) -> String {
    format!("<{}@{}>", email.id, from.email.domain())
}

/// The message for `email`, with its unsubscribe link.
pub fn build(
    email: &OutboxEmail,
    from: &Mailbox,
    unsubscribe_url: &str,
) -> Result<Message, MessageError> {
    let to: Mailbox = email
        .to_address
        .parse()
        .map_err(|e| MessageError(format!("the recipient address is not usable: {e}")))?;
    let body = match &email.body_html {
        Some(html) => MultiPart::alternative_plain_html(email.body_text.clone(), html.clone()),
        None => MultiPart::alternative()
            .singlepart(lettre::message::SinglePart::plain(email.body_text.clone())),
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(message_id(email, from)))
        .header(ListUnsubscribe(unsubscribe_url.to_owned()))
        .header(ListUnsubscribePost)
        .multipart(body)
        .map_err(|e| MessageError(format!("cannot build the message: {e}")))
}
