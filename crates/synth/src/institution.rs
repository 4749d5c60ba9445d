//! The region's institutions: tertiary and secondary hospitals and primary-care centres, each
//! with a valid unified social credit code (GB 32100) under its district's GB/T 2260 code.

use crate::{region::District, weighted::pick};
use hdos_core::validate::{credit_code_check_char, organisation_code_check_char};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institution {
    /// Unified social credit code; public institutions (事业单位) start with `12`.
    pub code: String,
    pub name: String,
    /// 三级 / 二级 / 一级
    pub grade: &'static str,
    /// A kind from the regional standard's `institution.kind` domain.
    pub kind: &'static str,
    pub region_code: String,
    pub beds: u32,
}

/// How many institutions of each grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstitutionCounts {
    pub tertiary: usize,
    pub secondary: usize,
    pub primary: usize,
}

impl Default for InstitutionCounts {
    fn default() -> Self {
        Self {
            tertiary: 3,
            secondary: 8,
            primary: 20,
        }
    }
}

const TERTIARY_KINDS: &[(&str, u32)] = &[("综合医院", 7), ("中医医院", 2), ("专科医院", 1)];
const SECONDARY_KINDS: &[(&str, u32)] = &[
    ("综合医院", 5),
    ("中医医院", 2),
    ("妇幼保健院", 2),
    ("专科医院", 1),
];
const PRIMARY_KINDS: &[(&str, u32)] = &[("社区卫生服务中心", 11), ("乡镇卫生院", 9)];

/// Generates the institutions of `districts` from a seed.
pub fn institutions(
    seed: u64,
    districts: &[District],
    counts: InstitutionCounts,
) -> Vec<Institution> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x696e_7374); // "inst": apart from people
    let weighted: Vec<(District, u32)> = districts.iter().map(|d| (*d, d.weight)).collect();
    let mut names = HashSet::new();
    let mut out = Vec::new();
    let plan = [
        ("三级", TERTIARY_KINDS, counts.tertiary, 800..2500),
        ("二级", SECONDARY_KINDS, counts.secondary, 200..800),
        ("一级", PRIMARY_KINDS, counts.primary, 0..60),
    ];
    for (grade, kinds, count, beds) in plan {
        for _ in 0..count {
            let d = *pick(&mut rng, &weighted);
            let kind = *pick(&mut rng, kinds);
            let name = unique_name(&mut rng, &mut names, &d, grade, kind);
            out.push(Institution {
                code: credit_code(&mut rng, d.code),
                name,
                grade,
                kind,
                region_code: d.code.to_owned(),
                beds: rng.gen_range(beds.clone()),
            });
        }
    }
    out
}

fn unique_name(
    rng: &mut ChaCha20Rng,
    taken: &mut HashSet<String>,
    d: &District,
    grade: &str,
    kind: &str,
) -> String {
    const STREETS: &[&str] = &[
        "东新", "北山", "湖滨", "南星", "长庆", "城东", "西溪", "新塘", "白杨", "古荡",
    ];
    for n in 1.. {
        let name = match (grade, kind) {
            ("三级", "综合医院") => format!("{}第{}人民医院", d.city, n),
            ("三级", "中医医院") => format!(
                "{}中医院",
                if n == 1 {
                    d.city.to_owned()
                } else {
                    format!("{}第{n}", d.city)
                }
            ),
            ("三级", _) => format!("{}第{}专科医院", d.city, n),
            (_, "综合医院") => format!("{}人民医院{}", d.name, campus(n)),
            (_, "中医医院") => format!("{}中医院{}", d.name, campus(n)),
            (_, "妇幼保健院") => format!("{}妇幼保健院{}", d.name, campus(n)),
            (_, "专科医院") => format!("{}康复医院{}", d.name, campus(n)),
            (_, "乡镇卫生院") => format!(
                "{}{}镇卫生院",
                d.name,
                STREETS[rng.gen_range(0..STREETS.len())]
            ),
            _ => format!(
                "{}{}街道社区卫生服务中心",
                d.name,
                STREETS[rng.gen_range(0..STREETS.len())]
            ),
        };
        if taken.insert(name.clone()) {
            return name;
        }
    }
    unreachable!("the name loop only ends by returning")
}

/// The suffix of a hospital's n-th campus: none for the first.
fn campus(n: usize) -> String {
    if n == 1 {
        String::new()
    } else {
        format!("{n}院区")
    }
}

/// `12` (public institution) + area code + organisation code (8 + its check) + check char.
fn credit_code(rng: &mut ChaCha20Rng, area: &str) -> String {
    const ORG_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    loop {
        let body: String = (0..8)
            .map(|_| char::from(ORG_CHARS[rng.gen_range(0..ORG_CHARS.len())]))
            .collect();
        let Some(org_check) = organisation_code_check_char(&body) else {
            continue;
        };
        let first17 = format!("12{area}{body}{org_check}");
        if let Ok(check) = credit_code_check_char(&first17) {
            return format!("{first17}{check}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::ZHEJIANG;
    use hdos_core::{standard::Standard, validate::validate_credit_code};

    #[test]
    fn institutions_are_deterministic_valid_and_in_the_standard() {
        let a = institutions(42, ZHEJIANG, InstitutionCounts::default());
        assert_eq!(a, institutions(42, ZHEJIANG, InstitutionCounts::default()));
        assert_eq!(a.len(), 31);
        let std = Standard::builtin().unwrap();
        let inst = std.dataset("institution").unwrap();
        let kinds: Vec<_> = inst
            .field("kind")
            .unwrap()
            .domain
            .iter()
            .map(|c| c.code.as_str())
            .collect();
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for i in &a {
            assert_eq!(validate_credit_code(&i.code), Ok(()), "{}", i.code);
            assert_eq!(&i.code[2..8], i.region_code);
            assert!(kinds.contains(&i.kind), "{}", i.kind);
            assert!(codes.insert(i.code.clone()) && names.insert(i.name.clone()));
        }
        assert_eq!(a.iter().filter(|i| i.grade == "三级").count(), 3);
        assert_eq!(a.iter().filter(|i| i.grade == "一级").count(), 20);
        assert!(
            a.iter()
                .filter(|i| i.grade == "三级")
                .all(|i| i.beds >= 800)
        );
    }
}
