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
