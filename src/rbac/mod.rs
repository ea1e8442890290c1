//! Role-based access control: the permission grammar, compiled permission sets, roles and the
//! action registry.
//!
//! Two kinds of grant live side by side, as in the seeds:
//! - **permissions** `action:scope` (NinjaStack): `read:Catalog`, `write:Catalog.Review`, `*:*`;
//!   a grant on a domain covers everything below it;
//! - **actions** (Sentinel): names a service declares, like `reports:export`; roles grant them
//!   exactly, by a trailing wildcard (`reports:*`) or all at once (`*`).
//!
//! A policy's roles compile once into one index of grant texts; a subject's role list resolves
//! to a [`PermissionSet`] over it, and checks are hash look-ups along the required scope, never a
//! loop over grant strings.
//!
//! A leaf: nothing here knows a request, a context or an error response. Turning a context's
//! roles into its permissions (the [`Enricher`](crate::Enricher) seam) is the model layer's job,
//! in `enrich`.

mod file;
// The const checkers in `grammar` are how the grammar is written, not how it is used: users parse
// with `Permission::parse` and friends. The macros (and the fuzz and property oracles) reach them
// through the hidden `portcullis::__private`.
pub(crate) mod grammar;
pub(crate) mod index;
mod live;
mod permission;
mod registry;
mod role;
mod role_ids;
mod set;
mod text_map;

#[cfg(feature = "toml")]
pub use file::roles_from_toml;
#[cfg(feature = "yaml")]
pub use file::roles_from_yaml;
pub use file::{MAX_ROLE_FILE_BYTES, roles_from_file};
pub use grammar::{
    GrammarError, MAX_ACTION_LEN, MAX_ACTION_NAME_LEN, MAX_SCOPE_DEPTH, MAX_SCOPE_LEN,
};
pub use live::LiveRoles;
pub use permission::{Action, ActionGrant, Permission};
pub use registry::{ActionRegistry, RegisteredAction};
pub(crate) use role::check_role_name;
pub use role::{MAX_ROLE_NAME_LEN, Role, RoleError, RolePolicy, RolePolicyBuilder};
pub use set::{Matched, PermissionSet};
