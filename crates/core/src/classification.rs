//! GB/T 39725-2020 classification: the six data categories, the five levels, and the identifier
//! role a field plays for de-identification (standards.md §1.3–1.6).

use crate::CoreError;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// One of the six data categories of GB/T 39725-2020 Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCategory {
    /// 个人属性数据: data that alone or combined identifies a natural person.
    PersonalAttribute,
    /// 健康状况数据: data reflecting a person's health.
    HealthStatus,
    /// 医疗应用数据: records of outpatient, inpatient and other care services.
    MedicalApplication,
    /// 医疗支付数据: cost data of care and insurance.
    MedicalPayment,
    /// 卫生资源数据: capability and characteristics of the health system.
    HealthResource,
    /// 公共卫生数据: population-level health data.
    PublicHealth,
}

impl DataCategory {
    /// All six categories in the order of the standard's table.
    pub const ALL: [DataCategory; 6] = [
        DataCategory::PersonalAttribute,
        DataCategory::HealthStatus,
        DataCategory::MedicalApplication,
        DataCategory::MedicalPayment,
        DataCategory::HealthResource,
        DataCategory::PublicHealth,
    ];

    /// Stable snake_case ASCII code, e.g. `personal_attribute` (the serde form).
    pub fn code(self) -> &'static str {
        match self {
            Self::PersonalAttribute => "personal_attribute",
            Self::HealthStatus => "health_status",
            Self::MedicalApplication => "medical_application",
            Self::MedicalPayment => "medical_payment",
            Self::HealthResource => "health_resource",
            Self::PublicHealth => "public_health",
        }
    }

    /// The category's name in the standard, e.g. `个人属性数据`.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::PersonalAttribute => "个人属性数据",
            Self::HealthStatus => "健康状况数据",
            Self::MedicalApplication => "医疗应用数据",
            Self::MedicalPayment => "医疗支付数据",
            Self::HealthResource => "卫生资源数据",
            Self::PublicHealth => "公共卫生数据",
        }
    }

    /// English name, e.g. `Personal attribute data`.
    pub fn name_en(self) -> &'static str {
        match self {
            Self::PersonalAttribute => "Personal attribute data",
            Self::HealthStatus => "Health status data",
            Self::MedicalApplication => "Medical application data",
            Self::MedicalPayment => "Medical payment data",
            Self::HealthResource => "Health resource data",
            Self::PublicHealth => "Public health data",
        }
    }
}

impl fmt::Display for DataCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for DataCategory {
    type Err = CoreError;

    /// Accepts the ASCII code (any case) or the Chinese name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s) || c.name_zh() == s)
            .ok_or_else(|| CoreError::InvalidValue {
                what: "data category",
                value: s.to_owned(),
                reason: format!(
                    "expected one of {}",
                    Self::ALL.map(DataCategory::code).join(", ")
                ),
            })
    }
}

/// A GB/T 39725 data level, 1 (public) to 5 (special diseases, strictest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct DataLevel(u8);

impl DataLevel {
    /// Level 1, the least sensitive.
    pub const MIN: DataLevel = DataLevel(1);
    /// Level 5, the most sensitive.
    pub const MAX: DataLevel = DataLevel(5);

    /// A level from its number; anything outside 1..=5 is rejected.
    pub fn new(level: u8) -> Result<Self, CoreError> {
        if (Self::MIN.0..=Self::MAX.0).contains(&level) {
            Ok(Self(level))
        } else {
            Err(CoreError::InvalidValue {
                what: "data level",
                value: level.to_string(),
                reason: "must be between 1 and 5".to_owned(),
            })
        }
    }

    /// The level's number, 1..=5.
    pub fn get(self) -> u8 {
        self.0
    }

    /// One level stricter, capped at 5 (the k-anonymity escalation of standards.md §1.6).
    pub fn raise_by_one(self) -> Self {
        Self(self.0.saturating_add(1).min(Self::MAX.0))
    }
}

impl TryFrom<u8> for DataLevel {
    type Error = CoreError;
    fn try_from(level: u8) -> Result<Self, Self::Error> {
        Self::new(level)
    }
}

