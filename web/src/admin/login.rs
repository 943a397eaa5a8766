//! Signing in and out. Email and password (Argon2, a few checks at a time), for enabled admins
//! who are operators of the deployment. Attempts are counted per email and client address, per
//! address and per email ([`console::AttemptKey`]); past each one's allowance, attempts wait,
//! doubling up to 15 minutes. The form is protected by a double-submit CSRF cookie, the session
//! cookie by HttpOnly and SameSite=Strict.

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use findash_schema::console::{self, Attempt, AttemptKey};
use findash_schema::{passwords, users};
use serde::Deserialize;

use super::session::{self, Operator, random_token, same_secret};
use super::{AdminError, in_console, view};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    csrf_token: String,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Where to go after signing in: a console path, never another site (`//evil`, `/\evil`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/admin")
                && !n.contains("//")
                && !n.contains('\\')
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/admin".to_owned(),
    }
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    next: String,
    email: String,
    error: Option<String>,
) -> Result<HttpResponse, AdminError> {
    let https_only = state.config.https_only;
    let token = random_token();
    let page = LoginPage {
        csrf_token: token.clone(),
        next,
        email,
        error,
    };
    let body = page.render().map_err(|e| AdminError::internal(&e))?;
    let mut builder = HttpResponse::build(status);
    builder.cookie(session::cookie(
        session::login_cookie_name(https_only),
        token,
        https_only,
    ));
    Ok(view::html(builder, body))
}

/// `GET /admin/login`: the form, or straight on when already signed in.
pub async fn form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AdminError> {
    let next = safe_next(query.next.as_deref());
    if Operator::extract(&req).await.is_ok() {
        return Ok(view::see_other(&next));
    }
    login_page(&state, StatusCode::OK, next, String::new(), None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    next: Option<String>,
}

/// The email and where to go next; never the password or the form's token.
impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("csrf_token", &"<redacted>")
            .field("next", &self.next)
            .finish()
    }
}

/// How long a sign-in waits for a password check before answering 503.
const PASSWORD_CHECK_QUEUE: std::time::Duration = std::time::Duration::from_secs(5);

