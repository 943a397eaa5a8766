//! `findash seed [--demo]`.

use findash_schema::Db;
use findash_schema::seed::{self, AdminLogin, DemoReport};
use secrecy::ExposeSecret;

use crate::config::Config;

pub fn run(config: &Config, demo: bool) -> anyhow::Result<()> {
    let db = super::open_db(config)?;
    if demo {
        print_demo(&seed_demo(&db, config)?);
    }
    let categories = seed::default_categories(&db)?;
    println!(
        "categories: {} inserted across {} tenant(s) ({} defaults each)",
        categories.inserted,
        categories.tenants,
        findash_schema::categories::DEFAULTS.len()
    );
    Ok(())
}

pub fn seed_demo(db: &Db, config: &Config) -> anyhow::Result<DemoReport> {
    Ok(seed::demo(db, &config.admin)?)
}

pub fn print_demo(report: &DemoReport) {
    let t = &report.tenant;
    println!(
        "demo tenant: {} ({}), {} — {}, {}, {}",
        t.slug,
        t.id,
        if report.tenant_created {
            "created"
        } else {
            "exists"
        },
        t.base_currency,
        t.time_zone,
        t.locale
    );
    println!(
        "demo categories: {} default(s) inserted",
        report.categories_inserted
    );
    println!(
        "sandbox connections: {} created, {} in all",
        report.connections_created, report.connections_total
    );
    match &report.admin_login {
        AdminLogin::Created {
            password,
            generated: true,
        } => {
            println!(
                "admin: {} created, generated password: {}",
                report.admin_email,
                password.expose_secret()
            );
            println!("  (shown once; set ADMIN_PASSWORD to choose it, or to reset it later)");
        }
        AdminLogin::Created {
            generated: false, ..
        } => {
            println!("admin: {} created with ADMIN_PASSWORD", report.admin_email);
        }
        AdminLogin::PasswordReset => println!(
            "admin: {} exists, password reset to ADMIN_PASSWORD",
            report.admin_email
        ),
        AdminLogin::Unchanged => println!(
            "admin: {} exists, password unchanged (set ADMIN_PASSWORD to reset it)",
            report.admin_email
        ),
    }
}
