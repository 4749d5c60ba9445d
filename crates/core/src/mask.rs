//! Masking for display (GB/T 37964's masking, 屏蔽): a person's name, ID number, phone and address
//! shown so that staff can recognise a record without reading the identifier. The stored data is
//! not changed. Record numbers of the hospital's own systems (patient, visit ids) are not
//! personal identifiers of this kind and are left visible, so the record can be found and fixed.

use crate::{classification::IdentifierRole, standard::Field};

/// How a value is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// The surname stays: 张三丰 → 张**.
    Name,
    /// The first three and last two characters stay: 330************1X.
    IdNumber,
    /// The first three and last four digits stay: 138****5678.
    Phone,
    /// The first six characters stay (province, city, district): 浙江省杭州市******.
    Address,
}

impl MaskKind {
    /// The masking a standard field's values get on screen, if any.
    pub fn of(field: &Field) -> Option<Self> {
        if field.role != IdentifierRole::Direct {
            return None;
        }
        let n = field.name.as_str();
        if n == "id_no" || n.ends_with("_id_no") {
            Some(Self::IdNumber)
        } else if n.contains("phone") || n.contains("tel") {
            Some(Self::Phone)
        } else if n.contains("address") {
            Some(Self::Address)
        } else if n == "name" || n.ends_with("_name") {
            Some(Self::Name)
        } else {
            None
        }
    }

    pub fn apply(self, value: &str) -> String {
        let chars: Vec<char> = value.trim().chars().collect();
        let keep = |head: usize, tail: usize| -> String {
            if chars.len() <= head + tail {
                return "*".repeat(chars.len());
            }
            let mut out: String = chars[..head].iter().collect();
            out.push_str(&"*".repeat(chars.len() - head - tail));
            out.extend(&chars[chars.len() - tail..]);
            out
        };
        match self {
            Self::Name => keep(1.min(chars.len().saturating_sub(1)), 0),
            Self::IdNumber => keep(3, 2),
            Self::Phone => keep(3, 4),
            Self::Address => keep(6.min(chars.len() / 2), 0),
        }
    }
}

/// Masks what looks like an ID number (15 or 18 characters, the last possibly X) or a mobile
/// number (11 digits starting with 1) anywhere in free text: a raw message or record.
pub fn mask_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_ascii_alphanumeric()) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        if j < chars.len() && matches!(chars[j], 'X' | 'x') && j - i == 17 {
            j += 1;
        }
        let run: String = chars[i..j].iter().collect();
        let ends_word = j == chars.len() || !chars[j].is_ascii_alphanumeric();
        out.push_str(&match (run.len(), ends_word) {
            (15 | 18, true) => MaskKind::IdNumber.apply(&run),
            (11, true) if run.starts_with('1') => MaskKind::Phone.apply(&run),
            _ => run,
        });
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_keeps_what_recognises_the_record() {
        assert_eq!(MaskKind::Name.apply("张三丰"), "张**");
        assert_eq!(MaskKind::Name.apply("李"), "*");
        assert_eq!(
            MaskKind::IdNumber.apply("33010619900307123X"),
            "330*************3X"
        );
        assert_eq!(MaskKind::Phone.apply("13812345678"), "138****5678");
        assert_eq!(
            MaskKind::Address.apply("浙江省杭州市西湖区文三路90号"),
            "浙江省杭州市*********"
        );
        assert_eq!(MaskKind::IdNumber.apply("12"), "**");
    }

    #[test]
    fn numbers_in_free_text_are_masked_and_other_digits_are_not() {
        assert_eq!(
            mask_numbers(
                "PID|1||P001^^^H1||张三||19900307|M|||tel 13812345678 id 330106199003071234"
            ),
            "PID|1||P001^^^H1||张三||19900307|M|||tel 138****5678 id 330*************34"
        );
        assert_eq!(
            mask_numbers("{\"sfzh\":\"33010619900307123X\"}"),
            "{\"sfzh\":\"330*************3X\"}"
        );
        // Order numbers, dates and longer runs stay.
        assert_eq!(
            mask_numbers("V20260301000001 20260301 123456789012"),
            "V20260301000001 20260301 123456789012"
        );
        assert_eq!(mask_numbers("12345678901234567890"), "12345678901234567890");
    }
}