/// `POST /admin/login`.
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let https_only = state.config.https_only;
    let form: LoginForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| AdminError::BadRequest(format!("the sign-in form cannot be read: {e}")))?;
    let next = safe_next(form.next.as_deref());
    let expected = req
        .cookie(session::login_cookie_name(https_only))
        .map(|c| c.value().to_owned());
    if !expected.is_some_and(|e| !e.is_empty() && same_secret(&e, &form.csrf_token)) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            next,
            form.email,
            Some("The sign-in form expired. Please try again.".to_owned()),
        );
    }
    let email = users::normalize_email(&form.email);
    if email.is_empty()
        || form.password.is_empty()
        || email.len() > 320
        || form.password.len() > 1024
    {
        return login_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            next,
            form.email,
            Some("Enter your email and password.".to_owned()),
        );
    }
    let ip = state.limits.client_ip(&req);
    let client_ip = ip.map(|ip| ip.to_string());
    let keys = AttemptKey::for_attempt(&email, ip);

    // The attempt is counted before its password is checked, so parallel attempts cannot all
    // get a check in before the first failure is recorded.
    let (attempt_keys, lookup) = (keys.clone(), email.clone());
    let (attempt, user) = in_console(&state, move |sys| {
        Ok(match console::begin_attempt(sys, &attempt_keys)? {
            counted @ Attempt::Counted { .. } => {
                (counted, console::operator_by_email(sys, &lookup)?)
            }
            refused @ Attempt::Refused { .. } => (refused, None),
        })
    })
    .await?;
    if let Attempt::Refused { wait } = attempt {
        let seconds = wait.num_seconds().max(1);
        tracing::warn!(
            client_ip = client_ip.as_deref().unwrap_or("-"),
            wait_seconds = seconds,
            "admin console sign-in held back after repeated failures"
        );
        let mut response = login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            form.email,
            Some(format!(
                "Too many failed sign-ins. Try again in {}.",
                view::span(seconds)
            )),
        )?;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        return Ok(response);
    }

    if let Attempt::Counted { slow_down } = attempt
        && slow_down > chrono::Duration::zero()
    {
        // Failures for this email from many addresses: slowed down, never refused, so that
        // whoever spends its allowance cannot lock the operator out.
        tracing::warn!(
            client_ip = client_ip.as_deref().unwrap_or("-"),
            slow_down_ms = slow_down.num_milliseconds(),
            "admin console sign-ins for one email failing from many addresses"
        );
        tokio::time::sleep(slow_down.to_std().unwrap_or_default()).await;
    }

    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.decoy_password_hash.clone());
    let password = form.password;
    let matches = {
        // A flood of attempts queues here; past a few seconds the answer is "try again" rather
        // than an ever longer wait behind it.
        let Ok(permit) =
            tokio::time::timeout(PASSWORD_CHECK_QUEUE, state.password_checks.acquire()).await
        else {
            let mut response = login_page(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                next,
                form.email,
                Some("Sign-in is busy. Please try again in a few seconds.".to_owned()),
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(5));
            return Ok(response);
        };
        let _check = permit.map_err(|e| AdminError::internal(&e))?;
        web::block(move || passwords::verify(&password, &hash))
            .await
            .map_err(|e| AdminError::internal(&e))?
    };
    let user = user.filter(|u| matches && u.password_hash.is_some());

    let Some(user) = user else {
        tracing::warn!(
            client_ip = client_ip.as_deref().unwrap_or("-"),
            "admin console sign-in refused"
        );
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            next,
            form.email,
            Some("Wrong email or password, or this account may not use the console.".to_owned()),
        );
    };

    let token = random_token();
    let csrf = random_token();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A browser signing in again gives up the session it had: it no longer holds its cookie.
    let previous = req
        .cookie(session::session_cookie_name(https_only))
        .map(|c| c.value().to_owned())
        .filter(|t| !t.is_empty());
    let (open_token, user_id) = (token.clone(), user.id);
    in_console(&state, move |sys| {
        console::attempt_succeeded(sys, &keys)?;
        if let Some(previous) = &previous {
            console::close_session(sys, previous)?;
        }
        console::open_session(
            sys,
            user_id,
            &open_token,
            &csrf,
            client_ip.as_deref(),
            user_agent.as_deref(),
        )?;
        console::audit(
            sys,
            user_id,
            None,
            "console.sign_in",
            None,
            None,
            serde_json::json!({}),
        )?;
        Ok(())
    })
    .await?;
    tracing::info!(user = %user.id, "admin console sign-in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(session::cookie(
            session::session_cookie_name(https_only),
            token,
            https_only,
        ))
        .cookie(session::removal(
            session::login_cookie_name(https_only),
            https_only,
        ))
        .finish())
}

/// `POST /admin/logout`: ends the session here and in the database.
pub async fn logout(
    state: web::Data<AppState>,
    action: session::Checked<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AdminError> {
    let https_only = state.config.https_only;
    let token = action.operator.token().to_owned();
    let user = action.operator.user_id();
    in_console(&state, move |sys| {
        console::close_session(sys, &token)?;
        console::audit(
            sys,
            user,
            None,
            "console.sign_out",
            None,
            None,
            serde_json::json!({}),
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, super::LOGIN_PATH))
        .cookie(session::removal(
            session::session_cookie_name(https_only),
            https_only,
        ))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::{LoginForm, safe_next};

    #[test]
    fn debug_output_leaves_the_password_out() {
        let form: LoginForm = serde_urlencoded::from_str(
            "email=ops%40example.test&password=hunter2-secret&csrf_token=form-secret",
        )
        .unwrap();
        let shown = format!("{form:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(!shown.contains("form-secret"), "{shown}");
        assert!(shown.contains("ops@example.test"), "{shown}");
    }

    #[test]
    fn next_stays_in_the_console() {
        assert_eq!(
            safe_next(Some("/admin/jobs?state=dead")),
            "/admin/jobs?state=dead"
        );
        assert_eq!(safe_next(Some("https://evil.example/")), "/admin");
        assert_eq!(safe_next(Some("//evil.example/admin")), "/admin");
        assert_eq!(safe_next(Some("/admin\\..\\evil")), "/admin");
        assert_eq!(safe_next(Some("/admin//evil")), "/admin");
        assert_eq!(safe_next(None), "/admin");
    }
}
