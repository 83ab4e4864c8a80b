// Statistics for claims: the mean's interval over seeds (Student t) and the percentile bootstrap
// over the rows an evaluation scored.
import Foundation

public enum Statistics {
    /// Student's t, two-sided 95% (the 0.975 quantile), for 1…30 degrees of freedom.
    static let t975: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                                 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]

    /// The 0.975 quantile for n values: Student t with n − 1 degrees of freedom for n ≤ 31, 1.96 beyond.
    public static func quantile(n: Int) -> Double { n - 1 <= t975.count ? t975[n - 2] : 1.959964 }

    /// The mean and its 95% interval, mean ± t · s / √n (nil for fewer than two values).
    public static func interval(_ xs: [Double]) -> (mean: Double, low: Double, high: Double, half: Double)? {
        guard xs.count >= 2 else { return nil }
        let n = Double(xs.count), mean = xs.reduce(0, +) / n
        let sd = (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
        let half = quantile(n: xs.count) * sd / n.squareRoot()
        return (mean, mean - half, mean + half, half)
    }

    /// The q-quantile of sorted values, interpolated linearly between order statistics (R's type 7).
    public static func quantile(sorted xs: [Double], _ q: Double) -> Double {
        precondition(!xs.isEmpty && (0...1).contains(q))
        let h = q * Double(xs.count - 1), lo = Int(h.rounded(.down)), hi = min(lo + 1, xs.count - 1)
        return xs[lo] + (h - Double(lo)) * (xs[hi] - xs[lo])
    }

    /// Percentile bootstrap, 95%: `resamples` times, draws each group's rows with replacement (group g
    /// has `rows[g]` rows; groups are drawn independently, as the tasks of a multitask evaluation are),
    /// computes `statistics` of the drawn indices, and returns each statistic's 2.5% and 97.5% quantiles
    /// over the resamples. Seeded, so the same rows and seed give the same interval.
    public static func bootstrap(rows: [Int], resamples: Int = 1000, seed: UInt64 = 0,
                                 statistics: ([[Int]]) -> [Double]) -> [(low: Double, high: Double)] {
        precondition(resamples >= 2 && rows.allSatisfy { $0 > 0 })
        var rng = SplitMix64(seed: seed)
        var draws: [[Double]] = []
        for _ in 0..<resamples {
            let indices = rows.map { n in (0..<n).map { _ in rng.nextInt(n) } }
            let values = statistics(indices)
            if draws.isEmpty { draws = values.map { _ in [] } }
            for (k, v) in values.enumerated() { draws[k].append(v) }
        }
        return draws.map { d in
            let sorted = d.sorted()
            return (quantile(sorted: sorted, 0.025), quantile(sorted: sorted, 0.975))
        }
    }
}
