//! Clinical frequency tables: which diagnoses a visit or stay carries at which age, in which
//! department, with which lab tests and drugs. Weights are per ten thousand outpatient visits of
//! an age group (children under 15, adults 15–64, elderly 65+) and per ten thousand admissions;
//! they follow the shape of published Chinese outpatient and discharge statistics (respiratory
//! infections, hypertension and diabetes lead; special diseases are rare).

use hdos_core::validate::Sex;

/// A diagnosis the region's doctors make, in both accepted ICD-10 spellings.
#[derive(Debug, Clone, Copy)]
pub struct Condition {
    /// WHO ICD-10, e.g. `I10`.
    pub who: &'static str,
    /// 国家临床版 2.0, e.g. `I10.x00`.
    pub clinical: &'static str,
    pub name: &'static str,
    pub dept: &'static str,
    /// Outpatient weight for children, adults and the elderly.
    pub outpatient: [u32; 3],
    /// Weight among admissions (0: never admitted for it).
    pub inpatient: u32,
    /// Mean length of stay in days.
    pub los_days: f64,
    /// Doubles in the winter months (December to March).
    pub seasonal: bool,
    /// Only this sex can have it.
    pub sex: Option<Sex>,
    /// Inclusive age range.
    pub ages: (u32, u32),
    /// Lab items ordered for it, with the factor applied to the item's normal mean.
    pub labs: &'static [(&'static str, f64)],
    /// Indices into [`DRUGS`].
    pub drugs: &'static [usize],
    /// Procedure or surgery fee of a stay, in yuan.
    pub procedure_fee: u32,
    /// Infectious disease class (甲/乙/丙) when it must be reported.
    pub notifiable: Option<&'static str>,
}

const fn c(who: &'static str, clinical: &'static str, name: &'static str) -> Condition {
    Condition {
        who,
        clinical,
        name,
        dept: "内科",
        outpatient: [0, 0, 0],
        inpatient: 0,
        los_days: 7.0,
        seasonal: false,
        sex: None,
        ages: (0, 120),
        labs: &[],
        drugs: &[],
        procedure_fee: 0,
        notifiable: None,
    }
}

impl Condition {
    const fn dept(mut self, dept: &'static str) -> Self {
        self.dept = dept;
        self
    }
    const fn op(mut self, child: u32, adult: u32, elderly: u32) -> Self {
        self.outpatient = [child, adult, elderly];
        self
    }
    const fn ip(mut self, weight: u32, los_days: f64) -> Self {
        self.inpatient = weight;
        self.los_days = los_days;
        self
    }
    const fn winter(mut self) -> Self {
        self.seasonal = true;
        self
    }
    const fn only(mut self, sex: Sex) -> Self {
        self.sex = Some(sex);
        self
    }
    const fn ages(mut self, from: u32, to: u32) -> Self {
        self.ages = (from, to);
        self
    }
    const fn labs(mut self, labs: &'static [(&'static str, f64)]) -> Self {
        self.labs = labs;
        self
    }
    const fn drugs(mut self, drugs: &'static [usize]) -> Self {
        self.drugs = drugs;
        self
    }
    const fn surgery(mut self, fee: u32) -> Self {
        self.procedure_fee = fee;
        self
    }
    const fn notify(mut self, class: &'static str) -> Self {
        self.notifiable = Some(class);
        self
    }

    /// Whether a person of this sex and age can carry the diagnosis.
    pub fn fits(&self, sex: Sex, age: u32) -> bool {
        self.sex.is_none_or(|s| s == sex) && (self.ages.0..=self.ages.1).contains(&age)
    }
}

