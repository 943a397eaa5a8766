//! Users of a tenant: email, Argon2 password hash, role.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::users;
use crate::{SystemConn, TenantId, UserId};

crate::text_enum! {
    /// What a user may do: `admin` also operates jobs and sees the admin UI.
    pub enum Role {
        User => "user",
        Admin => "admin",
    }
}

impl Role {
    /// Whether a user with this role may act with `wanted`'s rights.
    pub fn covers(self, wanted: Role) -> bool {
        self == Role::Admin || wanted == Role::User
    }
}

#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub role: Role,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The password hash stays out of logs and panics.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub role: Role,
}

/// Emails are stored lower-case; logins compare them that way.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A user by email, in any tenant (login and seeding resolve users before a tenant is known).
pub fn find_by_email(sys: &mut SystemConn<'_>, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(normalize_email(email)))
        .select(User::as_select())
        .first(sys.conn())
        .optional()
}

/// A user of `tenant` by id or email.
pub fn find_in_tenant(
    sys: &mut SystemConn<'_>,
    tenant: TenantId,
    key: &str,
) -> QueryResult<Option<User>> {
    let query = users::table
        .filter(users::tenant_id.eq(tenant))
        .select(User::as_select());
    match key.parse::<UserId>() {
        Ok(id) => query.filter(users::id.eq(id)).first(sys.conn()).optional(),
        Err(_) => query
            .filter(users::email.eq(normalize_email(key)))
            .first(sys.conn())
            .optional(),
    }
}

/// The tenant's oldest enabled user holding at least `role`.
pub fn first_with_role(
    sys: &mut SystemConn<'_>,
    tenant: TenantId,
    role: Role,
) -> QueryResult<Option<User>> {
    let mut query = users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::disabled_at.is_null())
        .select(User::as_select())
        .order((users::created_at, users::id))
        .into_boxed();
    if role == Role::Admin {
        query = query.filter(users::role.eq(Role::Admin));
    }
    query.first(sys.conn()).optional()
}

pub fn insert(sys: &mut SystemConn<'_>, new: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(sys.conn())
}

pub fn set_password_hash(sys: &mut SystemConn<'_>, id: UserId, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(sys.conn())
        .map(drop)
}
