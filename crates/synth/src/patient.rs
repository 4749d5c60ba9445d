//! People of the region: the residents whom hospitals register as patients.

use crate::{names, region::District, weighted::pick};
use chrono::{Datelike, Duration, NaiveDate};
use hdos_core::validate::{Sex, check_digit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// One person as the civil registry knows them; each hospital gives them its own patient id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Position in the region's population, from 0; the seed of everything about the person.
    pub index: u64,
    /// GB 11643 resident ID number (18 characters, valid check digit).
    pub id_no: String,
    pub name: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    /// GB/T 2260 code of the district of residence (also the ID's area code).
    pub region_code: String,
    /// Address composed from the district.
    pub address: String,
    pub phone: String,
    /// GB/T 3304 code.
    pub ethnicity_code: String,
    /// GB/T 2261.2 code.
    pub marital_code: String,
    pub occupation: Option<&'static str>,
    /// Medical insurance scheme, from the standard's `settlement.insurance_type` domain.
    pub insurance: &'static str,
}

/// Draws people deterministically from a seed.
#[derive(Debug)]
pub struct PersonGenerator {
    rng: ChaCha20Rng,
    /// The region's districts.
    districts: &'static [District],
    /// Each district's index with its population weight, for drawing a residence.
    district_weights: Vec<(usize, u32)>,
    /// Ages are computed at this date, so output does not depend on when it runs.
    reference: NaiveDate,
    /// Numbers issued so far per (district, birth date, sex): the registry never issues one
    /// twice, and this table's size depends on the districts and the age span only, not on
    /// how many people are drawn.
    issued: Vec<u16>,
    next_index: u64,
}

/// Ages are drawn below this many days.
const MAX_DAYS_OLD: usize = 95 * 366;
/// Sequence numbers per sex for one area and birth date (`000`–`999`, parity is the sex).
const SEQUENCES_PER_SEX: u16 = 500;

/// Share of males per thousand births (sex ratio about 105 : 100).
const MALE_PER_THOUSAND: u32 = 512;

