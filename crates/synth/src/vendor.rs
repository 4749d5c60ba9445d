//! Hospital information system "vendors": each names its tables and columns its own way and
//! writes dates, sexes, money and flags in its own formats, as real HIS products do. Collection
//! has to discover the mapping; nothing here is handed to it.

use crate::{
    record::{Dataset, Value},
    timefmt,
};
use chrono::{NaiveDate, NaiveDateTime};

/// The HIS product families of the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// Pinyin-initial names (`BRXX.XM`), `yyyyMMdd` dates, sex `1/2`, money in yuan.
    Pinyin,
    /// English-style names (`pat_master_index.pat_name`), `yyyy-MM-dd HH:mm:ss`, sex `M/F`,
    /// money as decimal text, empty strings for missing text; an old system that sometimes
    /// stores GBK bytes in its UTF-8 columns.
    English,
    /// Chinese quoted identifiers (`"患者信息"."姓名"`), epoch-second times, sex `男/女`, money in
    /// fen.
    Chinese,
}

/// How a field is stored, whatever the vendor's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Money,
    Num,
    Date,
    Ts,
    Bool,
}

/// The storage kind of a standard field.
pub fn kind(field: &str) -> Kind {
    match field {
        "fee_total" | "total_cost" | "amount" | "total_amount" | "insurance_paid" | "self_paid" => {
            Kind::Money
        }
        "value_num" => Kind::Num,
        "days" => Kind::Int,
        "is_primary" => Kind::Bool,
        "birth_date" | "onset_date" | "diagnosis_date" => Kind::Date,
        f if f.ends_with("_time") || f.ends_with("_at") => Kind::Ts,
        _ => Kind::Text,
    }
}

/// A value as the vendor's database stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    /// Bytes stored as TEXT without being valid UTF-8.
    RawText(Vec<u8>),
}

/// A rendered value whose text, if any, is the byte range `start..end` of a shared buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    /// Stored as TEXT; not valid UTF-8 when it carries a legacy encoding.
    Text(usize, usize),
}

impl Cell {
    /// The value of a cell rendered alone into `buf`.
    fn into_value(self, buf: Vec<u8>) -> SqlValue {
        match self {
            Self::Null => SqlValue::Null,
            Self::Int(i) => SqlValue::Int(i),
            Self::Real(x) => SqlValue::Real(x),
            Self::Text(..) => match String::from_utf8(buf) {
                Ok(s) => SqlValue::Text(s),
                Err(e) => SqlValue::RawText(e.into_bytes()),
            },
        }
    }
}

/// The region's local time is UTC+8; epoch columns hold true UTC seconds.
const UTC_OFFSET_SECONDS: i64 = 8 * 3600;

impl Vendor {
    pub const ALL: [Vendor; 3] = [Vendor::Pinyin, Vendor::English, Vendor::Chinese];

    pub fn name(self) -> &'static str {
        match self {
            Self::Pinyin => "pinyin",
            Self::English => "english",
            Self::Chinese => "chinese",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The vendor's table for a dataset.
    pub fn table(self, d: Dataset) -> &'static str {
        let names: [&str; 8] = match self {
            Self::Pinyin => [
                "BRXX", "MZJZJL", "ZYJL", "ZDJL", "JYJG", "CFMX", "JSJL", "CRBBG",
            ],
            Self::English => [
                "pat_master_index",
                "clinic_visit",
                "inp_admission",
                "diagnoses",
                "lab_results",
                "orders_med",
                "billing",
                "notifiable_reports",
            ],
            Self::Chinese => [
                "患者信息",
                "门诊就诊",
                "住院记录",
                "诊断",
                "检验结果",
                "处方明细",
                "结算",
                "传染病报告卡",
            ],
        };
        names[d.index()]
    }

