//! The five roles of the platform (DESIGN.md §1).

use crate::CoreError;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// 管理员: users, roles, institutions, system settings.
    Admin,
    /// 数据管理方: the regional health information centre.
    Manager,
    /// 数据提供方: a hospital's data staff, scoped to one institution.
    Provider,
    /// 数据使用方: researchers, AI teams, analysts.
    User,
    /// 审计员: reads the audit trail, changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Manager,
        Role::Provider,
        Role::User,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Provider => "provider",
            Role::User => "user",
            Role::Auditor => "auditor",
        }
    }

    /// Whether accounts with this role act for one institution only.
    pub fn is_institution_scoped(self) -> bool {
        matches!(self, Role::Provider)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| CoreError::UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