const CBC_INFECTION: &[(&str, f64)] = &[("WBC", 1.5), ("NEUT", 1.25), ("HGB", 1.0), ("PLT", 1.0)];
const CBC_PNEUMONIA: &[(&str, f64)] = &[
    ("WBC", 1.8),
    ("NEUT", 1.3),
    ("HGB", 1.0),
    ("PLT", 1.0),
    ("CRP", 12.0),
];
const DIABETES: &[(&str, f64)] = &[("GLU", 1.7), ("HBA1C", 1.45), ("TC", 1.1), ("TG", 1.4)];
const HYPERTENSION: &[(&str, f64)] = &[("K", 1.0), ("NA", 1.0), ("CREA", 1.1), ("TC", 1.1)];
const LIPIDS: &[(&str, f64)] = &[("TC", 1.35), ("TG", 1.8)];
const CARDIAC: &[(&str, f64)] = &[("TC", 1.15), ("TG", 1.2), ("CREA", 1.1), ("K", 1.0)];
const LIVER: &[(&str, f64)] = &[("ALT", 2.2), ("AST", 1.9), ("HBSAG", 1.0)];
const RENAL: &[(&str, f64)] = &[("CREA", 1.0), ("K", 1.0), ("NA", 1.0)];
const THYROID: &[(&str, f64)] = &[("TSH", 3.0)];
const ANAEMIA_CHECK: &[(&str, f64)] = &[("WBC", 1.0), ("HGB", 0.93), ("PLT", 1.0)];
const CHECKUP: &[(&str, f64)] = &[
    ("WBC", 1.0),
    ("HGB", 1.0),
    ("PLT", 1.0),
    ("GLU", 1.0),
    ("ALT", 1.0),
    ("CREA", 1.0),
    ("TC", 1.0),
];
const TUMOUR: &[(&str, f64)] = &[("WBC", 0.9), ("HGB", 0.85), ("PLT", 1.0), ("ALT", 1.3)];

