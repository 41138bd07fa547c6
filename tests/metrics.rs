//! Metrics on a hand-checked confusion matrix.

use sentence_multitask::training::metrics::Metrics;

#[test]
fn metrics_match_a_hand_computed_example() {
    let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let gold = [0, 0, 0, 0, 1, 1, 2, 2];
    let pred = [0, 0, 0, 1, 1, 2, 2, 2];
    let m = Metrics::compute(&labels, &gold, &pred);
    assert_eq!(m.count, 8);
    assert_eq!(
        m.confusion,
        vec![vec![3, 1, 0], vec![0, 1, 1], vec![0, 0, 2]]
    );
    assert!((m.accuracy - 6.0 / 8.0).abs() < 1e-12);
    let a = &m.per_class["a"];
    assert_eq!((a.precision, a.recall, a.support), (1.0, 0.75, 4));
    let b = &m.per_class["b"];
    assert_eq!((b.precision, b.recall), (0.5, 0.5));
    let c = &m.per_class["c"];
    assert!((c.precision - 2.0 / 3.0).abs() < 1e-12 && c.recall == 1.0);
    let f1 = |p: f64, r: f64| 2.0 * p * r / (p + r);
    let expected = (f1(1.0, 0.75) + 0.5 + f1(2.0 / 3.0, 1.0)) / 3.0;
    assert!((m.macro_f1 - expected).abs() < 1e-12);
}

#[test]
fn a_never_predicted_class_scores_zero_not_nan() {
    let labels: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
    let m = Metrics::compute(&labels, &[0, 1], &[0, 0]);
    assert_eq!(m.per_class["b"].precision, 0.0);
    assert_eq!(m.per_class["b"].f1, 0.0);
    assert!(m.macro_f1.is_finite());
    assert_eq!(Metrics::compute(&labels, &[], &[]).accuracy, 0.0);
}