impl PersonGenerator {
    pub fn new(seed: u64, districts: &'static [District], reference: NaiveDate) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed),
            districts,
            district_weights: districts.iter().map(|d| d.weight).enumerate().collect(),
            reference,
            issued: vec![0; districts.len() * (MAX_DAYS_OLD + 1) * 2],
            next_index: 0,
        }
    }

    pub fn next_person(&mut self) -> Person {
        let sex = if self.rng.gen_range(0..1000) < MALE_PER_THOUSAND {
            Sex::Male
        } else {
            Sex::Female
        };
        let mut birth_date = self.birth_date();
        let district_index = *pick(&mut self.rng, &self.district_weights);
        let district = self.districts[district_index];
        let id_no = loop {
            match self.unique_id(district_index, birth_date, sex) {
                Some(id) => break id,
                // All 500 numbers of that day are taken: a neighbour's birthday is as likely.
                None => birth_date -= Duration::days(1),
            }
        };
        let age = self.age(birth_date);
        let index = self.next_index;
        self.next_index += 1;
        Person {
            index,
            occupation: self.occupation(age),
            insurance: self.insurance(age),
            name: self.name(sex),
            address: self.address(&district),
            phone: self.phone(),
            ethnicity_code: (*pick(&mut self.rng, names::ETHNICITIES)).to_owned(),
            marital_code: self.marital(age).to_owned(),
            id_no,
            sex,
            birth_date,
            region_code: district.code.to_owned(),
        }
    }

    fn age(&self, birth: NaiveDate) -> u32 {
        let mut age = self.reference.year() - birth.year();
        if (self.reference.month(), self.reference.day()) < (birth.month(), birth.day()) {
            age -= 1;
        }
        age.max(0) as u32
    }

    fn birth_date(&mut self) -> NaiveDate {
        let band = *pick(&mut self.rng, names::AGE_BANDS);
        let days_old = i64::from(band * 365) + self.rng.gen_range(0..5 * 365);
        // The newest band starts at birth: nobody is born after the reference date.
        self.reference - Duration::days(days_old.max(1))
    }

    /// Area code, birth date, a sequence whose last digit's parity is the sex, check digit.
    /// The n-th number issued for a day is a fixed permutation of n, so numbers look random
    /// but never repeat; `None` when the day's numbers are used up.
    fn unique_id(&mut self, district: usize, birth: NaiveDate, sex: Sex) -> Option<String> {
        let days_old = usize::try_from((self.reference - birth).num_days()).ok()?;
        let slot = (district * (MAX_DAYS_OLD + 1) + days_old.min(MAX_DAYS_OLD)) * 2
            + usize::from(sex == Sex::Male);
        let n = self.issued[slot];
        if n >= SEQUENCES_PER_SEX {
            return None;
        }
        self.issued[slot] = n + 1;
        // 211 is coprime to 500, so n ↦ (211 n + offset) mod 500 is a permutation.
        let offset = (slot % 500) as u32;
        let seq = ((u32::from(n) * 211 + offset) % 500) * 2 + u32::from(sex == Sex::Male);
        let area = self.districts[district].code;
        let first17 = format!("{area}{}{seq:03}", crate::timefmt::compact_date(birth));
        // The first 17 characters are digits by construction, so a check digit exists.
        let check = check_digit(&first17).ok()?;
        Some(format!("{first17}{check}"))
    }

    fn occupation(&mut self, age: u32) -> Option<&'static str> {
        const WORKING: &[(&str, u32)] = &[
            ("企业职员", 30),
            ("工人", 20),
            ("农民", 14),
            ("个体经营者", 10),
            ("专业技术人员", 12),
            ("自由职业者", 6),
            ("无业人员", 8),
        ];
        // A fifth of registrations leave the optional field empty.
        if self.rng.gen_range(0..5) == 0 {
            return None;
        }
        Some(match age {
            0..=5 => "散居儿童",
            6..=21 => "学生",
            22..=59 => *pick(&mut self.rng, WORKING),
            _ => "离退休人员",
        })
    }

    fn insurance(&mut self, age: u32) -> &'static str {
        let table: &[(&str, u32)] = match age {
            0..=17 => &[("居民医保", 92), ("商业保险", 3), ("自费", 5)],
            18..=59 => &[
                ("职工医保", 58),
                ("居民医保", 30),
                ("新农合", 2),
                ("商业保险", 3),
                ("自费", 6),
                ("其他", 1),
            ],
            _ => &[
                ("职工医保", 45),
                ("居民医保", 50),
                ("新农合", 2),
                ("自费", 3),
            ],
        };
        pick::<&str, _>(&mut self.rng, table)
    }

    fn name(&mut self, sex: Sex) -> String {
        let surname = *pick(&mut self.rng, names::SURNAMES);
        let pool = if sex == Sex::Male {
            names::GIVEN_MALE
        } else {
            names::GIVEN_FEMALE
        };
        let chars = if self.rng.gen_range(0..10) < 8 { 2 } else { 1 };
        let given: String = (0..chars)
            .map(|_| pool[self.rng.gen_range(0..pool.len())])
            .collect();
        format!("{surname}{given}")
    }

    fn address(&mut self, d: &District) -> String {
        const ROADS: &[&str] = &[
            "文一路",
            "解放路",
            "中山路",
            "人民路",
            "建设路",
            "和平路",
            "学院路",
            "环城北路",
        ];
        let road = ROADS[self.rng.gen_range(0..ROADS.len())];
        format!(
            "浙江省{}{}{}{}号",
            d.city,
            d.name,
            road,
            self.rng.gen_range(1..400)
        )
    }

    fn phone(&mut self) -> String {
        let prefix = *pick(&mut self.rng, names::MOBILE_PREFIXES);
        format!("{prefix}{:08}", self.rng.gen_range(0..100_000_000u32))
    }

    fn marital(&mut self, age: u32) -> &'static str {
        let table: &[(&str, u32)] = match age {
            0..=21 => &[("10", 1)],
            22..=29 => &[("10", 45), ("20", 53), ("40", 2)],
            30..=64 => &[("10", 6), ("20", 86), ("40", 6), ("30", 2)],
            _ => &[("20", 72), ("30", 24), ("40", 3), ("10", 1)],
        };
        pick::<&str, _>(&mut self.rng, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::ZHEJIANG;
    use hdos_core::validate::{normalize_mobile, parse_resident_id, validate_region_code};
    use std::collections::HashSet;

    fn reference() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    }

    fn people(seed: u64, n: usize) -> Vec<Person> {
        let mut g = PersonGenerator::new(seed, ZHEJIANG, reference());
        (0..n).map(|_| g.next_person()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_people() {
        assert_eq!(people(7, 200), people(7, 200));
        assert_ne!(people(7, 50), people(8, 50));
    }

    #[test]
    fn every_id_is_valid_unique_and_agrees_with_sex_birth_date_and_region() {
        let all = people(1, 20_000);
        let mut seen = HashSet::new();
        for p in &all {
            let id = parse_resident_id(&p.id_no).unwrap();
            assert_eq!(id.sex, p.sex, "{}", p.id_no);
            assert_eq!(id.birth_date, p.birth_date);
            assert_eq!(id.region_code, p.region_code);
            assert!(validate_region_code(&p.region_code).is_ok());
            assert!(normalize_mobile(&p.phone).is_ok(), "{}", p.phone);
            assert!(p.birth_date <= reference());
            assert!(seen.insert(p.id_no.clone()), "duplicate {}", p.id_no);
        }
    }

    #[test]
    fn sex_ratio_and_age_pyramid_match_the_tables() {
        let all = people(3, 50_000);
        let males = all.iter().filter(|p| p.sex == Sex::Male).count() as f64 / all.len() as f64;
        assert!((males - 0.512).abs() < 0.01, "male share {males}");
        let g = PersonGenerator::new(0, ZHEJIANG, reference());
        let total: u32 = names::AGE_BANDS.iter().map(|(_, w)| w).sum();
        for (lower, weight) in names::AGE_BANDS {
            let expected = f64::from(*weight) / f64::from(total);
            let share = all
                .iter()
                .filter(|p| (lower..&(lower + 5)).contains(&&g.age(p.birth_date)))
                .count() as f64
                / all.len() as f64;
            assert!(
                (share - expected).abs() < 0.012,
                "band {lower}: {share} vs {expected}"
            );
        }
        let children = all.iter().filter(|p| g.age(p.birth_date) < 18);
        assert!(children.clone().all(|p| p.marital_code == "10"));
        let han = all.iter().filter(|p| p.ethnicity_code == "01").count() as f64 / all.len() as f64;
        assert!(han > 0.98, "han share {han}");
    }
}