/// The region's diagnoses.
pub const CONDITIONS: &[Condition] = &[
    c("J06.9", "J06.900", "急性上呼吸道感染")
        .dept("呼吸内科")
        .op(2400, 900, 450)
        .winter()
        .labs(CBC_INFECTION)
        .drugs(&[4, 3, 6]),
    c("J20.9", "J20.900", "急性支气管炎")
        .dept("呼吸内科")
        .op(600, 300, 300)
        .ip(120, 6.0)
        .winter()
        .labs(CBC_INFECTION)
        .drugs(&[0, 6, 1]),
    c("J18.9", "J18.900", "肺炎")
        .dept("呼吸内科")
        .op(200, 60, 150)
        .ip(900, 9.0)
        .winter()
        .labs(CBC_PNEUMONIA)
        .drugs(&[17, 18, 6]),
    c("J02.9", "J02.900", "急性咽炎")
        .dept("耳鼻喉科")
        .op(500, 400, 100)
        .winter()
        .drugs(&[0, 3]),
    c("J03.9", "J03.900", "急性扁桃体炎")
        .dept("耳鼻喉科")
        .op(400, 150, 20)
        .winter()
        .labs(CBC_INFECTION)
        .drugs(&[0, 2]),
    c("J11.1", "J11.101", "流行性感冒")
        .dept("呼吸内科")
        .op(300, 150, 100)
        .winter()
        .labs(CBC_INFECTION)
        .drugs(&[5, 3])
        .notify("丙"),
    c("J30.4", "J30.400", "变应性鼻炎")
        .dept("耳鼻喉科")
        .op(150, 200, 50)
        .drugs(&[32, 33]),
    c("J45.9", "J45.900", "哮喘")
        .dept("呼吸内科")
        .op(100, 60, 60)
        .ip(60, 6.0)
        .drugs(&[37]),
    c("J44.9", "J44.900", "慢性阻塞性肺疾病")
        .dept("呼吸内科")
        .op(0, 30, 250)
        .ip(600, 10.0)
        .winter()
        .ages(40, 120)
        .labs(CBC_INFECTION)
        .drugs(&[38, 37]),
    c("I10", "I10.x00", "高血压")
        .dept("心血管内科")
        .op(0, 900, 2200)
        .ip(150, 7.0)
        .ages(18, 120)
        .labs(HYPERTENSION)
        .drugs(&[7, 8]),
    c("E11.9", "E11.900", "2型糖尿病")
        .dept("内分泌科")
        .op(0, 500, 1000)
        .ip(250, 9.0)
        .ages(20, 120)
        .labs(DIABETES)
        .drugs(&[9, 10, 11]),
    c("E78.5", "E78.500", "高脂血症")
        .dept("心血管内科")
        .op(0, 300, 400)
        .ages(20, 120)
        .labs(LIPIDS)
        .drugs(&[12]),
    c("I25.1", "I25.103", "冠状动脉粥样硬化性心脏病")
        .dept("心血管内科")
        .op(0, 80, 500)
        .ip(500, 8.0)
        .ages(35, 120)
        .labs(CARDIAC)
        .drugs(&[13, 14, 12])
        .surgery(18_000),
    c("I48.9", "I48.900", "心房颤动")
        .dept("心血管内科")
        .op(0, 20, 120)
        .ip(120, 6.0)
        .ages(40, 120)
        .labs(CARDIAC)
        .drugs(&[40]),
    c("I50.9", "I50.900", "心力衰竭")
        .dept("心血管内科")
        .op(0, 10, 120)
        .ip(400, 9.0)
        .ages(40, 120)
        .labs(RENAL)
        .drugs(&[39, 7]),
    c("I63.9", "I63.900", "脑梗死")
        .dept("神经内科")
        .op(0, 30, 250)
        .ip(700, 12.0)
        .ages(35, 120)
        .labs(CARDIAC)
        .drugs(&[13, 12, 14]),
    c("R51", "R51.x00", "头痛")
        .dept("神经内科")
        .op(50, 200, 100)
        .drugs(&[3, 41]),
    c("K29.7", "K29.700", "胃炎")
        .dept("消化内科")
        .op(50, 400, 300)
        .drugs(&[15, 16]),
    c("K21.9", "K21.900", "胃食管反流病")
        .dept("消化内科")
        .op(0, 150, 100)
        .ages(15, 120)
        .drugs(&[15]),
    c("K52.9", "K52.900", "非感染性胃肠炎")
        .dept("消化内科")
        .op(300, 150, 100)
        .drugs(&[34, 35]),
    c("A09", "A09.900", "感染性腹泻")
        .dept("感染科")
        .op(200, 80, 60)
        .labs(CBC_INFECTION)
        .drugs(&[34, 35])
        .notify("丙"),
    c("K35.8", "K35.800", "急性阑尾炎")
        .dept("普外科")
        .op(20, 20, 5)
        .ip(350, 5.0)
        .labs(CBC_PNEUMONIA)
        .drugs(&[17])
        .surgery(4_500),
    c("K80.2", "K80.200", "胆囊结石")
        .dept("普外科")
        .op(0, 80, 80)
        .ip(300, 6.0)
        .ages(18, 120)
        .labs(LIVER)
        .drugs(&[15])
        .surgery(8_000),
    c("M54.5", "M54.500", "腰痛")
        .dept("骨科")
        .op(0, 300, 250)
        .ages(15, 120)
        .drugs(&[19, 20]),
    c("M17.9", "M17.900", "膝关节病")
        .dept("骨科")
        .op(0, 100, 300)
        .ip(80, 8.0)
        .ages(40, 120)
        .drugs(&[19, 20])
        .surgery(30_000),
    c("S52.5", "S52.500", "桡骨下端骨折")
        .dept("骨科")
        .op(20, 20, 20)
        .ip(200, 7.0)
        .labs(ANAEMIA_CHECK)
        .drugs(&[19])
        .surgery(12_000),
    c("N39.0", "N39.000", "泌尿道感染")
        .dept("泌尿外科")
        .op(50, 150, 150)
        .labs(CBC_INFECTION)
        .drugs(&[18]),
    c("N40", "N40.x00", "前列腺增生")
        .dept("泌尿外科")
        .op(0, 40, 250)
        .ip(80, 6.0)
        .only(Sex::Male)
        .ages(45, 120)
        .drugs(&[21])
        .surgery(9_000),
    c("Z34.9", "Z34.900", "正常妊娠监督")
        .dept("产科")
        .op(0, 200, 0)
        .only(Sex::Female)
        .ages(20, 44)
        .labs(ANAEMIA_CHECK)
        .drugs(&[43]),
    c("O80", "O80.x00", "单胎顺产")
        .dept("产科")
        .ip(700, 3.0)
        .only(Sex::Female)
        .ages(20, 44)
        .labs(ANAEMIA_CHECK)
        .drugs(&[42])
        .surgery(3_000),
    c("N76.0", "N76.000", "急性阴道炎")
        .dept("妇科")
        .op(0, 150, 20)
        .only(Sex::Female)
        .ages(15, 120)
        .drugs(&[30]),
    c("C50.9", "C50.900", "乳腺恶性肿瘤")
        .dept("肿瘤科")
        .op(0, 15, 10)
        .ip(120, 10.0)
        .only(Sex::Female)
        .ages(25, 120)
        .labs(TUMOUR)
        .drugs(&[29])
        .surgery(9_000),
    c("L30.9", "L30.900", "皮炎")
        .dept("皮肤科")
        .op(150, 150, 100)
        .drugs(&[31, 44]),
    c("H10.9", "H10.900", "结膜炎")
        .dept("眼科")
        .op(100, 80, 50)
        .drugs(&[36]),
    c("K02.9", "K02.900", "龋病")
        .dept("口腔科")
        .op(300, 150, 80),
    c("E03.9", "E03.900", "甲状腺功能减退症")
        .dept("内分泌科")
        .op(0, 80, 60)
        .ages(15, 120)
        .labs(THYROID)
        .drugs(&[22]),
    c("Z00.0", "Z00.000", "一般医学检查")
        .dept("全科医疗科")
        .op(100, 400, 500)
        .labs(CHECKUP),
    c("B08.4", "B08.400", "手足口病")
        .dept("儿科")
        .op(200, 0, 0)
        .ip(60, 5.0)
        .ages(0, 6)
        .labs(CBC_INFECTION)
        .drugs(&[2])
        .notify("丙"),
    // Special diseases (level 5): rare, as in a real region.
    c("F32.9", "F32.900", "抑郁发作")
        .dept("精神科")
        .op(5, 60, 40)
        .ages(12, 120)
        .drugs(&[23]),
    c("F20.9", "F20.900", "精神分裂症")
        .dept("精神科")
        .op(0, 20, 10)
        .ip(80, 45.0)
        .ages(15, 120)
        .drugs(&[24]),
    c("A15.0", "A15.000", "肺结核")
        .dept("感染科")
        .op(2, 10, 12)
        .ip(60, 20.0)
        .labs(CBC_INFECTION)
        .drugs(&[25, 26])
        .notify("乙"),
    c("B18.1", "B18.100", "慢性乙型病毒性肝炎")
        .dept("感染科")
        .op(2, 40, 20)
        .ip(40, 12.0)
        .labs(LIVER)
        .drugs(&[27])
        .notify("乙"),
    c("B24", "B24.x00", "人类免疫缺陷病毒病")
        .dept("感染科")
        .op(0, 2, 1)
        .ages(15, 120)
        .labs(CBC_INFECTION)
        .drugs(&[28])
        .notify("乙"),
    c("A53.9", "A53.900", "梅毒")
        .dept("皮肤科")
        .op(0, 8, 4)
        .ages(15, 120)
        .drugs(&[45])
        .notify("乙"),
    c("C34.9", "C34.900", "肺恶性肿瘤")
        .dept("肿瘤科")
        .op(0, 10, 40)
        .ip(160, 14.0)
        .ages(30, 120)
        .labs(TUMOUR)
        .drugs(&[29])
        .surgery(25_000),
    c("C16.9", "C16.900", "胃恶性肿瘤")
        .dept("肿瘤科")
        .op(0, 6, 20)
        .ip(100, 15.0)
        .ages(30, 120)
        .labs(TUMOUR)
        .drugs(&[29])
        .surgery(22_000),
    c("C22.0", "C22.000", "肝细胞癌")
        .dept("肿瘤科")
        .op(0, 5, 12)
        .ip(60, 12.0)
        .ages(30, 120)
        .labs(LIVER)
        .drugs(&[29])
        .surgery(20_000),
];

