//! Who calls the API: [`Caller`], the API key from `Authorization: Bearer`, verified on every request.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::api_keys::{self, Scope, Verified};
use crate::home::audit;
use crate::home::history;
use crate::state::AppState;
use crate::web::extract::ClientAddr;

/// A request with a valid key: 401 without one, or with a wrong, expired or revoked one.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: Verified,
    client_addr: String,
}

impl Caller {
    /// 403 `missing_scope` unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.has(scope) { Ok(()) } else { Err(Error::MissingScope(scope.as_str().to_string())) }
    }

    /// 403 unless the key's role (never above its owner's) is `role` or higher.
    pub fn require_role(&self, role: Role) -> Result<()> {
        if self.key.role >= role { Ok(()) } else { Err(Error::Forbidden) }
    }

    pub fn is_admin(&self) -> bool {
        self.key.role >= Role::Admin
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.key.scopes.contains(&scope)
    }

    /// Who runs SQL through this key, as the query history names it: `alice (key strata_3f9a..)`.
    pub fn history_user(&self) -> String {
        history::key_user(&self.key.owner, &self.key.prefix)
    }

    /// A query-history run by the key's owner through this key, from its client.
    pub fn history_run(&self, query: impl Into<String>, status: history::RunStatus) -> history::NewRun {
        history::NewRun::new(self.history_user(), query, status).client(self.client_addr.clone())
    }

    /// An audit entry with the key's owner as the actor; the detail says which key acted.
    pub fn audit(&self, action: impl Into<String>, detail: impl std::fmt::Display) -> audit::Entry {
        audit::Entry::new(action)
            .actor(self.key.owner_id, self.key.owner.clone())
            .client(self.client_addr.clone())
            .detail(format!("{detail} (API key #{} {})", self.key.key_id, self.key.key_name))
    }
}

impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Err(Error::Unauthorized(
                "this endpoint needs an API key: send `Authorization: Bearer strata_...`".into(),
            ));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| Error::Unauthorized("use the Bearer scheme: `Authorization: Bearer strata_...`".into()))?;
        let key = api_keys::verify(&state.home, token).await?.map_err(|r| Error::Unauthorized(r.message().into()))?;
        state.key_usage.note(key.key_id);
        Ok(Caller { key, client_addr: ClientAddr::of(parts).0 })
    }
}
