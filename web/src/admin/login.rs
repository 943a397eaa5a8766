//! Signing in and out. Email and password (Argon2), for enabled admins who are operators of the
//! deployment; after a few failures per email or per client address each attempt has to wait,
//! doubling up to 15 minutes. The form is protected by a double-submit CSRF cookie, the session
//! cookie by HttpOnly and SameSite=Strict.

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use findash_schema::{console, passwords, users};
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
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .finish());
    }
    login_page(&state, StatusCode::OK, next, String::new(), None)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    next: Option<String>,
}

/// A password hash to check against when the email is unknown, so that a wrong email takes as
/// long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| passwords::hash(&random_token()).unwrap_or_default())
}

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
    let ip = state.limits.client_ip(&req).map(|ip| ip.to_string());
    let mut keys = vec![format!("email:{email}")];
    if let Some(ip) = &ip {
        keys.push(format!("ip:{ip}"));
    }

    let (lookup, wait_keys) = (email.clone(), keys.clone());
    let (wait, user) = in_console(&state, move |sys| {
        let wait = console::sign_in_wait(sys, &wait_keys)?;
        let user = if wait > chrono::Duration::zero() {
            None
        } else {
            console::operator_by_email(sys, &lookup)?
        };
        Ok((wait, user))
    })
    .await?;
    if wait > chrono::Duration::zero() {
        let seconds = wait.num_seconds().max(1);
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

    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_owned());
    let password = form.password;
    let matches = web::block(move || passwords::verify(&password, &hash))
        .await
        .map_err(|e| AdminError::internal(&e))?;
    let user = user.filter(|u| matches && u.password_hash.is_some());

    let Some(user) = user else {
        in_console(&state, move |sys| Ok(console::record_failure(sys, &keys)?)).await?;
        tracing::warn!(
            client_ip = ip.as_deref().unwrap_or("-"),
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
    let (open_token, user_id) = (token.clone(), user.id);
    in_console(&state, move |sys| {
        console::clear_failures(sys, &keys)?;
        console::open_session(
            sys,
            user_id,
            &open_token,
            &csrf,
            ip.as_deref(),
            user_agent.as_deref(),
        )?;
        console::audit(
            sys,
            user_id,
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
    use super::safe_next;

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
