//! Role definitions from TOML or YAML.
//!
//! ```toml
//! [roles.customer]
//! description = "Shoppers"
//! permissions = ["read:Catalog", "write:Catalog.Review"]
//! actions = ["reports:export"]
//! ```
//!
//! Unknown keys are refused (a misspelt `permision` must not silently grant nothing), and the text
//! is size-checked before it is parsed.

// Without a format to read, the file's shape is only ever refused.
#![cfg_attr(not(any(feature = "toml", feature = "yaml")), allow(dead_code))]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::permission::{ActionGrant, Permission};
use super::role::{Role, RoleError};

/// Largest role file accepted, in bytes.
pub const MAX_ROLE_FILE_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    #[serde(default)]
    roles: BTreeMap<String, RoleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleEntry {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    permissions: Vec<Permission>,
    #[serde(default)]
    actions: Vec<ActionGrant>,
}

impl RoleFile {
    fn into_roles(self) -> Vec<Role> {
        self.roles
            .into_iter()
            .map(|(name, entry)| {
                let role = Role::new(name).with_grants(entry.permissions, entry.actions);
                match entry.description {
                    Some(d) => role.describe(d),
                    None => role,
                }
            })
            .collect()
    }
}

fn check_size(text: &str) -> Result<(), RoleError> {
    if text.len() > MAX_ROLE_FILE_BYTES {
        return Err(RoleError::File(format!(
            "{} bytes is over the {MAX_ROLE_FILE_BYTES}-byte limit",
            text.len()
        )));
    }
    Ok(())
}

/// Parses role definitions from TOML text.
///
/// ```
/// let roles = portcullis::rbac::roles_from_toml(r#"
///     [roles.customer]
///     permissions = ["read:Catalog", "write:Catalog.Review"]
/// "#)?;
/// assert_eq!(roles[0].name(), "customer");
/// # Ok::<(), portcullis::rbac::RoleError>(())
/// ```
#[cfg(feature = "toml")]
pub fn roles_from_toml(text: &str) -> Result<Vec<Role>, RoleError> {
    check_size(text)?;
    let file: RoleFile =
        toml::from_str(text).map_err(|e| RoleError::File(e.message().to_owned()))?;
    Ok(file.into_roles())
}

/// Parses role definitions from YAML text.
///
/// ```
/// let roles = portcullis::rbac::roles_from_yaml("
/// roles:
///   customer:
///     permissions: [\"read:Catalog\"]
///     actions: [\"reports:*\"]
/// ")?;
/// assert_eq!(roles[0].actions()[0].as_str(), "reports:*");
/// # Ok::<(), portcullis::rbac::RoleError>(())
/// ```
#[cfg(feature = "yaml")]
pub fn roles_from_yaml(text: &str) -> Result<Vec<Role>, RoleError> {
    check_size(text)?;
    let file: RoleFile =
        serde_norway::from_str(text).map_err(|e| RoleError::File(e.to_string()))?;
    Ok(file.into_roles())
}

/// Reads role definitions from a `.toml`, `.yaml` or `.yml` file (chosen by extension).
pub fn roles_from_file(path: impl AsRef<Path>) -> Result<Vec<Role>, RoleError> {
    read_role_file(path.as_ref()).map(|(roles, _)| roles)
}

/// The roles of the file at `path` and the text they were read from. At most
/// [`MAX_ROLE_FILE_BYTES`] are read, whatever the file's size says (it may grow while it is
/// read).
pub(crate) fn read_role_file(path: &Path) -> Result<(Vec<Role>, String), RoleError> {
    use std::io::Read as _;

    let failed = |e: std::io::Error| RoleError::File(format!("{}: {e}", path.display()));
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(failed)?
        .take(MAX_ROLE_FILE_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(failed)?;
    if text.len() > MAX_ROLE_FILE_BYTES {
        return Err(RoleError::File(format!(
            "{}: over the {MAX_ROLE_FILE_BYTES}-byte limit",
            path.display()
        )));
    }
    let roles = match path.extension().and_then(|e| e.to_str()) {
        #[cfg(feature = "toml")]
        Some("toml") => roles_from_toml(&text),
        #[cfg(feature = "yaml")]
        Some("yaml" | "yml") => roles_from_yaml(&text),
        _ => Err(RoleError::File(format!(
            "{}: unsupported extension (enabled formats: {})",
            path.display(),
            enabled_formats()
        ))),
    }?;
    Ok((roles, text))
}

fn enabled_formats() -> &'static str {
    match (cfg!(feature = "toml"), cfg!(feature = "yaml")) {
        (true, true) => "toml, yaml",
        (true, false) => "toml",
        (false, true) => "yaml",
        (false, false) => "none; enable the `toml` or `yaml` feature",
    }
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)]
    use super::*;

    #[cfg(feature = "toml")]
    #[test]
    fn toml_roles_and_refusals() {
        let roles = roles_from_toml(
            r#"
            [roles.customer]
            description = "Shoppers"
            permissions = ["read:Catalog", "write:Catalog.Review"]
            actions = ["reports:export"]
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].permissions().len(), 2);
        assert_eq!(roles[0].description(), Some("Shoppers"));

        let typo = roles_from_toml("[roles.x]\npermision = [\"read:A\"]\n");
        assert!(
            matches!(typo, Err(RoleError::File(_))),
            "unknown keys must be refused"
        );
        let bad = roles_from_toml("[roles.x]\npermissions = [\"read:A.*\"]\n");
        assert!(bad.is_err(), "malformed grants must be refused");
        let huge = format!("# {}\n", "x".repeat(MAX_ROLE_FILE_BYTES));
        assert!(matches!(roles_from_toml(&huge), Err(RoleError::File(m)) if m.contains("limit")));
    }

    #[cfg(feature = "yaml")]
    #[test]
    fn yaml_roles_and_refusals() {
        let roles = roles_from_yaml("roles:\n  ops:\n    actions: [\"deploy:*\"]\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(roles[0].name(), "ops");
        assert!(roles_from_yaml("roles:\n  ops:\n    grants: []\n").is_err());
        assert!(roles_from_yaml("roles:\n  ops:\n    actions: [\"Deploy\"]\n").is_err());
    }

    #[cfg(feature = "toml")]
    #[test]
    fn file_by_extension() {
        let dir = std::env::temp_dir().join(format!("portcullis-roles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("roles.toml");
        std::fs::write(&path, "[roles.a]\npermissions = [\"read:A\"]\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(roles_from_file(&path).map(|r| r.len()), Ok(1));
        let other = dir.join("roles.ini");
        std::fs::write(&other, "").unwrap_or_else(|e| panic!("{e}"));
        assert!(roles_from_file(&other).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
