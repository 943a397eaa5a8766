//! Idempotent seeding: the default categories of every tenant, and the demo tenant that
//! `findash up` and `findash seed --demo` create. Running either twice changes nothing.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::connections::{self, NewConnection, Provider};
use crate::tenants::{self, NewTenant, Tenant};
use crate::users::{self, NewUser, Role};
use crate::{
    ConnectionId, Db, DbError, SystemTask, TenantId, UserId, categories, console, passwords,
};

/// The demo tenant's slug (a contract: docs and scripts use it).
pub const DEMO_SLUG: &str = "demo";
/// The demo admin's email when `ADMIN_EMAIL` is unset.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@demo.findash.local";

/// The sandbox connections of the demo tenant: (external id, name, generator seed).
const DEMO_CONNECTIONS: &[(&str, &str, u64)] = &[
    ("sandbox-personal", "Sandbox Bank (personal)", 1),
    ("sandbox-business", "Sandbox Bank (business)", 2),
];

/// What [`default_categories`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoriesReport {
    pub tenants: usize,
    pub inserted: usize,
}

/// Gives every tenant the built-in categories it lacks.
pub fn default_categories(db: &Db) -> Result<CategoriesReport, DbError> {
    db.system(SystemTask::Seed, |sys| {
        let tenants = tenants::all(sys)?;
        let mut inserted = 0;
        for tenant in &tenants {
            inserted += categories::ensure_defaults(sys, tenant.id)?;
        }
        Ok(CategoriesReport {
            tenants: tenants.len(),
            inserted,
        })
    })
}

/// Who administers the demo tenant.
#[derive(Debug, Clone)]
pub struct DemoAdmin {
    pub email: String,
    /// `ADMIN_PASSWORD`; generated (and reported once) when unset.
    pub password: Option<SecretString>,
}

/// What happened to the demo admin's login.
#[derive(Debug)]
pub enum AdminLogin {
    /// A new user; the password is reported so it can be printed once.
    Created {
        password: SecretString,
        generated: bool,
    },
    /// The user existed and `ADMIN_PASSWORD` differed from the stored one: it was reset.
    PasswordReset,
    /// The user existed and keeps its password.
    Unchanged,
}

/// What [`demo`] did.
#[derive(Debug)]
pub struct DemoReport {
    pub tenant: Tenant,
    pub tenant_created: bool,
    pub admin_email: String,
    pub admin_id: UserId,
    pub admin_login: AdminLogin,
    pub categories_inserted: usize,
    pub connections_created: usize,
    pub connections_total: usize,
}

/// Creates (or completes) the demo tenant: BRL household-and-studio books on the sandbox
/// provider, its categories, and an admin user.
pub fn demo(db: &Db, admin: &DemoAdmin) -> Result<DemoReport, DbError> {
    let email = users::normalize_email(&admin.email);
    db.system(SystemTask::Seed, |sys| {
        let (tenant, tenant_created) = tenants::ensure(
            sys,
            &NewTenant {
                id: TenantId::new(),
                slug: DEMO_SLUG,
                name: "Demo household & studio",
                base_currency: "BRL",
                time_zone: "America/Sao_Paulo",
                locale: "pt-BR",
            },
        )?;
        let categories_inserted = categories::ensure_defaults(sys, tenant.id)?;

        let mut connections_created = 0;
        for &(external_id, name, seed) in DEMO_CONNECTIONS {
            let created = connections::ensure(
                sys,
                &NewConnection {
                    id: ConnectionId::new(),
                    tenant_id: tenant.id,
                    provider: Provider::Sandbox,
                    external_id,
                    display_name: name,
                    settings: json!({ "seed": seed, "history_days": 730 }),
                },
            )?;
            connections_created += usize::from(created);
        }

        let (admin_id, admin_login) = match users::find_by_email(sys, &email)? {
            Some(user) if user.tenant_id != tenant.id => {
                return Err(DbError::Invalid(format!(
                    "ADMIN_EMAIL {email} belongs to a user of another tenant; choose another address"
                )));
            }
            Some(user) => {
                let login = match &admin.password {
                    Some(wanted)
                        if !user
                            .password_hash
                            .as_deref()
                            .is_some_and(|h| passwords::verify(wanted.expose_secret(), h)) =>
                    {
                        users::set_password_hash(sys, user.id, &passwords::hash(wanted.expose_secret())?)?;
                        AdminLogin::PasswordReset
                    }
                    _ => AdminLogin::Unchanged,
                };
                (user.id, login)
            }
            None => {
                let (password, generated) = match &admin.password {
                    Some(p) => (p.clone(), false),
                    None => (SecretString::from(passwords::generate()), true),
                };
                let hash = passwords::hash(password.expose_secret())?;
                let user = users::insert(
                    sys,
                    &NewUser {
                        id: UserId::new(),
                        tenant_id: tenant.id,
                        email: &email,
                        display_name: Some("Demo admin"),
                        password_hash: Some(&hash),
                        role: Role::Admin,
                    },
                )?;
                (user.id, AdminLogin::Created { password, generated })
            }
        };
        // ADMIN_EMAIL is the deployment's admin: it signs in to the admin console.
        console::grant_operator(sys, admin_id, "seed")?;

        Ok(DemoReport {
            tenant,
            tenant_created,
            admin_email: email.clone(),
            admin_id,
            admin_login,
            categories_inserted,
            connections_created,
            connections_total: DEMO_CONNECTIONS.len(),
        })
    })
}
