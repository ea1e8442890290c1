//! `portcullis serve`: the service's routes on one listener until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use portcullis::audit::AuditTrail;
use portcullis::service::authzen::Metadata;
use portcullis::service::pdp::ModelPdp;
use portcullis::service::sentinel::SentinelApi;

use crate::commands::{Backend, Failure};
use crate::config::Config;

/// How long the trail may take to write what it holds once the service stops.
const FLUSH_BOUND: Duration = Duration::from_secs(30);

pub async fn serve<S: Backend>(
    api: SentinelApi<S>,
    config: Config,
    trail: Option<AuditTrail>,
) -> Result<ExitCode, Failure> {
    let mut app = api.router();
    if let Some(authzen) = &config.authzen {
        let mut pdp = ModelPdp::new(api.clone(), &authzen.workspace);
        if let Some(issuer) = &authzen.subjects_from {
            pdp = pdp.subjects_from(issuer);
        }
        if let Some(service) = &authzen.entities_of {
            pdp = pdp.entities_of(service);
        }
        app = app.merge(pdp.keyed_router(Metadata::new(&config.issuer)?));
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    eprintln!(
        "portcullis: serving on http://{} (issuer {}, audit chain {})",
        listener.local_addr()?,
        config.issuer,
        if trail.is_some() {
            config.instance.as_str()
        } else {
            "off"
        },
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .await?;
    if let Some(trail) = trail
        && tokio::time::timeout(FLUSH_BOUND, trail.flush())
            .await
            .is_err()
    {
        eprintln!("portcullis: the audit trail did not flush within 30 s");
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM.
async fn stopped() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
