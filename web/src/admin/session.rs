//! Who is signed in, and proof that a state change comes from the console's own page.
//!
//! [`Operator`] is the extractor every page takes: the session cookie, looked up (as a hash) on
//! each request, or the way to the sign-in page. [`Checked`] is what every action takes: the
//! operator plus a form whose CSRF token (form field `csrf_token`, or header `X-CSRF-Token` for
//! htmx requests) matches the session's. The cookie is HttpOnly and SameSite=Strict, Secure
//! (with the `__Host-` prefix) outside development and test.
//!
//! An htmx request that reads (a page's live refresh) does not count as the operator's activity:
//! a tab left open must not keep its session from going idle.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use findash_schema::UserId;
use findash_schema::console::{self, Session};
use serde::de::DeserializeOwned;

use super::{AdminError, in_console};
use crate::http::AppState;

/// The session cookie's name: `__Host-` where cookies are Secure (the browser then refuses it
/// from any other path or subdomain).
pub fn session_cookie_name(https_only: bool) -> &'static str {
    if https_only {
        "__Host-findash_admin"
    } else {
        "findash_admin"
    }
}

/// The sign-in form's CSRF cookie (double submit: the form carries the same value).
pub fn login_cookie_name(https_only: bool) -> &'static str {
    if https_only {
        "__Host-findash_admin_login"
    } else {
        "findash_admin_login"
    }
}

/// A cookie as the console sets them: whole-site path, HttpOnly, SameSite=Strict, Secure
/// outside development.
pub fn cookie(name: &'static str, value: String, https_only: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https_only)
        .finish()
}

/// A cookie that tells the browser to forget `name`.
pub fn removal(name: &'static str, https_only: bool) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), https_only);
    c.make_removal();
    c
}

/// 32 random bytes, URL-safe base64: session tokens and CSRF tokens.
pub fn random_token() -> String {
    use base64::Engine as _;
    use rand::Rng;
    let mut bytes = [0_u8; 32];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The signed-in operator of this request.
#[derive(Clone)]
pub struct Operator {
    session: Session,
    token: String,
}

/// The session (its own `Debug` leaves the CSRF token out), never the cookie's token.
impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("session", &self.session)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Operator {
    pub fn user_id(&self) -> UserId {
        self.session.user_id
    }

    pub fn email(&self) -> &str {
        &self.session.email
    }

    /// The name the console shows: the display name, else the email.
    pub fn display_name(&self) -> String {
        self.session
            .display_name
            .clone()
            .unwrap_or_else(|| self.session.email.clone())
    }

    pub fn csrf_token(&self) -> &str {
        &self.session.csrf_token
    }

    /// The cookie's token (sign-out ends this session).
    pub(super) fn token(&self) -> &str {
        &self.token
    }

    async fn load(
        state: web::Data<AppState>,
        token: Option<String>,
        visit: Visit,
    ) -> Result<Operator, AdminError> {
        let sign_in = || AdminError::SignIn {
            next: visit.next.clone(),
            htmx: visit.htmx,
        };
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 128) else {
            return Err(sign_in());
        };
        let (lookup, touch) = (token.clone(), visit.touch);
        let session = in_console(&state, move |sys| {
            Ok(console::session(sys, &lookup, touch)?)
        })
        .await?;
        match session {
            Some(session) => Ok(Operator { session, token }),
            None => Err(sign_in()),
        }
    }
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, AdminError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AdminError::Internal("the app state is missing".to_owned()))
}

/// What the session lookup needs to know about the request.
struct Visit {
    /// Where to go back to after signing in.
    next: String,
    /// Sent by htmx.
    htmx: bool,
    /// The operator's own doing: keeps the session from going idle.
    touch: bool,
}

impl Visit {
    fn of(req: &HttpRequest) -> Visit {
        let htmx = req.headers().contains_key("hx-request");
        let get = req.method() == actix_web::http::Method::GET;
        // Back to this page after signing in; an htmx request to the page it was made from; a
        // POST to the overview (its form is gone with the session).
        let next = if !get {
            None
        } else if htmx {
            req.headers()
                .get("hx-current-url")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| url::Url::parse(v).ok())
                .map(|u| match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_owned(),
                })
        } else {
            req.uri().path_and_query().map(|p| p.as_str().to_owned())
        };
        Visit {
            next: next
                .filter(|n| n.starts_with("/admin"))
                .unwrap_or_else(|| "/admin".to_owned()),
            htmx,
            // An htmx GET is a page refreshing itself; an htmx POST is still an action.
            touch: !(htmx && get),
        }
    }
}

impl FromRequest for Operator {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Operator, AdminError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let token = state.as_ref().ok().and_then(|s| {
            req.cookie(session_cookie_name(s.config.https_only))
                .map(|c| c.value().to_owned())
        });
        let visit = Visit::of(req);
        Box::pin(async move { Operator::load(state?, token, visit).await })
    }
}

/// An action's form, accepted only with the session's CSRF token. `T` reads the form's other
/// fields (unknown fields, the token among them, are ignored).
#[derive(Debug)]
pub struct Checked<T> {
    pub operator: Operator,
    pub form: T,
}

/// The header htmx requests carry the CSRF token in (set once on the page's `<body>`).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Largest form an action reads.
const FORM_LIMIT: usize = 64 * 1024;

impl<T: DeserializeOwned + 'static> FromRequest for Checked<T> {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Checked<T>, AdminError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let operator = Operator::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        let header = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let operator = operator.await?;
            let body = body
                .await
                .map_err(|e| AdminError::BadRequest(format!("the form cannot be read: {e}")))?;
            if body.len() > FORM_LIMIT {
                return Err(AdminError::BadRequest("the form is too large".to_owned()));
            }
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|e| AdminError::BadRequest(format!("the form cannot be read: {e}")))?;
            let sent = pairs
                .iter()
                .find(|(k, _)| k == "csrf_token")
                .map(|(_, v)| v.clone())
                .or(header);
            match sent {
                Some(sent) if same_secret(&sent, operator.csrf_token()) => {}
                _ => {
                    return Err(AdminError::Forbidden(
                        "this form has expired or did not come from the console; reload the page and try again"
                            .to_owned(),
                    ));
                }
            }
            let form = serde_urlencoded::from_bytes(&body)
                .map_err(|e| AdminError::BadRequest(format!("the form does not fit: {e}")))?;
            Ok(Checked { operator, form })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_tokens_out() {
        let operator = Operator {
            session: Session {
                id: 7,
                user_id: UserId::new(),
                email: "ops@example.test".to_owned(),
                display_name: None,
                csrf_token: "csrf-secret-value".to_owned(),
                expires_at: chrono::Utc::now(),
            },
            token: "cookie-secret-value".to_owned(),
        };
        let checked = Checked {
            operator: operator.clone(),
            form: (),
        };
        for shown in [format!("{operator:?}"), format!("{checked:?}")] {
            assert!(!shown.contains("csrf-secret-value"), "{shown}");
            assert!(!shown.contains("cookie-secret-value"), "{shown}");
            assert!(shown.contains("ops@example.test"), "{shown}");
        }
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 43);
    }
}
