//! One-time form nonces for actions that cannot be undone. The confirmation page puts a fresh
//! nonce in its form, and the action keys what it does by it, so a second submit of the same
//! form (a double click, a browser sending the POST again) finds what the first one did instead
//! of doing it again. Without a nonce, or with one that is not of our making, every submit is an
//! action of its own.

use std::fmt;

use super::session::random_token;

/// A form's nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce(String);

impl Nonce {
    /// A fresh nonce, for a confirmation page's form.
    pub fn mint() -> Nonce {
        Nonce(random_token())
    }

    /// The nonce a form sent when it looks like one [`Nonce::mint`] makes (it ends up in keys
    /// stored in the ledger); a fresh one otherwise.
    pub fn from_form(sent: Option<String>) -> Nonce {
        sent.filter(|n| (16..=64).contains(&n.len()))
            .filter(|n| {
                n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map_or_else(Nonce::mint, Nonce)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_keeps_its_own_nonce_and_nothing_else() {
        let minted = Nonce::mint();
        assert_eq!(Nonce::from_form(Some(minted.to_string())), minted);
        assert_ne!(Nonce::mint(), Nonce::mint());
        for odd in [
            "",
            "short",
            "has space in it, long enough",
            "ümlaut-ümlaut-ümlaut",
        ] {
            let nonce = Nonce::from_form(Some(odd.to_owned()));
            assert_ne!(nonce.as_str(), odd);
            assert_eq!(Nonce::from_form(Some(nonce.to_string())), nonce);
        }
        assert_ne!(
            Nonce::from_form(Some("x".repeat(65))).as_str(),
            "x".repeat(65)
        );
        assert_eq!(Nonce::from_form(None).as_str().len(), minted.as_str().len());
    }
}
