//! Service mode: portcullis as a central authorization service that other services, in any
//! language, ask over HTTP (issue #19, under way).
//!
//! - [`authzen`]: the [OpenID AuthZEN Authorization API 1.0](authzen) over any policy decision
//!   point ([`authzen::Pdp`]);
//! - [`sentinel`]: Sentinel's wire API, so its Python SDK (`sentinel-auth-sdk`) works against
//!   portcullis unchanged, over the crate's own model (workspaces as tenants, entity
//!   permissions, service keys, RS256 user tokens).
//!
//! - [`pdp`]: an AuthZEN PDP answered by that same model, with owner-conditional grants.
//!
//! Still to come on this seam: the `portcullis` binary, the AuthZEN search APIs and remote
//! clients.

pub mod authzen;
mod body;
pub mod pdp;
pub mod sentinel;
