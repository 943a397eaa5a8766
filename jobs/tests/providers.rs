//! Each provider client against a local server speaking its documented format
//! (`shared/specs/integrations.md` §3): pages followed to the end (with an empty page), unknown
//! fields ignored, exact decimals (including one with too many places, which the client passes
//! on for the sync to refuse), and each failure mapped: 429 with `Retry-After`, 401 (Pluggy
//! renews its key once), 500, malformed JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use findash_jobs::providers::{Client, Item, Page, ProviderError, Providers, Window};
use findash_schema::connections::{Connection, ConnectionStatus, Provider};
use findash_schema::sync::{AccountKind, TransactionStatus};
use findash_schema::{ConnectionId, TenantId};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn connection(provider: Provider, external_id: &str) -> Connection {
    Connection {
        id: ConnectionId::new(),
        tenant_id: TenantId::new(),
        provider,
        external_id: external_id.to_owned(),
        display_name: "test".to_owned(),
        status: ConnectionStatus::Active,
        settings: json!({}),
        credentials_ciphertext: None,
        credentials_key_id: None,
    }
}

fn window() -> Window {
    Window {
        since: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        until: NaiveDate::from_ymd_opt(2024, 5, 31).unwrap(),
    }
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Every page of `account`, following the client's cursor.
async fn all_pages(client: &Client<'_>, account: &str) -> Result<Vec<Page>, ProviderError> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .transactions(account, window(), cursor.as_deref())
            .await?;
        let next = page.next.clone();
        pages.push(page);
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(pages),
        }
    }
}

fn transactions(pages: &[Page]) -> Vec<findash_jobs::providers::Transaction> {
    pages
        .iter()
        .flat_map(|p| &p.items)
        .filter_map(|i| match i {
            Item::Transaction(t) => Some(t.clone()),
            Item::Unreadable { .. } => None,
        })
        .collect()
}

fn setup(server: &MockServer) -> (Providers, reqwest::Client) {
    findash_engine::tls::install_crypto_provider();
    (
        Providers::new(common::providers(&server.uri())),
        reqwest::Client::new(),
    )
}

// ---------------------------------------------------------------- Belvo

const LINK: &str = "30cb4806-6e00-48a4-91c9-ca55968576c8";
const BELVO_ACCOUNT: &str = "02589c41-ba22-4d44-8558-8111cc751318";
/// `belvo-secret-id:belvo-secret-password`.
const BELVO_BASIC: &str = "Basic YmVsdm8tc2VjcmV0LWlkOmJlbHZvLXNlY3JldC1wYXNzd29yZA==";

/// A JSON number token as written: `Value` would pass it through `f64`. [`body`] unwraps it.
fn number(token: &str) -> Value {
    Value::String(format!("@@{token}@@"))
}

/// A response body whose [`number`]s are bare tokens again.
fn body(value: &Value) -> ResponseTemplate {
    let text = value.to_string().replace("\"@@", "").replace("@@\"", "");
    ResponseTemplate::new(200).set_body_raw(text, "application/json")
}

fn belvo_item(id: &str, day: &str, amount: &str, direction: &str, status: &str) -> Value {
    let amount = number(amount);
    json!({
        "id": id,
        "account": {"id": BELVO_ACCOUNT, "link": LINK, "category": "CHECKING_ACCOUNT", "currency": "MXN",
                    "balance": {"current": 0, "available": 0}},
        "created_at": "2022-07-20T22:09:35.556519Z", "collected_at": "2022-07-20T22:09:33.767574Z",
        "value_date": day, "accounting_date": null, "amount": amount, "balance": null, "currency": "MXN",
        "description": "Transferencia interbancaria", "reference": "085904452810319225", "observations": null,
        "category": "Income & Payments", "subcategory": "Freelance", "type": direction, "status": status,
        "merchant": {"merchant_name": "ACME", "website": null, "logo": null},
        "a_field_added_later": {"nested": [1, 2, 3]}
    })
}

fn belvo_page(server: &MockServer, results: Vec<Value>, next_page: Option<u32>) -> Value {
    json!({
        "count": 5,
        "next": next_page.map(|p| format!("{}/api/transactions/?link={LINK}&page={p}", server.uri())),
        "previous": null,
        "results": Value::Array(results),
    })
}

