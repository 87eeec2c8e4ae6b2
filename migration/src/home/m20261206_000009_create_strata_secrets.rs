//! Secrets Strata keeps for itself (the password of the viewer login it created, ...), each encrypted with the key file.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Secrets::Table)
                    // What the secret is for (`viewer_login`, ...).
                    .col(ColumnDef::new(Secrets::Name).string_len(100).not_null().primary_key())
                    // The public part, kept beside the secret (the login's user name, ...); never secret.
                    .col(ColumnDef::new(Secrets::Label).string_len(255).not_null().default(""))
                    // Lower-case hex of the random 24-byte XChaCha20-Poly1305 nonce this value was sealed with.
                    .col(ColumnDef::new(Secrets::Nonce).string_len(48).not_null())
                    // Lower-case hex of the ciphertext and its tag; the plain text is never stored.
                    .col(ColumnDef::new(Secrets::Ciphertext).text().not_null())
                    .col(
                        ColumnDef::new(Secrets::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Secrets::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Secrets {
    #[sea_orm(iden = "strata_secrets")]
    Table,
    Name,
    Label,
    Nonce,
    Ciphertext,
    UpdatedAt,
}
