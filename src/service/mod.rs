//! Service mode: portcullis as a central authorization service that other services, in any
//! language, ask over HTTP (issue #19, under way).
//!
//! Here so far: the wire of the [OpenID AuthZEN Authorization API 1.0](authzen) over any
//! policy decision point ([`authzen::Pdp`]). Still to come on this seam: a PDP answering from
//! the crate's own model (tenant roles, entity permissions, owner-conditional grants),
//! Sentinel's wire API for its Python SDK, the `portcullis` binary and remote clients.

pub mod authzen;
