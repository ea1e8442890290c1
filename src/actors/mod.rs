//! spanforge's RBAC for actors: the [`STANDARD_ROLE_MATRIX`] of ten canonical actors, and the
//! same actors as a role hierarchy ([`standard_roles`]) and a flattened
//! [`RolePolicy`](crate::rbac::RolePolicy) ([`standard_role_policy`]).
//!
//! # Names and slugs
//!
//! The matrix keeps spanforge's names, `service_account` included, and so does
//! [`standard_role_policy`] (role names may hold `_`). A tenant's role set names roles by
//! slugs `^[a-z][a-z0-9-]{0,62}$`, which may not: there the standard role is
//! `service-account` ([`StandardRole::slug`]; [`StandardRole::role`] is its matrix name). The
//! nine other roles have the same name and slug.
//!
//! # Layer
//!
//! Model layer: imports the `rbac` leaf, nothing from the request path or the services.

mod matrix;

pub use matrix::{
    STANDARD_ROLE_MATRIX, StandardRole, matrix_roles, standard_role_policy, standard_roles,
};
