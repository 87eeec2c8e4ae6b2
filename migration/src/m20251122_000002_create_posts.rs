//! The seed project's `posts` table: each post belongs to a user and goes with it.

use sea_orm_migration::prelude::*;

use crate::m20251122_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Posts::Table)
                    .col(crate::serial_primary_key(manager.get_database_backend(), Posts::Id))
                    .col(ColumnDef::new(Posts::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Posts::Content).text().not_null())
                    .col(ColumnDef::new(Posts::UserId).integer().not_null())
                    .col(ColumnDef::new(Posts::IsPublished).boolean().default(false))
                    .col(ColumnDef::new(Posts::CreatedAt).timestamp().default(Expr::current_timestamp()))
                    .col(ColumnDef::new(Posts::UpdatedAt).timestamp().default(Expr::current_timestamp()))
                    .foreign_key(
                        ForeignKey::create()
                            .name("posts_user_id_fkey")
                            .from(Posts::Table, Posts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("idx_posts_user_id").table(Posts::Table).col(Posts::UserId).to_owned())
            .await?;
        manager
            .create_index(
                Index::create().name("idx_posts_is_published").table(Posts::Table).col(Posts::IsPublished).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Posts::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Posts {
    Table,
    Id,
    Title,
    Content,
    UserId,
    IsPublished,
    CreatedAt,
    UpdatedAt,
}