async fn mount_belvo_accounts(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/accounts/"))
        .and(query_param("link", LINK))
        .and(header("authorization", BELVO_BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 2, "next": null, "previous": null,
            "results": [
                {"id": BELVO_ACCOUNT, "link": LINK, "category": "CHECKING_ACCOUNT", "currency": "MXN",
                 "name": "Cuenta Perfiles", "institution": {"name": "erebor_mx_retail", "type": "bank"},
                 "balance": {"current": 5874.13, "available": 5621.12}, "unknown": true},
                {"id": "loan-1", "link": LINK, "category": "LOAN_ACCOUNT", "currency": "MXN",
                 "balance": {"current": 1, "available": 1}}
            ]
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn belvo_pages_signs_and_exact_amounts() {
    let server = MockServer::start().await;
    mount_belvo_accounts(&server).await;
    // First page: the window as Django-style filters; then `next` as given, to an empty page.
    Mock::given(method("GET"))
        .and(path("/api/transactions/"))
        .and(query_param("account", BELVO_ACCOUNT))
        .and(query_param("value_date__gte", "2024-05-01"))
        .and(query_param("value_date__lte", "2024-05-31"))
        .and(query_param("page_size", "1000"))
        .and(header("authorization", BELVO_BASIC))
        .respond_with(body(&belvo_page(
            &server,
            vec![
                belvo_item("t1", "2024-05-02", "932.5", "INFLOW", "PROCESSED"),
                belvo_item(
                    "t2",
                    "2024-05-03",
                    "1234567890123456.78",
                    "OUTFLOW",
                    "PENDING",
                ),
            ],
            Some(2),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/transactions/"))
        .and(query_param("page", "2"))
        .respond_with(body(&belvo_page(
            &server,
            vec![
                belvo_item("t3", "2024-05-04", "10.005", "OUTFLOW", "PROCESSED"),
                belvo_item("t4", "2024-05-05", "1", "SIDEWAYS", "PROCESSED"),
            ],
            Some(3),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/transactions/"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(belvo_page(&server, vec![], None)))
        .expect(1)
        .mount(&server)
        .await;

    let (providers, http) = setup(&server);
    let client = Client::new(&providers, &http, &connection(Provider::Belvo, LINK), None).unwrap();
    let accounts = client.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1, "loans are not bank accounts");
    assert_eq!(accounts[0].kind, AccountKind::Checking);
    assert_eq!(accounts[0].current_balance, Some(d("5874.13")));
    assert_eq!(accounts[0].institution, "erebor_mx_retail");

    let pages = all_pages(&client, BELVO_ACCOUNT).await.unwrap();
    assert_eq!(pages.len(), 3);
    assert!(pages[2].items.is_empty());
    let txs = transactions(&pages);
    assert_eq!(
        txs.iter()
            .map(|t| (t.external_id.as_str(), t.amount))
            .collect::<Vec<_>>(),
        vec![
            ("t1", d("932.5")),
            ("t2", d("-1234567890123456.78")),
            ("t3", d("-10.005")),
        ]
    );
    assert_eq!(txs[1].status, TransactionStatus::Pending);
    assert_eq!(txs[0].counterparty.as_deref(), Some("ACME"));
    assert_eq!(
        txs[0].raw["a_field_added_later"]["nested"][2], 3,
        "raw item kept whole"
    );
    // The item with an unknown direction is unreadable, with its id.
    assert!(matches!(
        &pages[1].items[1],
        Item::Unreadable { external_id: Some(id), detail, .. } if id == "t4" && detail.contains("SIDEWAYS")
    ));
}

#[tokio::test]
async fn belvo_refuses_next_links_to_other_hosts() {
    let server = MockServer::start().await;
    let (providers, http) = setup(&server);
    let client = Client::new(&providers, &http, &connection(Provider::Belvo, LINK), None).unwrap();
    let error = client
        .transactions(
            BELVO_ACCOUNT,
            window(),
            Some("https://evil.example/api/transactions/?page=2"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::BadData { .. }), "{error}");
}

/// The failures every provider maps the same way, on its transactions endpoint.
async fn failures(
    provider: Provider,
    transactions_path: &str,
    account: &str,
    setup_extra: impl AsyncFn(&MockServer),
    refusals: &[(u16, &str)],
) {
    let mut cases = vec![
        (
            429,
            "{\"message\":\"Too many requests\",\"code\":429}",
            Some("7"),
            "rate",
        ),
        (500, "{\"error\":\"internal\"}", None, "down"),
        (503, "", None, "down"),
        (200, "{\"results\": [", None, "bad"),
        (404, "{\"detail\":\"Not found\"}", None, "bad"),
    ];
    for &(status, expect) in refusals {
        cases.push((status, "{\"detail\":\"refused\"}", None, expect));
    }
    for (status, body, retry_after, expect) in cases {
        let server = MockServer::start().await;
        setup_extra(&server).await;
        let mut response = ResponseTemplate::new(status).set_body_raw(body, "application/json");
        if let Some(seconds) = retry_after {
            response = response.insert_header("Retry-After", seconds);
        }
        Mock::given(method("GET"))
            .and(path(transactions_path))
            .respond_with(response)
            .mount(&server)
            .await;
        let (providers, http) = setup(&server);
        let mut conn = connection(provider, "item-or-link");
        let credentials = (provider == Provider::OpenFinance)
            .then(|| SecretString::from(r#"{"access_token":"at-123"}"#.to_owned()));
        conn.provider = provider;
        let client = Client::new(&providers, &http, &conn, credentials).unwrap();
        // Rate limits are per provider credential: another connection with the same
        // credential shares the key, another credential does not, and no key shows a secret.
        let key = client.rate_limit_key();
        assert!(key.starts_with(&format!("{provider}:")), "{key}");
        for secret in ["belvo-secret", "pluggy-client", "at-123"] {
            assert!(!key.contains(secret), "{key}");
        }
        let other = connection(provider, "another-item-or-link");
        let (same, different) = if provider == Provider::OpenFinance {
            (
                Some(SecretString::from(
                    r#"{"access_token":"at-123"}"#.to_owned(),
                )),
                Some(SecretString::from(
                    r#"{"access_token":"at-456"}"#.to_owned(),
                )),
            )
        } else {
            (None, None)
        };
        assert_eq!(
            Client::new(&providers, &http, &other, same)
                .unwrap()
                .rate_limit_key(),
            key
        );
        if provider == Provider::OpenFinance {
            assert_ne!(
                Client::new(&providers, &http, &other, different)
                    .unwrap()
                    .rate_limit_key(),
                key
            );
        }
        let error = client
            .transactions(account, window(), None)
            .await
            .unwrap_err();
        let ok = match (expect, &error) {
            ("rate", ProviderError::RateLimited { retry_after, .. }) => {
                *retry_after == Duration::from_secs(7)
            }
            ("down", ProviderError::Down { detail, .. }) => detail.contains(&status.to_string()),
            ("bad", ProviderError::BadData { detail, .. }) if status == 200 => {
                detail.contains("malformed JSON")
            }
            ("bad", ProviderError::BadData { detail, .. }) => detail.contains(&status.to_string()),
            ("auth", ProviderError::Auth { .. }) => true,
            ("config", ProviderError::NotConfigured { detail, .. }) => detail.contains("refused"),
            _ => false,
        };
        assert!(
            ok,
            "{provider:?} HTTP {status}: expected {expect}, got {error:?}"
        );
        // No error message carries a credential.
        for secret in [
            "belvo-secret-password",
            "pluggy-client-secret",
            "at-123",
            "api-key-",
        ] {
            assert!(!error.to_string().contains(secret), "{error}");
        }
    }
}

#[tokio::test]
async fn belvo_failures_are_typed() {
    failures(
        Provider::Belvo,
        "/api/transactions/",
        BELVO_ACCOUNT,
        async |_: &MockServer| {},
        // 401: the deployment's secret id and password; 428: the link needs its user again;
        // 403: Belvo's firewall refusing a request that does not fit its schema.
        &[(401, "config"), (428, "auth"), (403, "bad")],
    )
    .await;
}

// ---------------------------------------------------------------- Pluggy

/// A Pluggy API key: a JWT whose `exp` is an hour away (only `exp` is read).
fn api_key(n: u32) -> String {
    use base64::Engine as _;
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{{\"exp\":{exp}}}"));
    format!("eyJhbGciOiJIUzI1NiJ9.{claims}.api-key-{n}")
}

async fn mount_pluggy_auth(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/auth"))
        .and(body_json(
            json!({"clientId": "pluggy-client-id", "clientSecret": "pluggy-client-secret"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"apiKey": api_key(1)})))
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"apiKey": api_key(2)})))
        .mount(server)
        .await;
}

fn pluggy_item(id: &str, date: &str, amount: &str, direction: &str, extra: Value) -> Value {
    let mut item = json!({
        "id": id, "accountId": "acc-1", "date": date, "description": "PIX RECEBIDO",
        "descriptionRaw": null, "type": direction, "amount": serde_json::from_str::<Value>(amount).unwrap(),
        "amountInAccountCurrency": null, "balance": 8210.55, "currencyCode": "BRL",
        "category": "Transfer - PIX", "categoryId": "05070000", "status": "POSTED", "operationType": "PIX",
        "paymentData": {"paymentMethod": "PIX", "payer": {"name": "ACME LTDA"}, "receiver": {"name": "LOJA"}},
        "creditCardMetadata": null, "createdAt": "2024-05-02T10:11:12.000Z", "updatedAt": "2024-05-02T10:11:12.000Z",
        "somethingNew": "ignored"
    });
    if let (Some(item), Value::Object(extra)) = (item.as_object_mut(), extra) {
        item.extend(extra);
    }
    item
}

#[tokio::test]
async fn pluggy_cursor_pages_reauth_and_currencies() {
    let server = MockServer::start().await;
    mount_pluggy_auth(&server).await;
    Mock::given(method("GET"))
        .and(path("/accounts"))
        .and(query_param("itemId", "item-1"))
        .and(header("x-api-key", api_key(1).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "page": 1, "total": 2, "totalPages": 1,
            "results": [
                {"id": "acc-1", "itemId": "item-1", "type": "BANK", "subtype": "CHECKING_ACCOUNT", "number": "0001",
                 "name": "Conta Corrente", "balance": 8210.55, "currencyCode": "BRL"},
                {"id": "card-1", "itemId": "item-1", "type": "CREDIT", "subtype": "CREDIT_CARD", "number": "1234",
                 "name": "Black", "balance": 1500.25, "currencyCode": "BRL",
                 "creditData": {"creditLimit": 10000, "availableCreditLimit": 8499.75,
                                "balanceCloseDate": "2024-05-28T03:00:00.000Z", "balanceDueDate": "2024-06-05T03:00:00.000Z"}}
            ]
        })))
        .mount(&server)
        .await;
    // Page 1 (no cursor), then the key is refused once: the client renews it and asks again.
    Mock::given(method("GET"))
        .and(path("/v2/transactions"))
        .and(query_param("accountId", "acc-1"))
        .and(query_param("dateFrom", "2024-05-01"))
        .and(query_param("dateTo", "2024-05-31"))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [
                // 02:00 UTC on the 2nd is still the 1st in Brazil.
                pluggy_item("p1", "2024-05-02T02:00:00.000Z", "1500.0", "CREDIT", json!({})),
                pluggy_item("p2", "2024-05-02T10:00:00.000Z", "99.9", "DEBIT", json!({"status": "PENDING"})),
            ],
            "next": "cursor-2"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/transactions"))
        .and(query_param("after", "cursor-2"))
        .and(header("x-api-key", api_key(1).as_str()))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": 401, "codeDescription": "API_KEY_EXPIRED"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/transactions"))
        .and(query_param("after", "cursor-2"))
        .and(header("x-api-key", api_key(2).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [
                // A purchase in dollars: the account's amount is amountInAccountCurrency.
                pluggy_item("p3", "2024-05-03T15:00:00.000Z", "20.00", "DEBIT",
                            json!({"currencyCode": "USD", "amountInAccountCurrency": 104.37})),
                pluggy_item("p4", "2024-05-04T15:00:00.000Z", "0.333", "DEBIT", json!({})),
            ],
            "next": "cursor-3"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/transactions"))
        .and(query_param("after", "cursor-3"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"results": [], "next": null})),
        )
        .mount(&server)
        .await;

    let (providers, http) = setup(&server);
    let client = Client::new(
        &providers,
        &http,
        &connection(Provider::Pluggy, "item-1"),
        None,
    )
    .unwrap();
    let accounts = client.accounts().await.unwrap();
    assert_eq!(accounts.len(), 2);
    let card = &accounts[1];
    assert_eq!(card.kind, AccountKind::CreditCard);
    assert_eq!(
        card.current_balance,
        Some(d("-1500.25")),
        "what a card owes is negative"
    );
    assert_eq!(card.credit_limit, Some(d("10000")));
    assert_eq!(card.statement_due_date, NaiveDate::from_ymd_opt(2024, 6, 5));

    let pages = all_pages(&client, "acc-1").await.unwrap();
    assert_eq!(pages.len(), 3);
    let txs = transactions(&pages);
    assert_eq!(
        txs[0].booked_date,
        NaiveDate::from_ymd_opt(2024, 5, 1).unwrap()
    );
    assert_eq!(
        (txs[0].amount, txs[0].counterparty.as_deref()),
        (d("1500.0"), Some("ACME LTDA"))
    );
    assert_eq!(
        (txs[1].amount, txs[1].status),
        (d("-99.9"), TransactionStatus::Pending)
    );
    assert_eq!(
        txs[1].counterparty.as_deref(),
        Some("LOJA"),
        "a debit's counterparty is the receiver"
    );
    assert_eq!(txs[2].amount, d("-104.37"));
    assert_eq!(txs[2].currency, None);
    assert_eq!(txs[2].original, Some((d("-20.00"), "USD".to_owned())));
    assert_eq!(txs[3].amount, d("-0.333"));
    // The key was fetched twice in all: once at first, once after the 401.
    let auths = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/auth")
        .count();
    assert_eq!(auths, 2);
}

#[tokio::test]
async fn pluggy_failures_are_typed() {
    failures(
        Provider::Pluggy,
        "/v2/transactions",
        "acc-1",
        async |server: &MockServer| {
            mount_pluggy_auth(server).await;
        },
        // Refused even after one renewal of the key: the deployment's client keys are wrong.
        &[(401, "config"), (403, "config")],
    )
    .await;
}

#[tokio::test]
async fn pluggy_refused_client_keys_are_a_configuration_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": 401, "codeDescription": "CLIENT_KEYS_UNAUTHORIZED"})),
        )
        .mount(&server)
        .await;
    let (providers, http) = setup(&server);
    let client = Client::new(
        &providers,
        &http,
        &connection(Provider::Pluggy, "item-1"),
        None,
    )
    .unwrap();
    let error = client.accounts().await.unwrap_err();
    assert!(
        matches!(error, ProviderError::NotConfigured { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("CLIENT_KEYS_UNAUTHORIZED"));
}

// ---------------------------------------------------------------- Open Finance Brasil

const OFB_ROOT: &str = "/open-banking/accounts/v2";

fn ofb_item(id: &str, amount: &str, direction: &str, completion: &str) -> Value {
    json!({
        "transactionId": id, "completedAuthorisedPaymentType": completion, "creditDebitType": direction,
        "transactionName": "TRANSFCWAK", "type": "PIX",
        "transactionAmount": {"amount": amount, "currency": "BRL"},
        "transactionDateTime": "2021-05-21T08:30:00.100Z", "partieCnpjCpf": "43908445778",
        "partiePersonType": "PESSOA_NATURAL", "newOptionalField": {"x": 1}
    })
}

fn ofb_list(server: &MockServer, data: Vec<Value>, next_page: Option<u32>) -> Value {
    let mut links =
        json!({"self": format!("{}{OFB_ROOT}/accounts/abc/transactions?page=1", server.uri())});
    if let Some(p) = next_page {
        links["next"] = json!(format!(
            "{}{OFB_ROOT}/accounts/abc/transactions?page={p}&pagination-key=k{p}",
            server.uri()
        ));
    }
    json!({"data": Value::Array(data), "links": links, "meta": {"requestDateTime": "2021-05-21T08:30:00Z"}})
}

/// Echoes `x-fapi-interaction-id` as a conforming server does.
struct Echo(ResponseTemplate);

impl wiremock::Respond for Echo {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let id = request
            .headers
            .get("x-fapi-interaction-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.0
            .clone()
            .insert_header("x-fapi-interaction-id", id.as_str())
    }
}

#[tokio::test]
async fn open_finance_links_next_balances_and_decimal_strings() {
    let server = MockServer::start().await;
    let ok = |body: Value| Echo(ResponseTemplate::new(200).set_body_json(body));
    Mock::given(method("GET"))
        .and(path(format!("{OFB_ROOT}/accounts")))
        .and(header("authorization", "Bearer at-123"))
        .respond_with(ok(json!({
            "data": [{"brandName": "Banco X", "companyCnpj": "21128159000166", "type": "CONTA_DEPOSITO_A_VISTA",
                      "subtype": "INDIVIDUAL", "compeCode": "001", "branchCode": "6272", "number": "94088392",
                      "checkDigit": "4", "accountId": "abc"}],
            "links": {"self": "x"}, "meta": {"totalRecords": 1, "totalPages": 1, "requestDateTime": "2021-05-21T08:30:00Z"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{OFB_ROOT}/accounts/abc/balances")))
        .respond_with(ok(json!({"data": {
            "availableAmount": {"amount": "1000.0400", "currency": "BRL"},
            "blockedAmount": {"amount": "10.00", "currency": "BRL"},
            "automaticallyInvestedAmount": {"amount": "0.00", "currency": "BRL"},
            "updateDateTime": "2021-05-21T08:30:00Z"}, "links": {"self": "x"}, "meta": {}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{OFB_ROOT}/accounts/abc/transactions")))
        .and(query_param("fromBookingDate", "2024-05-01"))
        .and(query_param("toBookingDate", "2024-05-31"))
        .and(query_param_is_missing("page"))
        .respond_with(ok(ofb_list(
            &server,
            vec![
                ofb_item("tx1", "1000.0400", "DEBITO", "TRANSACAO_EFETIVADA"),
                ofb_item("tx2", "25.50", "CREDITO", "TRANSACAO_PROCESSANDO"),
            ],
            Some(2),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{OFB_ROOT}/accounts/abc/transactions")))
        .and(query_param("page", "2"))
        .respond_with(ok(ofb_list(
            &server,
            vec![ofb_item("tx3", "10.0050", "DEBITO", "TRANSACAO_EFETIVADA")],
            Some(3),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{OFB_ROOT}/accounts/abc/transactions")))
        .and(query_param("page", "3"))
        .respond_with(ok(ofb_list(&server, vec![], None)))
        .mount(&server)
        .await;

    let (providers, http) = setup(&server);
    let token = || {
        Some(SecretString::from(
            r#"{"access_token":"at-123"}"#.to_owned(),
        ))
    };
    let conn = connection(Provider::OpenFinance, "consent-1");
    let client = Client::new(&providers, &http, &conn, token()).unwrap();
    let accounts = client.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].available_balance, Some(d("1000.04")));
    assert_eq!(
        accounts[0].current_balance,
        Some(d("1010.04")),
        "blocked money is still the account's"
    );
    let pages = all_pages(&client, "abc").await.unwrap();
    assert_eq!(pages.len(), 3);
    let txs = transactions(&pages);
    assert_eq!(
        txs.iter()
            .map(|t| (t.external_id.as_str(), t.amount, t.status))
            .collect::<Vec<_>>(),
        vec![
            ("tx1", d("-1000.04"), TransactionStatus::Posted),
            ("tx2", d("25.50"), TransactionStatus::Pending),
            ("tx3", d("-10.005"), TransactionStatus::Posted),
        ]
    );
    assert_eq!(
        txs[0].booked_date,
        NaiveDate::from_ymd_opt(2021, 5, 21).unwrap()
    );

    // Without a stored token, or with a server that does not echo the interaction id.
    assert!(matches!(
        Client::new(&providers, &http, &conn, None),
        Err(ProviderError::NotConfigured { .. })
    ));
    let rude = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-fapi-interaction-id", "someone-else")
                .set_body_json(ofb_list(&rude, vec![], None)),
        )
        .mount(&rude)
        .await;
    let (providers, http) = setup(&rude);
    let client = Client::new(&providers, &http, &conn, token()).unwrap();
    let error = client
        .transactions("abc", window(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::BadData { detail, .. } if detail.contains("x-fapi-interaction-id")),
        "{error:?}"
    );
}

#[tokio::test]
async fn open_finance_failures_are_typed() {
    failures(
        Provider::OpenFinance,
        &format!("{OFB_ROOT}/accounts/abc/transactions"),
        "abc",
        async |_: &MockServer| {},
        // The access token is the consent's: the customer must authorise again.
        &[(401, "auth"), (403, "auth")],
    )
    .await;
}
