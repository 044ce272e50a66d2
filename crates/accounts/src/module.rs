//! How accounts plugs into the platform: it checks the sessions behind every access token, is
//! served whatever `FERROBASE_MODULES` says, serves `ferrobase.accounts.v1.Accounts` over gRPC,
//! and runs the clean-up job.

use crate::jobs::Cleanup;
use crate::service::Accounts;
use platform::module::{Kernel, Module};
use std::sync::Arc;

/// The accounts module.
pub struct AccountsModule;

#[async_trait::async_trait]
impl Module for AccountsModule {
    fn name(&self) -> &'static str {
        "accounts"
    }

    fn migrations(&self) -> &'static [platform::db::Migration] {
        crate::MIGRATIONS
    }

    fn always_served(&self) -> bool {
        true
    }

    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let accounts = Accounts::new(kernel.platform().clone(), kernel.account_hook_set());
        kernel.provide_sessions(Arc::new(accounts.clone()));
        kernel.provide(accounts);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let accounts: Accounts = kernel.service()?;
        let uploads = kernel.platform().uploads.clone();
        kernel.routes(crate::routes::router(accounts.clone(), kernel.auth()?, uploads));
        kernel.job(Arc::new(Cleanup { db: kernel.platform().db.clone(), accounts: accounts.clone() }));
        let trusted = Arc::new(kernel.platform().config.trusted_proxy_list());
        let verification = crate::grpc::VerificationService::new(accounts.clone(), trusted.clone());
        kernel.grpc(crate::grpc::AccountsService::new(accounts, kernel.auth()?, trusted), crate::grpc::pb::DESCRIPTOR);
        kernel.grpc(verification, crate::grpc::pb::DESCRIPTOR);
        Ok(())
    }
}