/// A laboratory item as a hospital's LIS knows it.
#[derive(Debug, Clone, Copy)]
pub struct LabItem {
    /// Key used in [`Condition::labs`] and as the local LIS code's stem.
    pub key: &'static str,
    pub loinc: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    /// Reference range, inclusive.
    pub low: f64,
    pub high: f64,
    /// Mean and standard deviation in a healthy population.
    pub mean: f64,
    pub sd: f64,
    pub decimals: u32,
    pub price: u32,
}

/// `ids` is (key, LOINC, name, unit).
const fn lab(
    ids: (&'static str, &'static str, &'static str, &'static str),
    range: (f64, f64),
    normal: (f64, f64),
    decimals: u32,
    price: u32,
) -> LabItem {
    let (key, loinc, name, unit) = ids;
    LabItem {
        key,
        loinc,
        name,
        unit,
        low: range.0,
        high: range.1,
        mean: normal.0,
        sd: normal.1,
        decimals,
        price,
    }
}

/// Lab items with real LOINC codes and Chinese units; `HBSAG` is qualitative (a text result).
pub const LAB_ITEMS: &[LabItem] = &[
    lab(
        ("WBC", "6690-2", "白细胞计数", "10^9/L"),
        (3.5, 9.5),
        (6.5, 1.5),
        2,
        8,
    ),
    lab(
        ("NEUT", "770-8", "中性粒细胞百分比", "%"),
        (40.0, 75.0),
        (58.0, 8.0),
        1,
        0,
    ),
    lab(
        ("HGB", "718-7", "血红蛋白", "g/L"),
        (115.0, 160.0),
        (138.0, 12.0),
        0,
        0,
    ),
    lab(
        ("PLT", "777-3", "血小板计数", "10^9/L"),
        (125.0, 350.0),
        (230.0, 50.0),
        0,
        0,
    ),
    lab(
        ("CRP", "1988-5", "C反应蛋白", "mg/L"),
        (0.0, 10.0),
        (3.0, 2.0),
        1,
        30,
    ),
    lab(
        ("GLU", "14749-6", "葡萄糖", "mmol/L"),
        (3.9, 6.1),
        (5.1, 0.5),
        2,
        5,
    ),
    lab(
        ("HBA1C", "4548-4", "糖化血红蛋白", "%"),
        (4.0, 6.0),
        (5.4, 0.4),
        1,
        60,
    ),
    lab(
        ("TC", "14647-2", "总胆固醇", "mmol/L"),
        (2.8, 5.2),
        (4.6, 0.8),
        2,
        6,
    ),
    lab(
        ("TG", "14927-8", "甘油三酯", "mmol/L"),
        (0.45, 1.7),
        (1.3, 0.5),
        2,
        6,
    ),
    lab(
        ("ALT", "1742-6", "丙氨酸氨基转移酶", "U/L"),
        (7.0, 40.0),
        (22.0, 9.0),
        0,
        5,
    ),
    lab(
        ("AST", "1920-8", "天门冬氨酸氨基转移酶", "U/L"),
        (13.0, 35.0),
        (22.0, 6.0),
        0,
        5,
    ),
    lab(
        ("CREA", "14682-9", "肌酐", "umol/L"),
        (57.0, 111.0),
        (78.0, 15.0),
        0,
        8,
    ),
    lab(
        ("K", "2823-3", "钾", "mmol/L"),
        (3.5, 5.3),
        (4.2, 0.35),
        2,
        5,
    ),
    lab(
        ("NA", "2951-2", "钠", "mmol/L"),
        (137.0, 147.0),
        (141.0, 2.5),
        1,
        5,
    ),
    lab(
        ("TSH", "3016-3", "促甲状腺激素", "mIU/L"),
        (0.27, 4.2),
        (1.8, 0.8),
        2,
        40,
    ),
    lab(
        ("HBSAG", "5196-1", "乙型肝炎表面抗原", ""),
        (0.0, 0.0),
        (0.0, 0.0),
        0,
        25,
    ),
];