impl From<DataLevel> for u8 {
    fn from(level: DataLevel) -> u8 {
        level.0
    }
}

impl fmt::Display for DataLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The role a field plays for re-identification (standards.md §1.3 implementation note).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierRole {
    /// Identifies a person on its own (name, ID number, phone).
    Direct,
    /// Identifies a person in combination (birth date, sex, district).
    Quasi,
    /// A sensitive attribute to protect (diagnosis, cost).
    Sensitive,
    /// Plays no identifying or sensitive role.
    #[default]
    None,
}

impl IdentifierRole {
    /// All four roles.
    pub const ALL: [IdentifierRole; 4] = [
        IdentifierRole::Direct,
        IdentifierRole::Quasi,
        IdentifierRole::Sensitive,
        IdentifierRole::None,
    ];

    /// Lowercase code as used in the standard file: `direct`, `quasi`, `sensitive`, `none`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Quasi => "quasi",
            Self::Sensitive => "sensitive",
            Self::None => "none",
        }
    }
}

impl fmt::Display for IdentifierRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for IdentifierRole {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|r| r.code().eq_ignore_ascii_case(s))
            .ok_or_else(|| CoreError::InvalidValue {
                what: "identifier role",
                value: s.to_owned(),
                reason: "expected direct, quasi, sensitive or none".to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn categories_round_trip_through_code_name_and_serde() {
        for c in DataCategory::ALL {
            assert_eq!(c.code().parse::<DataCategory>().unwrap(), c);
            assert_eq!(c.name_zh().parse::<DataCategory>().unwrap(), c);
            let v = toml::Value::String(c.code().to_owned());
            assert_eq!(v.try_into::<DataCategory>().unwrap(), c);
            assert!(!c.name_en().is_empty());
        }
        assert_eq!(
            "PUBLIC_HEALTH".parse::<DataCategory>().unwrap(),
            DataCategory::PublicHealth
        );
        assert_eq!(DataCategory::PersonalAttribute.name_zh(), "个人属性数据");
    }

    #[test]
    fn unknown_category_names_the_value() {
        let err = "genomic".parse::<DataCategory>().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("genomic") && msg.contains("personal_attribute"),
            "{msg}"
        );
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
    }

    #[test]
    fn levels_are_one_to_five() {
        assert!(DataLevel::new(0).is_err());
        assert!(DataLevel::new(6).is_err());
        assert_eq!(DataLevel::new(3).unwrap().get(), 3);
        assert_eq!(DataLevel::new(4).unwrap().raise_by_one().get(), 5);
        assert_eq!(DataLevel::MAX.raise_by_one(), DataLevel::MAX);
    }

    #[derive(Debug, Deserialize, Serialize)]
    struct Holder {
        level: DataLevel,
        role: IdentifierRole,
    }

    #[test]
    fn level_and_role_serde_forms() {
        let h: Holder = toml::from_str("level = 3\nrole = \"quasi\"").unwrap();
        assert_eq!(h.level.get(), 3);
        assert_eq!(h.role, IdentifierRole::Quasi);
        assert_eq!(
            toml::to_string(&h).unwrap(),
            "level = 3\nrole = \"quasi\"\n"
        );
        let err = toml::from_str::<Holder>("level = 7\nrole = \"none\"").unwrap_err();
        assert!(err.to_string().contains("between 1 and 5"), "{err}");
        assert!(toml::from_str::<Holder>("level = 2\nrole = \"public\"").is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in IdentifierRole::ALL {
            assert_eq!(r.code().parse::<IdentifierRole>().unwrap(), r);
        }
        assert!("d".parse::<IdentifierRole>().is_err());
    }

    proptest! {
        #[test]
        fn level_new_accepts_exactly_one_to_five(n: u8) {
            prop_assert_eq!(DataLevel::new(n).is_ok(), (1..=5).contains(&n));
        }

        #[test]
        fn raise_by_one_is_monotone_and_capped(n in 1u8..=5) {
            let level = DataLevel::new(n).unwrap();
            let raised = level.raise_by_one();
            prop_assert!(raised >= level);
            prop_assert!(raised.get() <= 5);
            prop_assert_eq!(raised.get(), (n + 1).min(5));
        }
    }
}