    /// The vendor's columns, in [`Dataset::fields`] order, then the update-time column.
    pub fn columns(self, d: Dataset) -> &'static [&'static str] {
        use Dataset::*;
        match (self, d) {
            (Self::Pinyin, Patient) => &[
                "BRID", "SFZLX", "SFZH", "XM", "XB", "CSRQ", "MZ", "LXDH", "JTDZ", "XZQH", "HYZK",
                "ZY", "GXSJ",
            ],
            (Self::Pinyin, OutpatientVisit) => &[
                "JZID", "BRID", "KSMC", "JZSJ", "YSGH", "ZS", "ZDDM", "ZDMC", "ZFY", "GXSJ",
            ],
            (Self::Pinyin, InpatientStay) => &[
                "ZYID", "ZYH", "BRID", "KSMC", "RYSJ", "CYSJ", "ZYZDDM", "LYFS", "ZFY", "GXSJ",
            ],
            (Self::Pinyin, Diagnosis) => &[
                "ZDID", "JZID", "JZLX", "BRID", "ZZDBZ", "ZDDM", "ZDMC", "ZDSJ", "GXSJ",
            ],
            (Self::Pinyin, LabResult) => &[
                "JGID", "BGDH", "BRID", "JZID", "XMDM", "LOINC", "XMMC", "JGSZ", "JGWB", "DW",
                "YCBZ", "CYSJ", "BGSJ", "GXSJ",
            ],
            (Self::Pinyin, Prescription) => &[
                "CFID", "JZID", "BRID", "YPDM", "YPMC", "JL", "PC", "YF", "TS", "JE", "KFSJ",
                "GXSJ",
            ],
            (Self::Pinyin, Settlement) => &[
                "JSID", "JZID", "BRID", "YBLX", "ZJE", "YBZF", "GRZF", "JSSJ", "GXSJ",
            ],
            (Self::Pinyin, InfectiousReport) => &[
                "BGKID", "BRID", "JBDM", "JBFL", "FBRQ", "ZDRQ", "BGSJ", "XZZQH", "GXSJ",
            ],
            (Self::English, Patient) => &[
                "pat_id",
                "id_type",
                "id_number",
                "pat_name",
                "gender",
                "date_of_birth",
                "nation",
                "mobile",
                "home_addr",
                "area_code",
                "marital_status",
                "occupation",
                "last_modified",
            ],
            (Self::English, OutpatientVisit) => &[
                "visit_no",
                "pat_id",
                "dept",
                "visit_datetime",
                "doctor_code",
                "complaint",
                "diag_code",
                "diag_desc",
                "charges",
                "last_modified",
            ],
            (Self::English, InpatientStay) => &[
                "admission_id",
                "inp_no",
                "pat_id",
                "ward_dept",
                "admit_datetime",
                "discharge_datetime",
                "principal_diag",
                "outcome",
                "total_charges",
                "last_modified",
            ],
            (Self::English, Diagnosis) => &[
                "diag_id",
                "encounter_no",
                "encounter_class",
                "pat_id",
                "primary_flag",
                "icd_code",
                "diag_desc",
                "diag_datetime",
                "last_modified",
            ],
            (Self::English, LabResult) => &[
                "result_id",
                "report_no",
                "pat_id",
                "encounter_no",
                "test_code",
                "loinc",
                "test_name",
                "result_value",
                "result_text",
                "units",
                "flag",
                "collected_at",
                "reported_at",
                "last_modified",
            ],
            (Self::English, Prescription) => &[
                "order_id",
                "encounter_no",
                "pat_id",
                "drug_code",
                "drug_name",
                "dosage",
                "freq",
                "route",
                "duration_days",
                "cost",
                "ordered_at",
                "last_modified",
            ],
            (Self::English, Settlement) => &[
                "bill_id",
                "encounter_no",
                "pat_id",
                "payer_type",
                "total",
                "insurer_paid",
                "patient_paid",
                "billed_at",
                "last_modified",
            ],
            (Self::English, InfectiousReport) => &[
                "report_id",
                "pat_id",
                "disease_icd",
                "disease_category",
                "onset_date",
                "diag_date",
                "reported_at",
                "county_code",
                "last_modified",
            ],
            (Self::Chinese, Patient) => &[
                "患者编号",
                "证件类型",
                "身份证号",
                "姓名",
                "性别",
                "出生日期",
                "民族",
                "联系电话",
                "住址",
                "行政区划",
                "婚姻状况",
                "职业",
                "更新时间",
            ],
            (Self::Chinese, OutpatientVisit) => &[
                "就诊编号",
                "患者编号",
                "科室",
                "就诊时间",
                "医生工号",
                "主诉",
                "诊断编码",
                "诊断名称",
                "总费用",
                "更新时间",
            ],
            (Self::Chinese, InpatientStay) => &[
                "住院流水号",
                "住院号",
                "患者编号",
                "科室",
                "入院时间",
                "出院时间",
                "主要诊断编码",
                "离院方式",
                "总费用",
                "更新时间",
            ],
            (Self::Chinese, Diagnosis) => &[
                "诊断编号",
                "就诊编号",
                "就诊类型",
                "患者编号",
                "是否主诊断",
                "诊断编码",
                "诊断名称",
                "诊断时间",
                "更新时间",
            ],
            (Self::Chinese, LabResult) => &[
                "结果编号",
                "报告单号",
                "患者编号",
                "就诊编号",
                "项目代码",
                "LOINC编码",
                "项目名称",
                "结果数值",
                "结果文本",
                "单位",
                "异常标志",
                "采样时间",
                "报告时间",
                "更新时间",
            ],
            (Self::Chinese, Prescription) => &[
                "处方编号",
                "就诊编号",
                "患者编号",
                "药品编码",
                "药品名称",
                "剂量",
                "频次",
                "给药途径",
                "天数",
                "金额",
                "开方时间",
                "更新时间",
            ],
            (Self::Chinese, Settlement) => &[
                "结算编号",
                "就诊编号",
                "患者编号",
                "医保类型",
                "总金额",
                "医保支付",
                "个人支付",
                "结算时间",
                "更新时间",
            ],
            (Self::Chinese, InfectiousReport) => &[
                "报告卡编号",
                "患者编号",
                "疾病编码",
                "疾病类别",
                "发病日期",
                "诊断日期",
                "报告时间",
                "现住址编码",
                "更新时间",
            ],
        }
    }

    /// The update-time column of a dataset's table.
    pub fn updated_column(self, d: Dataset) -> &'static str {
        let cols = self.columns(d);
        cols[cols.len() - 1]
    }

    /// An identifier quoted for SQL.
    pub fn quote(ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// The SQL column type for a field (SQLite affinity names, also valid in PostgreSQL).
    pub fn sql_type(self, field: &str) -> &'static str {
        match (kind(field), self) {
            (Kind::Int, _) => "INTEGER",
            (Kind::Num, _) => "REAL",
            (Kind::Money, Self::Pinyin) => "REAL",
            (Kind::Money, Self::Chinese) => "INTEGER",
            (Kind::Date | Kind::Ts, Self::Chinese) => "INTEGER",
            (Kind::Bool, Self::Pinyin) => "INTEGER",
            _ => "TEXT",
        }
    }

    /// The SQL types of a dataset's columns, in column order (the update time last).
    pub fn column_types(self, d: Dataset) -> Vec<&'static str> {
        d.fields()
            .iter()
            .chain(&["updated_at"])
            .map(|f| self.sql_type(f))
            .collect()
    }

    /// `INSERT` of one row, with `$1…$n` placeholders (SQLite and PostgreSQL both accept them).
    pub fn insert_sql(self, d: Dataset) -> String {
        let cols = self.columns(d);
        let names: Vec<String> = cols.iter().map(|c| Self::quote(c)).collect();
        let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            Self::quote(self.table(d)),
            names.join(", "),
            params.join(", ")
        )
    }

    /// `CREATE TABLE` for a dataset, in SQLite's or PostgreSQL's dialect. Like many real HIS
    /// tables there is no primary-key constraint, only indexes (see
    /// [`Vendor::create_indexes`]): duplicates are possible, as collection must expect.
    pub fn create_table(self, d: Dataset, postgres: bool) -> String {
        let table = Self::quote(self.table(d));
        let ty = |field: &str| match (self.sql_type(field), postgres) {
            ("INTEGER", true) => "BIGINT",
            ("REAL", true) => "DOUBLE PRECISION",
            (t, _) => t,
        };
        let mut cols: Vec<String> = d
            .fields()
            .iter()
            .zip(self.columns(d))
            .map(|(f, c)| format!("{} {}", Self::quote(c), ty(f)))
            .collect();
        cols.push(format!(
            "{} {}",
            Self::quote(self.updated_column(d)),
            ty("updated_at")
        ));
        format!("CREATE TABLE {table} ({})", cols.join(", "))
    }

    /// Indexes on the key and the update time (the incremental cursor).
    pub fn create_indexes(self, d: Dataset) -> [String; 2] {
        let table = Self::quote(self.table(d));
        let key = Self::quote(self.columns(d)[0]);
        let updated = Self::quote(self.updated_column(d));
        let stem = format!("{}_{}", self.name(), d.name());
        [
            format!("CREATE INDEX \"ix_{stem}_key\" ON {table} ({key})"),
            format!("CREATE INDEX \"ix_{stem}_updated\" ON {table} ({updated})"),
        ]
    }

    /// Renders one standard value in the vendor's format.
    pub fn render(self, field: &str, value: &Value) -> SqlValue {
        let mut buf = Vec::new();
        Cell::into_value(self.render_into(field, value, &mut buf), buf)
    }

    /// Renders one value, appending any text to `buf`: the bulk path, which writes a whole
    /// batch of rows into one buffer instead of allocating a string per value.
    pub fn render_into(self, field: &str, value: &Value, buf: &mut Vec<u8>) -> Cell {
        let text = |buf: &mut Vec<u8>, bytes: &[u8]| {
            let start = buf.len();
            buf.extend_from_slice(bytes);
            Cell::Text(start, buf.len())
        };
        match value {
            Value::Null => match (self, kind(field)) {
                (Self::English, Kind::Text) => text(buf, b""),
                _ => Cell::Null,
            },
            Value::Legacy(bytes) => text(buf, bytes),
            Value::Text(s) => text(buf, self.code(field, s).unwrap_or(s).as_bytes()),
            Value::Int(i) => Cell::Int(*i),
            Value::Num(x) => Cell::Real(*x),
            Value::Money(fen) => match self {
                Self::Pinyin => Cell::Real(*fen as f64 / 100.0),
                Self::English => {
                    let start = buf.len();
                    if *fen < 0 {
                        buf.push(b'-');
                    }
                    timefmt::push_uint(buf, fen.unsigned_abs() / 100);
                    buf.push(b'.');
                    timefmt::push_digits(buf, fen.unsigned_abs() % 100, 2);
                    Cell::Text(start, buf.len())
                }
                Self::Chinese => Cell::Int(*fen),
            },
            Value::Bool(b) => match self {
                Self::Pinyin => Cell::Int(i64::from(*b)),
                Self::English => text(buf, if *b { b"Y" } else { b"N" }),
                Self::Chinese => text(buf, if *b { "是" } else { "否" }.as_bytes()),
            },
            Value::Date(d) => {
                let start = buf.len();
                match self {
                    Self::Pinyin => timefmt::push_compact_date(buf, *d),
                    Self::English => timefmt::push_iso_date(buf, *d),
                    Self::Chinese => return Cell::Int(epoch(d.and_time(chrono::NaiveTime::MIN))),
                }
                Cell::Text(start, buf.len())
            }
            Value::Ts(t) => self.timestamp_into(*t, buf),
        }
    }

    /// Renders a local timestamp (also the update-time column).
    pub fn timestamp(self, t: NaiveDateTime) -> SqlValue {
        let mut buf = Vec::new();
        Cell::into_value(self.timestamp_into(t, &mut buf), buf)
    }

    pub fn timestamp_into(self, t: NaiveDateTime, buf: &mut Vec<u8>) -> Cell {
        let start = buf.len();
        match self {
            Self::Pinyin => timefmt::push_compact_ts(buf, t),
            Self::English => timefmt::push_iso_ts(buf, t, ' '),
            Self::Chinese => return Cell::Int(epoch(t)),
        }
        Cell::Text(start, buf.len())
    }

    /// The vendor's spelling of a coded value, when it differs from the standard's.
    fn code(self, field: &str, code: &str) -> Option<&'static str> {
        // Most text is not coded: skip the table search for it (this runs for every value).
        if !CODED_FIELDS.contains(&field) {
            return None;
        }
        CODES
            .iter()
            .find(|c| c.0 == self && c.1 == field && c.2 == code)
            .map(|c| c.3)
            .or(match (self, field) {
                // Codes outside the vendor's table: unknown sex, any other scheme or status.
                (Self::English, "sex_code") => Some("U"),
                (Self::Chinese, "sex_code") => Some("未知"),
                (Self::Pinyin, "insurance_type") => Some("99"),
                (Self::Chinese, "discharge_status") => Some("其他"),
                _ => None,
            })
    }

    /// The standard's code for a vendor's spelling.
    fn uncode(self, field: &str, spelled: &str) -> Option<&'static str> {
        CODES
            .iter()
            .find(|c| c.0 == self && c.1 == field && c.3 == spelled)
            .map(|c| c.2)
            .or(match (self, field, spelled) {
                (Self::English, "sex_code", "U") | (Self::Chinese, "sex_code", "未知") => {
                    Some("0")
                }
                (Self::Pinyin, "insurance_type", "99") => Some("其他"),
                (Self::Chinese, "discharge_status", "其他") => Some("9"),
                _ => None,
            })
    }

    /// Reads a stored value back into standard form: the inverse of [`Vendor::render`].
    pub fn parse(self, field: &str, v: &SqlValue) -> Value {
        let text = |s: &str| -> Value {
            match self.uncode(field, s) {
                Some(code) => Value::text(code),
                None => Value::text(s.to_owned()),
            }
        };
        match (kind(field), v) {
            (_, SqlValue::Null) => Value::Null,
            (_, SqlValue::RawText(b)) => Value::Legacy(b.clone()),
            (Kind::Text, SqlValue::Text(s)) if s.is_empty() && self == Self::English => Value::Null,
            (Kind::Text, SqlValue::Text(s)) => text(s),
            (Kind::Int, SqlValue::Int(i)) => Value::Int(*i),
            (Kind::Num, SqlValue::Real(x)) => Value::Num(*x),
            (Kind::Money, SqlValue::Real(x)) => Value::Money((x * 100.0).round() as i64),
            (Kind::Money, SqlValue::Int(fen)) => Value::Money(*fen),
            (Kind::Money, SqlValue::Text(s)) => parse_money(s).map_or(Value::Null, Value::Money),
            (Kind::Bool, SqlValue::Int(i)) => Value::Bool(*i != 0),
            (Kind::Bool, SqlValue::Text(s)) => Value::Bool(s == "Y" || s == "是"),
            (Kind::Date, SqlValue::Int(e)) => {
                from_epoch(*e).map_or(Value::Null, |t| Value::Date(t.date()))
            }
            (Kind::Date, SqlValue::Text(s)) => NaiveDate::parse_from_str(s, "%Y%m%d")
                .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
                .map_or(Value::Null, Value::Date),
            (Kind::Ts, SqlValue::Int(e)) => from_epoch(*e).map_or(Value::Null, Value::Ts),
            (Kind::Ts, SqlValue::Text(s)) => parse_ts(s).map_or(Value::Null, Value::Ts),
            (_, SqlValue::Text(s)) => Value::text(s.clone()),
            (_, SqlValue::Int(i)) => Value::Int(*i),
            (_, SqlValue::Real(x)) => Value::Num(*x),
        }
    }

    /// Reads the update-time column.
    pub fn parse_timestamp(self, v: &SqlValue) -> Option<NaiveDateTime> {
        match v {
            SqlValue::Int(e) => from_epoch(*e),
            SqlValue::Text(s) => parse_ts(s),
            _ => None,
        }
    }

    /// The institution-local patient number for the `n`-th person of the region. The number is
    /// a fixed permutation of `n`, so ids look like a real HIS's and never collide.
    pub fn patient_id(self, n: u64, site: usize) -> String {
        let scrambled =
            (n.wrapping_mul(2_654_435_761) + (site as u64) * 7_919 + 12_345) % 1_000_000_000;
        match self {
            Self::Pinyin => format!("{scrambled:010}"),
            Self::English => format!("P{scrambled:09}"),
            Self::Chinese => format!("HZ{scrambled:09}"),
        }
    }

    /// The id of a patient's `k`-th outpatient visit (`inpatient = false`) or stay.
    pub fn encounter_id(self, patient_id: &str, inpatient: bool, k: u32) -> String {
        match (self, inpatient) {
            (Self::Pinyin, false) => format!("MZ{patient_id}{k:04}"),
            (Self::Pinyin, true) => format!("ZY{patient_id}{k:02}"),
            (Self::English, false) => format!("OP{patient_id}-{k}"),
            (Self::English, true) => format!("IP{patient_id}-{k}"),
            (Self::Chinese, false) => format!("{patient_id}M{k:03}"),
            (Self::Chinese, true) => format!("{patient_id}Z{k:03}"),
        }
    }
}

