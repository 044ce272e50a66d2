//! How freelance plugs into the platform: its routes and its part of a user's data export (an
//! account's deletion takes its rows with it: every table refers to the owner with `ON DELETE
//! CASCADE`, and nobody else sees them).

use crate::service::Freelance;
use platform::module::{AccountHooks, Kernel, Module};
use std::sync::Arc;
use uuid::Uuid;

/// The freelance module.
pub struct FreelanceModule;

#[async_trait::async_trait]
impl Module for FreelanceModule {
    fn name(&self) -> &'static str {
        "freelance"
    }

    fn migrations(&self) -> &'static [platform::db::Migration] {
        crate::MIGRATIONS
    }

    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let accounts: accounts::Accounts = kernel.service()?;
        let work: work::Work = kernel.service()?;
        let freelance = Freelance::new(kernel.platform().clone(), accounts, work);
        kernel.account_hooks(Arc::new(Hooks(freelance.clone())));
        let mailer = kernel.platform().mailer.clone();
        let mails = crate::jobs::InvoiceMailHandler { freelance: freelance.clone(), mailer };
        kernel.outbox_handler(crate::service::INVOICE_MAIL, Arc::new(mails));

        kernel.provide(freelance);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let freelance: Freelance = kernel.service()?;
        let auth = kernel.auth()?;
        kernel.routes(crate::routes::router(freelance.clone(), auth));
        kernel.job(Arc::new(crate::jobs::OverdueInvoices(freelance.clone())));
        kernel.job(Arc::new(crate::jobs::RecurringInvoices(freelance)));
        Ok(())
    }
}

/// Freelance's part in exporting an account.
struct Hooks(Freelance);

#[async_trait::async_trait]
impl AccountHooks for Hooks {
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value> {
        Ok(self.0.export(user).await?)
    }
}
