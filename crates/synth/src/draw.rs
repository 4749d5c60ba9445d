//! Draws from the continuous and count distributions the clinical tables are stated in.

use rand::Rng;

/// A standard normal draw (Box–Muller).
pub fn standard_normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn normal<R: Rng>(rng: &mut R, mean: f64, sd: f64) -> f64 {
    mean + sd * standard_normal(rng)
}

/// A log-normal draw with the given mean and shape `sigma`.
pub fn lognormal_with_mean<R: Rng>(rng: &mut R, mean: f64, sigma: f64) -> f64 {
    let mu = mean.ln() - sigma * sigma / 2.0;
    (mu + sigma * standard_normal(rng)).exp()
}

/// A Poisson count (Knuth's method; the rates here are small).
pub fn poisson<R: Rng>(rng: &mut R, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p: f64 = rng.r#gen();
    while p > limit {
        k += 1;
        p *= rng.r#gen::<f64>();
    }
    k
}

/// True with probability `p`.
pub fn chance<R: Rng>(rng: &mut R, p: f64) -> bool {
    rng.r#gen::<f64>() < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn draws_have_the_stated_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| normal(&mut rng, 10.0, 2.0)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 10.0).abs() < 0.03 && (var.sqrt() - 2.0).abs() < 0.03);
        let counts: Vec<u32> = (0..n).map(|_| poisson(&mut rng, 3.0)).collect();
        let mean = f64::from(counts.iter().sum::<u32>()) / n as f64;
        assert!((mean - 3.0).abs() < 0.03, "{mean}");
        let los: f64 = (0..n)
            .map(|_| lognormal_with_mean(&mut rng, 8.0, 0.5))
            .sum::<f64>()
            / n as f64;
        assert!((los - 8.0).abs() < 0.1, "{los}");
    }
}
