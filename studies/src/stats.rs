//! The statistics behind every claim: a figure over seeds with its 95%
//! t-interval, which evaluation examples each run got right, and paired
//! comparisons of two settings on the same evaluation set by a two-level
//! bootstrap (seeds, then examples).

use serde::{Deserialize, Serialize};

use sentence_multitask::rng::Rng;

/// Two-sided 95% quantiles of Student's t for 1 to 10 degrees of freedom.
const T95: [f64; 10] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
];

/// Bootstrap resamples of a paired comparison.
const RESAMPLES: usize = 2000;

/// Mean and sample standard deviation of `xs` (0 for fewer than two).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Half-width of the 95% Student's t interval of the mean of `xs` (1.96
/// beyond 10 degrees of freedom; 0 for a single value, which has no interval).
pub fn interval95(xs: &[f64]) -> f64 {
    let df = xs.len().saturating_sub(1);
    if df == 0 {
        return 0.0;
    }
    let t = T95.get(df - 1).copied().unwrap_or(1.96);
    t * mean_sd(xs).1 / (xs.len() as f64).sqrt()
}

/// One figure over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (0 for a single value).
    pub std: f64,
    /// Half-width of the 95% t-interval of the mean over seeds (0 for one seed).
    #[serde(default)]
    pub ci95: f64,
    /// The values, in seed order.
    pub values: Vec<f64>,
    /// For accuracies: which evaluation examples each seed's run got right
    /// ([`Hits::encode`]), so that two settings can be compared pairwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hits: Vec<String>,
}

impl Spread {
    /// The mean, standard deviation and interval of `values`.
    pub fn of(values: Vec<f64>) -> Self {
        let (mean, std) = mean_sd(&values);
        Self {
            mean,
            std,
            ci95: interval95(&values),
            values,
            hits: Vec::new(),
        }
    }

    /// The accuracies of runs from which examples each got right.
    pub fn scored(runs: &[Hits]) -> Self {
        Self {
            hits: runs.iter().map(Hits::encode).collect(),
            ..Self::of(runs.iter().map(Hits::accuracy).collect())
        }
    }

    /// Seeds behind the figure.
    pub fn seeds(&self) -> usize {
        self.values.len()
    }
}

/// Which evaluation examples one run got right, in evaluation order.
#[derive(Clone, Debug, PartialEq)]
pub struct Hits(pub Vec<bool>);

impl Hits {
    /// Share of examples right.
    pub fn accuracy(&self) -> f64 {
        self.0.iter().filter(|&&h| h).count() as f64 / self.0.len().max(1) as f64
    }

    /// Hex digits, four examples each (first example in the highest bit),
    /// after the count and a colon: compact enough for results.json.
    pub fn encode(&self) -> String {
        let digits: String = self
            .0
            .chunks(4)
            .map(|c| {
                let v = c
                    .iter()
                    .enumerate()
                    .map(|(i, &h)| (h as u32) << (3 - i))
                    .sum::<u32>();
                char::from_digit(v, 16).unwrap_or('0')
            })
            .collect();
        format!("{}:{digits}", self.0.len())
    }

    /// The inverse of [`Hits::encode`]; `None` for malformed text.
    pub fn decode(text: &str) -> Option<Self> {
        let (count, digits) = text.split_once(':')?;
        let count: usize = count.parse().ok()?;
        let mut out = Vec::with_capacity(count);
        for c in digits.chars() {
            let v = c.to_digit(16)?;
            out.extend((0..4).map(|i| v & (1 << (3 - i)) != 0));
        }
        (out.len() >= count && out.len() < count + 4).then(|| {
            out.truncate(count);
            Self(out)
        })
    }
}

/// A paired difference `x − y` of two accuracies on one evaluation set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// Mean over the shared seeds of `x − y`.
    pub mean: f64,
    /// 95% bootstrap interval of the mean difference.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// Seeds compared (the first of each side's seeds).
    pub seeds: usize,
    /// Seeds in which `x` scored above `y`.
    pub x_ahead: usize,
}

