//! After `migrate up`, the catalog shows the seed project's `users` and `posts` exactly: types, NOT NULL, UNIQUE, defaults, indexes, FK with cascade.

mod common;

use common::*;

each_backend! {
    seed_tables_match_their_definition_in_the_catalog => seed_schema;
}

async fn seed_schema(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let db = t.connect().await;
    let (columns, indexes, constraints) = match kind {
        Kind::Postgres => (
            column(&db, "SELECT table_name || '.' || column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '') \
                || CASE is_nullable WHEN 'NO' THEN ' NOT NULL' ELSE '' END || coalesce(' DEFAULT ' || column_default, '') \
                FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ('users', 'posts') \
                ORDER BY table_name DESC, ordinal_position").await,
            column(&db, "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('users', 'posts') ORDER BY indexname").await,
            column(&db, "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                WHERE conrelid IN ('users'::regclass, 'posts'::regclass) ORDER BY conname").await,
        ),
        Kind::MySql => (
            column(&db, "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME, ' ', COLUMN_TYPE, IF(IS_NULLABLE = 'NO', ' NOT NULL', ''), \
                COALESCE(CONCAT(' DEFAULT ', COLUMN_DEFAULT), ''), IF(EXTRA = '', '', CONCAT(' ', EXTRA))) \
                FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('users', 'posts') \
                ORDER BY TABLE_NAME DESC, ORDINAL_POSITION").await,
            column(&db, "SELECT CONCAT(TABLE_NAME, '.', INDEX_NAME, IF(NON_UNIQUE = 0, ' UNIQUE', ''), ' (', GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX), ')') \
                FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('users', 'posts') \
                GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE ORDER BY TABLE_NAME, INDEX_NAME").await,
            column(&db, "SELECT CONCAT(CONSTRAINT_NAME, ' ', TABLE_NAME, ' -> ', REFERENCED_TABLE_NAME, ' ON DELETE ', DELETE_RULE) \
                FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() \
                AND TABLE_NAME IN ('users', 'posts')").await,
        ),
        Kind::Sqlite => (
            column(&db, "SELECT m.name || '.' || p.name || ' ' || p.type || CASE WHEN p.\"notnull\" THEN ' NOT NULL' ELSE '' END \
                || coalesce(' DEFAULT ' || p.dflt_value, '') || CASE WHEN p.pk THEN ' PRIMARY KEY' ELSE '' END \
                FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.name IN ('users', 'posts') ORDER BY m.name DESC, p.cid").await,
            column(&db, "SELECT m.name || '.' || i.name || CASE WHEN i.\"unique\" THEN ' UNIQUE' ELSE '' END || ' (' || \
                (SELECT group_concat(c.name) FROM pragma_index_info(i.name) c) || ')' \
                FROM sqlite_master m, pragma_index_list(m.name) i WHERE m.name IN ('users', 'posts') ORDER BY m.name, i.name").await,
            column(&db, "SELECT 'posts.' || f.\"from\" || ' -> ' || f.\"table\" || '.' || f.\"to\" || ' ON DELETE ' || f.on_delete \
                FROM pragma_foreign_key_list('posts') f").await,
        ),
    };
    let expected = expected(kind);
    assert_eq!(columns, expected.0, "columns");
    assert_eq!(indexes, expected.1, "indexes");
    assert_eq!(constraints, expected.2, "constraints");
    db.close().await.ok();
    t.drop().await;
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The seed definitions, as each backend's catalog spells them.
fn expected(kind: Kind) -> (Vec<String>, Vec<String>, Vec<String>) {
    match kind {
        Kind::Postgres => (
            strings(&[
                "users.id integer NOT NULL DEFAULT nextval('users_id_seq'::regclass)",
                "users.username character varying(50) NOT NULL",
                "users.email character varying(100) NOT NULL",
                "users.is_active boolean DEFAULT true",
                "users.created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP",
                "users.updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP",
                "posts.id integer NOT NULL DEFAULT nextval('posts_id_seq'::regclass)",
                "posts.title character varying(200) NOT NULL",
                "posts.content text NOT NULL",
                "posts.user_id integer NOT NULL",
                "posts.is_published boolean DEFAULT false",
                "posts.created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP",
                "posts.updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP",
            ]),
            strings(&[
                "CREATE INDEX idx_posts_is_published ON public.posts USING btree (is_published)",
                "CREATE INDEX idx_posts_user_id ON public.posts USING btree (user_id)",
                "CREATE INDEX idx_users_email ON public.users USING btree (email)",
                "CREATE INDEX idx_users_username ON public.users USING btree (username)",
                "CREATE UNIQUE INDEX posts_pkey ON public.posts USING btree (id)",
                "CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)",
                "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)",
                "CREATE UNIQUE INDEX users_username_key ON public.users USING btree (username)",
            ]),
            strings(&[
                "posts_pkey PRIMARY KEY (id)",
                "posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
                "users_email_key UNIQUE (email)",
                "users_pkey PRIMARY KEY (id)",
                "users_username_key UNIQUE (username)",
            ]),
        ),
        Kind::MySql => (
            strings(&[
                "users.id int(11) NOT NULL auto_increment",
                "users.username varchar(50) NOT NULL",
                "users.email varchar(100) NOT NULL",
                "users.is_active tinyint(1) DEFAULT 1",
                "users.created_at timestamp DEFAULT current_timestamp()",
                "users.updated_at timestamp DEFAULT current_timestamp()",
                "posts.id int(11) NOT NULL auto_increment",
                "posts.title varchar(200) NOT NULL",
                "posts.content text NOT NULL",
                "posts.user_id int(11) NOT NULL",
                "posts.is_published tinyint(1) DEFAULT 0",
                "posts.created_at timestamp DEFAULT current_timestamp()",
                "posts.updated_at timestamp DEFAULT current_timestamp()",
            ]),
            strings(&[
                "posts.idx_posts_is_published (is_published)",
                "posts.idx_posts_user_id (user_id)",
                "posts.PRIMARY UNIQUE (id)",
                "users.email UNIQUE (email)",
                "users.idx_users_email (email)",
                "users.idx_users_username (username)",
                "users.PRIMARY UNIQUE (id)",
                "users.username UNIQUE (username)",
            ]),
            strings(&["posts_user_id_fkey posts -> users ON DELETE CASCADE"]),
        ),
        Kind::Sqlite => (
            strings(&[
                "users.id INTEGER NOT NULL PRIMARY KEY",
                "users.username varchar(50) NOT NULL",
                "users.email varchar(100) NOT NULL",
                "users.is_active boolean DEFAULT TRUE",
                "users.created_at timestamp_text DEFAULT CURRENT_TIMESTAMP",
                "users.updated_at timestamp_text DEFAULT CURRENT_TIMESTAMP",
                "posts.id INTEGER NOT NULL PRIMARY KEY",
                "posts.title varchar(200) NOT NULL",
                "posts.content TEXT NOT NULL",
                "posts.user_id INTEGER NOT NULL",
                "posts.is_published boolean DEFAULT FALSE",
                "posts.created_at timestamp_text DEFAULT CURRENT_TIMESTAMP",
                "posts.updated_at timestamp_text DEFAULT CURRENT_TIMESTAMP",
            ]),
            strings(&[
                "posts.idx_posts_is_published (is_published)",
                "posts.idx_posts_user_id (user_id)",
                "users.idx_users_email (email)",
                "users.idx_users_username (username)",
                "users.sqlite_autoindex_users_1 UNIQUE (username)",
                "users.sqlite_autoindex_users_2 UNIQUE (email)",
            ]),
            strings(&["posts.user_id -> users.id ON DELETE CASCADE"]),
        ),
    }
}
