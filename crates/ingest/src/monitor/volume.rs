//! Volume fluctuation (流量波动): a value against its own trailing baseline, by median ± k·MAD.
//! The median and the median absolute deviation ignore the outliers a mean and a standard
//! deviation would chase; the MAD is scaled to a standard deviation's size (×1.4826) and given a
//! floor, so a perfectly regular channel does not alert on a change of one row.

/// How far out, in scaled MADs, a value must be to alert.
pub const K: f64 = 3.0;
/// Baseline points needed before anything is judged.
pub const MIN_BASELINE: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deviation {
    /// Below the baseline's median by more than K scaled MADs.
    Drop { median: f64, bound: f64 },
    /// Above it by more than K scaled MADs.
    Spike { median: f64, bound: f64 },
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Whether `value` lies outside the baseline's median ± K·scaled MAD; `None` when it does not or
/// the baseline is too short to judge.
pub fn deviation(value: f64, baseline: &[f64]) -> Option<Deviation> {
    if baseline.len() < MIN_BASELINE {
        return None;
    }
    let mut b = baseline.to_vec();
    let m = median(&mut b);
    let mut spread: Vec<f64> = b.iter().map(|v| (v - m).abs()).collect();
    let mad = median(&mut spread) * 1.4826;
    // At least a tenth of the median, and at least one row.
    let scale = mad.max(m * 0.1).max(1.0);
    if value < m - K * scale {
        Some(Deviation::Drop {
            median: m,
            bound: m - K * scale,
        })
    } else if value > m + K * scale {
        Some(Deviation::Spike {
            median: m,
            bound: m + K * scale,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sudden_drop_and_a_spike_stand_out_and_normal_noise_does_not() {
        let baseline = [980.0, 1010.0, 1003.0, 995.0, 1020.0, 990.0, 1001.0];
        assert!(deviation(1005.0, &baseline).is_none());
        assert!(
            deviation(900.0, &baseline).is_none(),
            "within a tenth of the median"
        );
        assert!(matches!(
            deviation(120.0, &baseline),
            Some(Deviation::Drop { .. })
        ));
        assert!(matches!(
            deviation(0.0, &baseline),
            Some(Deviation::Drop { .. })
        ));
        assert!(matches!(
            deviation(5000.0, &baseline),
            Some(Deviation::Spike { .. })
        ));
    }

    #[test]
    fn one_outlier_in_the_baseline_does_not_move_it() {
        let baseline = [100.0, 104.0, 98.0, 10_000.0, 101.0, 99.0];
        assert!(matches!(
            deviation(10.0, &baseline),
            Some(Deviation::Drop { .. })
        ));
        assert!(deviation(103.0, &baseline).is_none());
    }

    #[test]
    fn a_short_or_idle_baseline_judges_nothing_or_only_real_change() {
        assert!(
            deviation(0.0, &[100.0, 100.0, 100.0]).is_none(),
            "too short"
        );
        let idle = [0.0; 7];
        assert!(deviation(0.0, &idle).is_none());
        assert!(
            deviation(3.0, &idle).is_none(),
            "a few rows on an idle channel"
        );
        assert!(matches!(
            deviation(50.0, &idle),
            Some(Deviation::Spike { .. })
        ));
    }
}