/// The fields whose values some vendor spells differently (every field of `CODES`).
const CODED_FIELDS: [&str; 5] = [
    "sex_code",
    "encounter_type",
    "insurance_type",
    "discharge_status",
    "abnormal_flag",
];

/// Coded values a vendor spells its own way: (vendor, field, standard code, vendor spelling).
const CODES: &[(Vendor, &str, &str, &str)] = &[
    (Vendor::English, "sex_code", "1", "M"),
    (Vendor::English, "sex_code", "2", "F"),
    (Vendor::Chinese, "sex_code", "1", "男"),
    (Vendor::Chinese, "sex_code", "2", "女"),
    (Vendor::Pinyin, "encounter_type", "O", "1"),
    (Vendor::Pinyin, "encounter_type", "I", "2"),
    (Vendor::Chinese, "encounter_type", "O", "门诊"),
    (Vendor::Chinese, "encounter_type", "I", "住院"),
    (Vendor::Pinyin, "insurance_type", "职工医保", "01"),
    (Vendor::Pinyin, "insurance_type", "居民医保", "02"),
    (Vendor::Pinyin, "insurance_type", "新农合", "03"),
    (Vendor::Pinyin, "insurance_type", "商业保险", "04"),
    (Vendor::Pinyin, "insurance_type", "自费", "05"),
    (Vendor::Chinese, "discharge_status", "1", "治愈"),
    (Vendor::Chinese, "discharge_status", "2", "好转"),
    (Vendor::Chinese, "discharge_status", "3", "未愈"),
    (Vendor::Chinese, "discharge_status", "4", "死亡"),
    (Vendor::Chinese, "abnormal_flag", "N", "正常"),
    (Vendor::Chinese, "abnormal_flag", "H", "偏高"),
    (Vendor::Chinese, "abnormal_flag", "L", "偏低"),
    (Vendor::Chinese, "abnormal_flag", "A", "异常"),
];

