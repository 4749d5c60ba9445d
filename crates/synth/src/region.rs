//! The districts (GB/T 2260 county-level codes) of the default province, Zhejiang.

/// A county-level division: its code, name and prefecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct District {
    pub code: &'static str,
    pub name: &'static str,
    pub city: &'static str,
    /// Relative population weight, for drawing residents.
    pub weight: u32,
}

const fn d(code: &'static str, name: &'static str, city: &'static str, weight: u32) -> District {
    District {
        code,
        name,
        city,
        weight,
    }
}

/// A selection of Zhejiang's districts and counties across its prefectures.
pub const ZHEJIANG: &[District] = &[
    d("330102", "上城区", "杭州市", 13),
    d("330105", "拱墅区", "杭州市", 12),
    d("330106", "西湖区", "杭州市", 11),
    d("330108", "滨江区", "杭州市", 5),
    d("330109", "萧山区", "杭州市", 20),
    d("330110", "余杭区", "杭州市", 13),
    d("330111", "富阳区", "杭州市", 8),
    d("330112", "临安区", "杭州市", 6),
    d("330122", "桐庐县", "杭州市", 5),
    d("330127", "淳安县", "杭州市", 4),
    d("330203", "海曙区", "宁波市", 10),
    d("330205", "江北区", "宁波市", 5),
    d("330206", "北仑区", "宁波市", 8),
    d("330212", "鄞州区", "宁波市", 16),
    d("330302", "鹿城区", "温州市", 11),
    d("330304", "瓯海区", "温州市", 10),
    d("330382", "乐清市", "温州市", 14),
    d("330402", "南湖区", "嘉兴市", 6),
    d("330502", "吴兴区", "湖州市", 7),
    d("330602", "越城区", "绍兴市", 9),
    d("330702", "婺城区", "金华市", 9),
    d("330782", "义乌市", "金华市", 19),
    d("330802", "柯城区", "衢州市", 5),
    d("330902", "定海区", "舟山市", 5),
    d("331002", "椒江区", "台州市", 7),
    d("331102", "莲都区", "丽水市", 5),
];