/// The complete blood count is billed once, as a panel.
pub const CBC_PRICE: u32 = 20;

pub fn lab_item(key: &str) -> Option<&'static LabItem> {
    LAB_ITEMS.iter().find(|i| i.key == key)
}

/// Items drawn for every admission, besides the diagnosis' own.
pub const ADMISSION_PANEL: &[(&str, f64)] = &[
    ("WBC", 1.0),
    ("HGB", 1.0),
    ("PLT", 1.0),
    ("ALT", 1.0),
    ("CREA", 1.0),
    ("GLU", 1.0),
    ("K", 1.0),
];

/// A drug on the hospital formulary.
#[derive(Debug, Clone, Copy)]
pub struct Drug {
    pub code: &'static str,
    pub name: &'static str,
    pub dose: &'static str,
    pub frequency: &'static str,
    pub route: &'static str,
    pub days: u32,
    /// Price of the course in yuan.
    pub price: u32,
}

const fn drug(
    code: &'static str,
    name: &'static str,
    dose: &'static str,
    frequency: &'static str,
    route: &'static str,
    days: u32,
    price: u32,
) -> Drug {
    Drug {
        code,
        name,
        dose,
        frequency,
        route,
        days,
        price,
    }
}

/// The formulary; conditions refer to it by index.
pub const DRUGS: &[Drug] = &[
    drug("X0001", "阿莫西林胶囊", "0.5g", "tid", "口服", 5, 13),
    drug("X0002", "头孢克洛缓释片", "0.375g", "bid", "口服", 5, 28),
    drug("X0003", "布洛芬混悬液", "5ml", "prn", "口服", 3, 15),
    drug("X0004", "对乙酰氨基酚片", "0.5g", "prn", "口服", 3, 6),
    drug("Z0001", "连花清瘟胶囊", "1.4g", "tid", "口服", 5, 24),
    drug("X0005", "奥司他韦胶囊", "75mg", "bid", "口服", 5, 68),
    drug("X0006", "氨溴索口服溶液", "10ml", "tid", "口服", 5, 18),
    drug("X0101", "氨氯地平片", "5mg", "qd", "口服", 30, 32),
    drug("X0102", "缬沙坦胶囊", "80mg", "qd", "口服", 30, 45),
    drug("X0201", "二甲双胍缓释片", "0.5g", "bid", "口服", 30, 22),
    drug("X0202", "阿卡波糖片", "50mg", "tid", "口服", 30, 48),
    drug(
        "X0203",
        "门冬胰岛素注射液",
        "10U",
        "tid",
        "皮下注射",
        30,
        120,
    ),
    drug("X0103", "阿托伐他汀钙片", "20mg", "qn", "口服", 30, 36),
    drug("X0104", "阿司匹林肠溶片", "100mg", "qd", "口服", 30, 15),
    drug("X0105", "氯吡格雷片", "75mg", "qd", "口服", 30, 60),
    drug("X0301", "奥美拉唑肠溶胶囊", "20mg", "qd", "口服", 14, 18),
    drug("X0302", "铝碳酸镁咀嚼片", "1g", "tid", "口服", 7, 20),
    drug("X0007", "注射用头孢曲松钠", "2g", "qd", "静脉滴注", 7, 85),
    drug("X0008", "左氧氟沙星片", "0.5g", "qd", "口服", 7, 26),
    drug("X0401", "塞来昔布胶囊", "0.2g", "qd", "口服", 7, 30),
    drug("X0402", "双氯芬酸钠凝胶", "适量", "tid", "外用", 7, 25),
    drug("X0501", "坦索罗辛缓释胶囊", "0.2mg", "qn", "口服", 30, 55),
    drug("X0204", "左甲状腺素钠片", "50ug", "qd", "口服", 30, 25),
    drug("X0601", "舍曲林片", "50mg", "qd", "口服", 30, 95),
    drug("X0602", "奥氮平片", "10mg", "qn", "口服", 30, 110),
    drug("X0701", "异烟肼片", "0.3g", "qd", "口服", 30, 8),
    drug("X0702", "利福平胶囊", "0.45g", "qd", "口服", 30, 20),
    drug("X0703", "恩替卡韦片", "0.5mg", "qd", "口服", 30, 30),
    drug("X0704", "拉米夫定片", "0.3g", "qd", "口服", 30, 0),
    drug(
        "X0801",
        "紫杉醇注射液",
        "175mg/m2",
        "st",
        "静脉滴注",
        1,
        1_200,
    ),
    drug("X0901", "甲硝唑栓", "0.5g", "qn", "阴道给药", 7, 18),
    drug("X1001", "地奈德乳膏", "适量", "bid", "外用", 7, 22),
    drug("X1002", "氯雷他定片", "10mg", "qd", "口服", 14, 20),
    drug("X1003", "糠酸莫米松鼻喷雾剂", "2喷", "qd", "鼻喷", 30, 75),
    drug("X0303", "蒙脱石散", "3g", "tid", "口服", 3, 12),
    drug("X0304", "口服补液盐散", "1袋", "prn", "口服", 3, 5),
    drug("X1101", "妥布霉素滴眼液", "1滴", "qid", "滴眼", 7, 15),
    drug(
        "X0009",
        "布地奈德福莫特罗吸入剂",
        "1吸",
        "bid",
        "吸入",
        30,
        260,
    ),
    drug("X0010", "噻托溴铵粉吸入剂", "18ug", "qd", "吸入", 30, 180),
    drug("X0106", "呋塞米片", "20mg", "qd", "口服", 14, 5),
    drug("X0107", "达比加群酯胶囊", "110mg", "bid", "口服", 30, 200),
    drug("X0403", "甲钴胺片", "0.5mg", "tid", "口服", 14, 30),
    drug("X1201", "缩宫素注射液", "10U", "st", "肌内注射", 1, 8),
    drug("X1202", "叶酸片", "0.4mg", "qd", "口服", 30, 10),
    drug("X1004", "炉甘石洗剂", "适量", "tid", "外用", 7, 9),
    drug(
        "X0011",
        "注射用苄星青霉素",
        "240万U",
        "qw",
        "肌内注射",
        21,
        30,
    ),
];

