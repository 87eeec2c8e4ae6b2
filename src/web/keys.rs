//! `/keys`: API keys — everyone manages their own, admins see and revoke everyone's; a new key is shown once.
//!
//! Creating and revoking run in a transaction with their audit row (`api_key.create`, `api_key.revoke`).
//! The dashboard creates keys for the signed-in account; `strata key create --user` makes them for anyone.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::TransactionTrait;

use super::auth::sentence;
use super::extract::{Form, Path};
use super::layout::Layout;
use super::session::{CurrentUser, FlashKind};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::api_keys::{self, KeyInfo, NewKey, Scope};
use crate::home::audit;
use crate::state::AppState;

/// Longest expiry the form offers, in days (ten years).
const MAX_EXPIRY_DAYS: i64 = 3650;

/// `GET /keys`.
pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<KeysPage> {
    user.require(Role::Viewer)?;
    let owner = if user.is_admin() { None } else { Some(user.id) };
    let keys = api_keys::list(&state.home, owner).await?.into_iter().map(|k| KeyRow::new(k, &user)).collect();
    Ok(KeysPage { layout: Layout::new(&user, &state, "keys").await?, csrf_token: user.csrf_token, keys })
}

/// `GET /keys/new`.
pub async fn new(user: CurrentUser, State(state): State<AppState>) -> Result<NewKeyPage> {
    user.require(Role::Viewer)?;
    let form =
        KeyForm { name: String::new(), role: user.role, scopes: vec![Scope::ReadCatalog], expires_days: String::new() };
    new_page(&user, &state, form, None).await
}

/// What the form sent, as typed.
#[derive(Clone, Debug)]
pub struct KeyForm {
    pub name: String,
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub expires_days: String,
}

impl KeyForm {
    /// From the urlencoded pairs: `name`, `role`, `expires_days`, and one `scope` per ticked box.
    fn parse(pairs: Vec<(String, String)>, fallback_role: Role) -> Result<KeyForm> {
        let mut form =
            KeyForm { name: String::new(), role: fallback_role, scopes: Vec::new(), expires_days: String::new() };
        for (k, v) in pairs {
            match k.as_str() {
                "name" => form.name = v,
                "role" => form.role = v.parse()?,
                "scope" => form.scopes.push(v.parse()?),
                "expires_days" => form.expires_days = v.trim().to_string(),
                _ => {}
            }
        }
        Ok(form)
    }

    fn expires_at(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        if self.expires_days.is_empty() {
            return Ok(None);
        }
        match self.expires_days.parse::<i64>() {
            Ok(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => Ok(Some(chrono::Utc::now() + chrono::Duration::days(d))),
            _ => Err(Error::BadRequest(format!("the expiry must be 1 to {MAX_EXPIRY_DAYS} days, or empty for never"))),
        }
    }

    pub fn has(&self, scope: &Scope) -> bool {
        self.scopes.contains(scope)
    }
}

/// `POST /keys`: creates a key for the signed-in account and shows it, once.
pub async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response> {
    user.require(Role::Viewer)?;
    let form = KeyForm::parse(pairs, user.role)?;
    let result = async {
        let new = NewKey {
            owner_id: user.id,
            name: form.name.clone(),
            role: form.role,
            scopes: form.scopes.clone(),
            expires_at: form.expires_at()?,
        };
        let txn = state.home.begin().await?;
        let created = api_keys::create(&txn, user.role, new).await?;
        let k = &created.key;
        let detail = format!("role {}, scopes {}", k.role, k.scope_list());
        audit::record(&txn, user.audit("api_key.create").target(target(k)).detail(detail)).await?;
        txn.commit().await?;
        Ok(created)
    }
    .await;
    match result {
        Ok(created) => Ok(CreatedPage {
            layout: Layout::new(&user, &state, "keys").await?,
            key: KeyRow::new(created.key, &user),
            token: created.token,
        }
        .into_response()),
        Err(Error::BadRequest(message)) => {
            let page = new_page(&user, &state, form, Some(sentence(&message))).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `POST /keys/{id}/revoke`: the owner or an admin; the key stops working at once.
pub async fn revoke(user: CurrentUser, State(state): State<AppState>, Path(id): Path<i32>) -> Result<Redirect> {
    user.require(Role::Viewer)?;
    let txn = state.home.begin().await?;
    let key = api_keys::get(&txn, id).await?;
    if key.owner_id != user.id && !user.is_admin() {
        // Someone else's key does not exist as far as this account can tell.
        return Err(Error::NotFound(format!("API key #{id}")));
    }
    let (key, was_active) = api_keys::revoke(&txn, id).await?;
    if was_active {
        audit::record(&txn, user.audit("api_key.revoke").target(target(&key))).await?;
    }
    txn.commit().await?;
    let message = if was_active {
        format!("Revoked the API key {} ({}).", key.name, key.display_prefix())
    } else {
        format!("The API key {} was already revoked.", key.name)
    };
    user.flash(FlashKind::Success, message).await?;
    Ok(Redirect::to("/keys"))
}

fn target(k: &KeyInfo) -> String {
    format!("#{} {} ({})", k.id, k.name, k.owner)
}

async fn new_page(user: &CurrentUser, state: &AppState, form: KeyForm, error: Option<String>) -> Result<NewKeyPage> {
    Ok(NewKeyPage {
        layout: Layout::new(user, state, "keys").await?,
        csrf_token: user.csrf_token.clone(),
        roles: Role::ALL.into_iter().filter(|r| *r <= user.role).collect(),
        scopes: Scope::ALL.to_vec(),
        form,
        error,
        max_days: MAX_EXPIRY_DAYS,
    })
}

/// A key as the pages show it.
#[derive(Clone, Debug)]
pub struct KeyRow {
    pub id: i32,
    pub name: String,
    pub prefix: String,
    pub owner: String,
    pub role: Role,
    pub scopes: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: String,
    pub state: &'static str,
    /// Still active, and this account may revoke it.
    pub can_revoke: bool,
}

impl KeyRow {
    fn new(k: KeyInfo, user: &CurrentUser) -> KeyRow {
        let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "—".into())
        };
        KeyRow {
            state: k.state(),
            can_revoke: k.revoked_at.is_none() && (k.owner_id == user.id || user.is_admin()),
            prefix: k.display_prefix(),
            scopes: k.scope_list(),
            created_at: when(Some(k.created_at)),
            expires_at: k.expires_at.map(|t| when(Some(t))).unwrap_or_else(|| "never".into()),
            last_used_at: when(k.last_used_at),
            id: k.id,
            name: k.name,
            owner: k.owner,
            role: k.role,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "keys/index.html")]
pub struct KeysPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub keys: Vec<KeyRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "keys/new.html")]
pub struct NewKeyPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub form: KeyForm,
    pub roles: Vec<Role>,
    pub scopes: Vec<Scope>,
    pub error: Option<String>,
    pub max_days: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "keys/created.html")]
pub struct CreatedPage {
    pub layout: Layout,
    pub key: KeyRow,
    /// The whole key: on this page and nowhere else, ever.
    pub token: String,
}