fn parse_ts(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .ok()
}

fn parse_money(s: &str) -> Option<i64> {
    let (negative, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (yuan, fen) = s.split_once('.').unwrap_or((s, "0"));
    let fen = format!("{fen:0<2}");
    let value = yuan.parse::<i64>().ok()? * 100 + fen.get(..2)?.parse::<i64>().ok()?;
    Some(if negative { -value } else { value })
}

/// Seconds since the Unix epoch of a region-local time.
pub fn epoch(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp() - UTC_OFFSET_SECONDS
}

/// The region-local time of an epoch second.
pub fn from_epoch(seconds: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp(seconds + UTC_OFFSET_SECONDS, 0).map(|t| t.naive_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdos_core::standard::{FieldType, Standard};
    use std::collections::HashSet;

    #[test]
    fn every_coded_field_is_listed() {
        for c in CODES {
            assert!(CODED_FIELDS.contains(&c.1), "{}", c.1);
        }
    }

    #[test]
    fn every_vendor_names_every_field_once() {
        for v in Vendor::ALL {
            let mut tables = HashSet::new();
            for d in Dataset::ALL {
                assert!(tables.insert(v.table(d)));
                assert_eq!(v.columns(d).len(), d.fields().len() + 1, "{v:?} {d}");
                let unique: HashSet<_> = v.columns(d).iter().collect();
                assert_eq!(unique.len(), v.columns(d).len(), "{v:?} {d}");
            }
        }
    }

    #[test]
    fn storage_kinds_agree_with_the_standard_types() {
        let std = Standard::builtin().unwrap();
        for d in Dataset::ALL {
            for f in d.fields() {
                let ty = &std.dataset(d.name()).unwrap().field(f).unwrap().field_type;
                let expected = match ty {
                    FieldType::Date => vec![Kind::Date],
                    FieldType::Timestamp => vec![Kind::Ts],
                    FieldType::Int => vec![Kind::Int],
                    FieldType::Dec { .. } => vec![Kind::Money, Kind::Num],
                    FieldType::Bool => vec![Kind::Bool],
                    _ => vec![Kind::Text],
                };
                assert!(expected.contains(&kind(f)), "{d}.{f}");
            }
        }
    }

    #[test]
    fn formats_differ_by_vendor() {
        let t = NaiveDate::from_ymd_opt(2025, 3, 9)
            .unwrap()
            .and_hms_opt(8, 5, 0)
            .unwrap();
        assert_eq!(
            Vendor::Pinyin.timestamp(t),
            SqlValue::Text("20250309080500".into())
        );
        assert_eq!(
            Vendor::English.timestamp(t),
            SqlValue::Text("2025-03-09 08:05:00".into())
        );
        assert_eq!(Vendor::Chinese.timestamp(t), SqlValue::Int(1_741_478_700));
        assert_eq!(from_epoch(1_741_478_700), Some(t));
        let sex = Value::text("2");
        assert_eq!(
            Vendor::English.render("sex_code", &sex),
            SqlValue::Text("F".into())
        );
        assert_eq!(
            Vendor::Chinese.render("sex_code", &sex),
            SqlValue::Text("女".into())
        );
        assert_eq!(
            Vendor::English.render("fee_total", &Value::Money(12_305)),
            SqlValue::Text("123.05".into())
        );
        assert_eq!(
            Vendor::Chinese.render("fee_total", &Value::Money(12_305)),
            SqlValue::Int(12_305)
        );
    }

    #[test]
    fn parse_reads_back_what_render_wrote() {
        let t = NaiveDate::from_ymd_opt(1958, 12, 31)
            .unwrap()
            .and_hms_opt(23, 59, 1)
            .unwrap();
        let values: &[(&str, Value)] = &[
            ("sex_code", Value::text("1")),
            ("sex_code", Value::text("2")),
            ("insurance_type", Value::text("自费")),
            ("insurance_type", Value::text("其他")),
            ("discharge_status", Value::text("4")),
            ("abnormal_flag", Value::text("H")),
            ("encounter_type", Value::text("I")),
            ("fee_total", Value::Money(-5)),
            ("fee_total", Value::Money(1_234_567)),
            ("birth_date", Value::Date(t.date())),
            ("visit_time", Value::Ts(t)),
            ("is_primary", Value::Bool(true)),
            ("value_num", Value::Num(5.25)),
            ("days", Value::Int(30)),
            ("occupation", Value::Null),
            ("name", Value::Legacy(vec![0xd5, 0xc5])),
        ];
        for v in Vendor::ALL {
            for (field, value) in values {
                assert_eq!(
                    &v.parse(field, &v.render(field, value)),
                    value,
                    "{v:?} {field}"
                );
            }
            assert_eq!(v.parse_timestamp(&v.timestamp(t)), Some(t));
        }
    }

    #[test]
    fn patient_ids_never_collide_within_a_site() {
        let ids: HashSet<_> = (0..100_000)
            .map(|n| Vendor::English.patient_id(n, 3))
            .collect();
        assert_eq!(ids.len(), 100_000);
    }
}