/// Outpatient visits per person per year by age group, for the visits-per-patient check.
pub const VISITS_PER_YEAR: &[(u32, f64)] = &[(0, 4.0), (5, 2.0), (15, 1.8), (45, 3.0), (65, 6.0)];

/// Admissions per person per year by age group.
pub const ADMISSIONS_PER_YEAR: &[(u32, f64)] =
    &[(0, 0.05), (5, 0.02), (15, 0.04), (45, 0.08), (65, 0.2)];

/// The rate of the age group `age` falls in.
pub fn rate_for_age(table: &[(u32, f64)], age: u32) -> f64 {
    table
        .iter()
        .rev()
        .find(|(from, _)| age >= *from)
        .map_or(0.0, |(_, r)| *r)
}

/// The outpatient age group index of [`Condition::outpatient`].
pub fn age_group(age: u32) -> usize {
    match age {
        0..=14 => 0,
        15..=64 => 1,
        _ => 2,
    }
}

/// Relative visit volume by month (January first): winter peaks, a dip at the Spring Festival.
pub const MONTH_WEIGHTS: [u32; 12] = [100, 80, 105, 100, 95, 90, 92, 95, 95, 90, 100, 110];

/// Relative visit volume by weekday (Monday first).
pub const WEEKDAY_WEIGHTS: [u32; 7] = [130, 115, 110, 108, 105, 75, 57];

#[cfg(test)]
mod tests {
    use super::*;
    use hdos_core::validate::{parse_icd10, validate_loinc};

    #[test]
    fn every_code_in_the_tables_is_valid() {
        for c in CONDITIONS {
            assert!(parse_icd10(c.who).is_ok(), "{}", c.who);
            assert!(parse_icd10(c.clinical).is_ok(), "{}", c.clinical);
            assert_eq!(c.who[..3], c.clinical[..3]);
            assert!(c.drugs.iter().all(|d| *d < DRUGS.len()), "{}", c.who);
            assert!(
                c.labs.iter().all(|(k, _)| lab_item(k).is_some()),
                "{}",
                c.who
            );
        }
        for item in LAB_ITEMS {
            assert_eq!(validate_loinc(item.loinc), Ok(()), "{}", item.loinc);
        }
    }
}
