//! A small web app with browser sign-in: a password form and "Sign in with <provider>" (any
//! OpenID provider with discovery: Google, Keycloak, Auth0, …), a protected page showing the user,
//! roles and permissions, and sign-out.
//!
//! ```text
//! OIDC_ISSUER=https://accounts.google.com OIDC_CLIENT_ID=… OIDC_CLIENT_SECRET=… \
//!   cargo run --example web_login --features oauth2
//! ```
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `PORT` | port on 127.0.0.1 | 3001 |
//! | `PUBLIC_URL` | the app's URL as the browser sees it (origin check, redirect URI) | `http://127.0.0.1:$PORT` |
//! | `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET` | the OpenID provider (optional) | none |
//! | `OIDC_NAME` | the provider's name in routes and the button | `oidc` |
//! | `PORTCULLIS_DB` | the SQLite file | `portcullis-web-login.db` |
//!
//! The provider must accept `$PUBLIC_URL/auth/oauth/$OIDC_NAME/callback` as a redirect URI. On a
//! plain-HTTP `PUBLIC_URL` cookies go without `Secure` (local development only).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use portcullis::AuthGateway;
use portcullis::UserContext;
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, Identity, IdentityConfig, IdentityError};
use portcullis::oauth::{OAUTH_PUBLIC_PREFIX, OAuthLogin, OidcProvider};
use portcullis::session::{SessionConfig, Sessions};
use portcullis::store::sqlite::SqliteStore;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn sign_in_page(provider: Option<&str>) -> Html<String> {
    let button = provider
        .map(|name| {
            format!(r#"<p><a id="oidc" href="/auth/oauth/{0}/authorize?return_to=/account">Sign in with {0}</a></p>"#, escape(name))
        })
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in</h1>
<form id="password">
  <label>E-mail <input name="email" type="email" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>
<p id="error"></p>
{button}
<script>
document.getElementById('password').addEventListener('submit', async (event) => {{
  event.preventDefault();
  const form = new FormData(event.target);
  const answer = await fetch('/auth/session', {{
    method: 'POST', headers: {{'content-type': 'application/json'}},
    body: JSON.stringify({{email: form.get('email'), password: form.get('password')}}),
  }});
  if (answer.ok) location.href = '/account';
  else document.getElementById('error').textContent = 'Sign-in failed.';
}});
</script></body></html>"#
    ))
}

async fn account(user: Option<UserContext>) -> Response {
    let Some(user) = user else {
        return Redirect::to("/").into_response();
    };
    let permissions: Vec<String> = user
        .permissions()
        .permissions()
        .iter()
        .map(ToString::to_string)
        .collect();
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Account</title></head><body>
<h1>Signed in</h1>
<dl>
  <dt>User</dt><dd id="subject">{}</dd>
  <dt>E-mail</dt><dd id="email">{}</dd>
  <dt>Roles</dt><dd id="roles">{}</dd>
  <dt>Permissions</dt><dd id="permissions">{}</dd>
</dl>
<button id="logout">Sign out</button>
<script>
document.getElementById('logout').addEventListener('click', async () => {{
  await fetch('/auth/session/logout', {{method: 'POST'}});
  location.href = '/';
}});
</script></body></html>"#,
        escape(user.subject()),
        escape(user.email().unwrap_or("")),
        escape(&user.roles().join(", ")),
        escape(&permissions.join(", ")),
    ))
    .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3001);
    let public_url =
        std::env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
    let db = std::env::var("PORTCULLIS_DB").unwrap_or_else(|_| "portcullis-web-login.db".into());

    let store = SqliteStore::open(&db).await?;
    let identity = Arc::new(Identity::open(store, IdentityConfig::default()).await?);
    match identity
        .register("demo@example.com", "demo-account-password")
        .await
    {
        Ok(_) | Err(IdentityError::EmailTaken) => {}
        Err(error) => return Err(error.into()),
    }
    let sessions = Sessions::new(
        identity.clone(),
        SessionConfig {
            secure: public_url.starts_with("https://"),
            allowed_origins: vec![public_url.clone()],
            ..SessionConfig::default()
        },
    );

    let provider = match (
        std::env::var("OIDC_ISSUER"),
        std::env::var("OIDC_CLIENT_ID"),
    ) {
        (Ok(issuer), Ok(client_id)) => {
            let name = std::env::var("OIDC_NAME").unwrap_or_else(|_| "oidc".into());
            let redirect = format!("{public_url}/auth/oauth/{name}/callback");
            Some(OidcProvider::new(
                name,
                issuer,
                client_id,
                std::env::var("OIDC_CLIENT_SECRET").ok(),
                redirect,
            ))
        }
        _ => None,
    };
    let provider_name = provider.as_ref().map(|p| p.name.clone());
    let login = OAuthLogin::new(
        identity.clone(),
        sessions.clone(),
        provider.into_iter().map(Into::into).collect(),
    )?;

    let gateway = AuthGateway::new()
        .strategy(sessions.strategy())
        .optional()
        .public_paths(IDENTITY_PUBLIC_PATHS)
        .public_path("/auth/session")
        .public_prefix(OAUTH_PUBLIC_PREFIX)
        .build()?;
    let app = Router::new()
        .route(
            "/",
            get(move || async move { sign_in_page(provider_name.as_deref()) }),
        )
        .route("/account", get(account))
        .merge(sessions.router())
        // A failed OpenID sign-in shows the browser a small page linking back to `/`, this
        // sign-in page; `login.router_with(BrowserErrors::Redirect("/".into()))` would send it
        // here with `?error=<code>` instead.
        .merge(login.router())
        .layer(gateway);

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!(
        "web_login listens on {public_url} (demo account: demo@example.com / demo-account-password)"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
