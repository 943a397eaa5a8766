//! Categories (per tenant) and the built-in defaults every tenant starts with.

use diesel::prelude::*;

use crate::schema::categories;
use crate::{SystemConn, TenantId};

crate::text_enum! {
    /// Which way money in a category flows. Transfers move money between the tenant's own
    /// accounts and count as neither income nor expense.
    pub enum CategoryKind {
        Income => "income",
        Expense => "expense",
        Transfer => "transfer",
    }
}

/// A built-in category: `(slug, name, kind)`. The slug is the stable key (rules, sandbox data and
/// the categorizer refer to it); tenants may rename the category.
pub type DefaultCategory = (&'static str, &'static str, CategoryKind);

pub const DEFAULTS: &[DefaultCategory] = &[
    ("salary", "Salary", CategoryKind::Income),
    ("freelance", "Freelance & services", CategoryKind::Income),
    ("sales", "Sales revenue", CategoryKind::Income),
    ("interest", "Interest & yields", CategoryKind::Income),
    ("refunds", "Refunds", CategoryKind::Income),
    ("other_income", "Other income", CategoryKind::Income),
    ("rent", "Rent & housing", CategoryKind::Expense),
    ("utilities", "Utilities", CategoryKind::Expense),
    ("groceries", "Groceries", CategoryKind::Expense),
    (
        "restaurants",
        "Restaurants & delivery",
        CategoryKind::Expense,
    ),
    ("transport", "Transport", CategoryKind::Expense),
    ("fuel", "Fuel", CategoryKind::Expense),
    ("health", "Health", CategoryKind::Expense),
    ("insurance", "Insurance", CategoryKind::Expense),
    ("education", "Education", CategoryKind::Expense),
    ("entertainment", "Entertainment", CategoryKind::Expense),
    ("subscriptions", "Subscriptions", CategoryKind::Expense),
    ("shopping", "Shopping", CategoryKind::Expense),
    ("travel", "Travel", CategoryKind::Expense),
    ("bank_fees", "Bank fees", CategoryKind::Expense),
    ("taxes", "Taxes", CategoryKind::Expense),
    ("other_expense", "Other expenses", CategoryKind::Expense),
    (
        "transfers",
        "Transfers between accounts",
        CategoryKind::Transfer,
    ),
    (
        "card_payment",
        "Credit card payment",
        CategoryKind::Transfer,
    ),
    ("investments", "Investments", CategoryKind::Transfer),
];

#[derive(Insertable)]
#[diesel(table_name = categories)]
struct NewCategory<'a> {
    tenant_id: TenantId,
    slug: &'a str,
    name: &'a str,
    kind: CategoryKind,
    is_default: bool,
}

/// Inserts the built-in categories the tenant lacks (by slug) and leaves existing ones, renamed
/// or not, alone. Returns how many were inserted; running it again inserts none.
pub fn ensure_defaults(sys: &mut SystemConn<'_>, tenant: TenantId) -> QueryResult<usize> {
    let rows: Vec<NewCategory<'_>> = DEFAULTS
        .iter()
        .map(|&(slug, name, kind)| NewCategory {
            tenant_id: tenant,
            slug,
            name,
            kind,
            is_default: true,
        })
        .collect();
    diesel::insert_into(categories::table)
        .values(&rows)
        .on_conflict((categories::tenant_id, categories::slug))
        .do_nothing()
        .execute(sys.conn())
}

/// A tenant's enabled categorization rule.
#[derive(Debug, Clone, Queryable)]
pub struct Rule {
    pub id: uuid::Uuid,
    pub category_id: uuid::Uuid,
    pub priority: i32,
    /// `description` or `counterparty`.
    pub match_field: String,
    /// `contains`, `equals`, `prefix` or `regex`.
    pub match_kind: String,
    pub pattern: String,
    /// Bounds on the signed amount (negative leaves the account), in the transaction's minor units.
    pub amount_min_minor: Option<i64>,
    pub amount_max_minor: Option<i64>,
}

/// The tenant's enabled rules, first to try first (priority, then age).
pub fn enabled_rules(scope: &mut crate::TenantConn<'_>) -> QueryResult<Vec<Rule>> {
    use crate::schema::categorization_rules::dsl as r;
    r::categorization_rules
        .filter(r::enabled)
        .order((r::priority, r::created_at, r::id))
        .select((
            r::id,
            r::category_id,
            r::priority,
            r::match_field,
            r::match_kind,
            r::pattern,
            r::amount_min_minor,
            r::amount_max_minor,
        ))
        .load(scope.conn())
}

/// The tenant's category ids by slug.
pub fn ids_by_slug(
    scope: &mut crate::TenantConn<'_>,
) -> QueryResult<std::collections::HashMap<String, uuid::Uuid>> {
    categories::table
        .select((categories::slug, categories::id))
        .load::<(String, uuid::Uuid)>(scope.conn())
        .map(|rows| rows.into_iter().collect())
}

/// A transaction the categorizer may (re)decide: not categorized by a person.
#[derive(Debug, Clone, Queryable)]
pub struct Categorizable {
    pub id: uuid::Uuid,
    pub booked_date: chrono::NaiveDate,
    pub description: String,
    pub counterparty: Option<String>,
    pub amount_minor: i64,
    pub provider_category: Option<String>,
    pub category_id: Option<uuid::Uuid>,
}

/// Up to `limit` of the account's transactions not categorized by a person, newest first,
/// after `after` (`booked_date`, `id`): the account page index serves it.
pub fn categorizable_page(
    scope: &mut crate::TenantConn<'_>,
    account: uuid::Uuid,
    after: Option<(chrono::NaiveDate, uuid::Uuid)>,
    limit: i64,
) -> QueryResult<Vec<Categorizable>> {
    use crate::schema::transactions::dsl as t;
    let mut query = t::transactions
        .filter(t::account_id.eq(account))
        .filter(t::category_manual.eq(false))
        .order((t::booked_date.desc(), t::id.desc()))
        .limit(limit)
        .select((
            t::id,
            t::booked_date,
            t::description,
            t::counterparty,
            t::amount_minor,
            t::provider_category,
            t::category_id,
        ))
        .into_boxed();
    if let Some((date, id)) = after {
        query = query.filter(
            t::booked_date
                .lt(date)
                .or(t::booked_date.eq(date).and(t::id.lt(id))),
        );
    }
    query.load(scope.conn())
}

/// Sets each transaction's category, except where a person has categorized it meanwhile.
/// Returns how many changed.
pub fn apply(
    scope: &mut crate::TenantConn<'_>,
    changes: &[(uuid::Uuid, Option<uuid::Uuid>)],
) -> QueryResult<usize> {
    use diesel::sql_types::{Array, Nullable, Uuid};
    let (ids, categories): (Vec<uuid::Uuid>, Vec<Option<uuid::Uuid>>) =
        changes.iter().copied().unzip();
    diesel::sql_query(
        "UPDATE transactions t SET category_id = c.category_id \
         FROM unnest($1::uuid[], $2::uuid[]) AS c(id, category_id) \
         WHERE t.id = c.id AND NOT t.category_manual \
           AND t.category_id IS DISTINCT FROM c.category_id",
    )
    .bind::<Array<Uuid>, _>(ids)
    .bind::<Array<Nullable<Uuid>>, _>(categories)
    .execute(scope.conn())
}