impl Paired {
    /// True when the interval excludes 0.
    pub fn clear(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// `x − y` seed by seed over their first shared seeds, with a 95% interval
/// from a two-level bootstrap: resample seeds, then evaluation examples
/// (the same examples for both sides, so the comparison is paired). `None`
/// when either side has no hits or the evaluation sets differ in size.
pub fn paired(x: &Spread, y: &Spread) -> Option<Paired> {
    let decode =
        |s: &Spread| -> Option<Vec<Hits>> { s.hits.iter().map(|h| Hits::decode(h)).collect() };
    let (xs, ys) = (decode(x)?, decode(y)?);
    let seeds = xs.len().min(ys.len());
    let n = xs.first()?.0.len();
    if seeds == 0 || n == 0 || xs.iter().chain(&ys).any(|h| h.0.len() != n) {
        return None;
    }
    // Per seed and example: +1, 0 or -1.
    let diff: Vec<Vec<i8>> = (0..seeds)
        .map(|s| {
            (0..n)
                .map(|i| xs[s].0[i] as i8 - ys[s].0[i] as i8)
                .collect()
        })
        .collect();
    let per_seed: Vec<f64> = diff
        .iter()
        .map(|d| d.iter().map(|&v| v as f64).sum::<f64>() / n as f64)
        .collect();
    let mut rng = Rng::new(0x5EED);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let mut total = 0.0;
            for _ in 0..seeds {
                let d = &diff[rng.below(seeds)];
                total += (0..n).map(|_| d[rng.below(n)] as f64).sum::<f64>() / n as f64;
            }
            total / seeds as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    Some(Paired {
        mean: mean_sd(&per_seed).0,
        low: means[RESAMPLES / 40],
        high: means[RESAMPLES - 1 - RESAMPLES / 40],
        seeds,
        x_ahead: per_seed.iter().filter(|&&d| d > 0.0).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_round_trip_through_text() {
        for n in [1, 4, 5, 7, 8, 13] {
            let hits = Hits((0..n).map(|i| i % 3 != 1).collect());
            let text = hits.encode();
            assert_eq!(Hits::decode(&text), Some(hits.clone()), "{text}");
        }
        assert_eq!(Hits(vec![true, false, true, true, true]).encode(), "5:b8");
        assert_eq!(Hits::decode("3:zz"), None);
        assert_eq!(Hits::decode("9:ff"), None);
    }

    #[test]
    fn t_interval_matches_the_table() {
        // Three values 1, 2, 3: sd 1, t(2) = 4.303, so 4.303 / sqrt(3).
        let half = interval95(&[1.0, 2.0, 3.0]);
        assert!((half - 4.303 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(interval95(&[0.5]), 0.0);
        assert_eq!(Spread::of(vec![0.5]).ci95, 0.0);
    }

    #[test]
    fn a_clear_gap_is_clear_and_a_tie_is_not() {
        let run = |right: usize| Hits((0..400).map(|i| i < right).collect());
        let better = Spread::scored(&[run(360), run(350), run(355)]);
        let worse = Spread::scored(&[run(300), run(310), run(305)]);
        let p = paired(&better, &worse).unwrap();
        assert!((p.mean - 50.0 / 400.0).abs() < 1e-12, "{p:?}");
        assert!(p.clear() && p.low > 0.0 && p.x_ahead == 3, "{p:?}");
        let same = paired(&better, &better).unwrap();
        assert_eq!((same.mean, same.low, same.high), (0.0, 0.0, 0.0));
        assert!(!same.clear());
        // Disagreeing on a few examples in both directions: no clear difference.
        let a = Hits((0..400).map(|i| i % 2 == 0 || i < 10).collect());
        let b = Hits(
            (0..400)
                .map(|i| i % 2 == 0 || (20..28).contains(&i))
                .collect(),
        );
        let p = paired(&Spread::scored(&[a]), &Spread::scored(&[b])).unwrap();
        assert!(!p.clear(), "{p:?}");
        assert_eq!(paired(&Spread::of(vec![0.5]), &better), None);
    }
}
