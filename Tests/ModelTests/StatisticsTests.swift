// The percentile bootstrap: quantiles by hand, the binomial's width, seeding, and the overall score's
// interval from independently resampled tasks.
import XCTest
@testable import Model

final class StatisticsTests: XCTestCase {
    func testQuantileInterpolatesBetweenOrderStatistics() {
        // type 7: h = q · (n − 1); [1, 2, 3, 4] at 0.25 is 1 + 0.75 · (2 − 1) = 1.75
        XCTAssertEqual(Statistics.quantile(sorted: [1, 2, 3, 4], 0.25), 1.75, accuracy: 1e-12)
        XCTAssertEqual(Statistics.quantile(sorted: [1, 2, 3, 4], 0), 1)
        XCTAssertEqual(Statistics.quantile(sorted: [1, 2, 3, 4], 1), 4)
        XCTAssertEqual(Statistics.quantile(sorted: [5], 0.975), 5)
    }

    /// 400 rows, 160 right: the bootstrap's 95% interval of the accuracy is close to the normal
    /// approximation 0.4 ± 1.96 · √(0.4 · 0.6 / 400) = 0.4 ± 0.048.
    func testBootstrapOfAnAccuracyMatchesTheBinomialWidth() {
        let right = (0..<400).map { $0 % 5 < 2 }
        let i = Statistics.bootstrap(rows: [400], resamples: 2000, seed: 7) { rows in
            [Double(rows[0].filter { right[$0] }.count) / Double(rows[0].count)]
        }[0]
        XCTAssertEqual((i.low + i.high) / 2, 0.4, accuracy: 0.01)
        XCTAssertEqual((i.high - i.low) / 2, 1.96 * (0.4 * 0.6 / 400).squareRoot(), accuracy: 0.006)
        let again = Statistics.bootstrap(rows: [400], resamples: 2000, seed: 7) { rows in
            [Double(rows[0].filter { right[$0] }.count) / Double(rows[0].count)]
        }[0]
        XCTAssertEqual(again.low, i.low); XCTAssertEqual(again.high, i.high)
        // a constant statistic has a zero-width interval
        let constant = Statistics.bootstrap(rows: [10], resamples: 50) { _ in [0.25] }[0]
        XCTAssertEqual(constant.low, 0.25); XCTAssertEqual(constant.high, 0.25)
    }

    /// The overall score's interval lies inside the span its parts' intervals allow, and holds the score.
    func testOverallIntervalFromIndependentlyResampledTasks() {
        func evaluation(_ kind: HeadKind, predictions: [Double], labels: [Double]) -> Evaluation {
            Evaluation(dataset: "t", kind: kind, examples: labels.count, score: 0, loss: 0, predictions: predictions, outputs: [],
                       outputsPerExample: 1, baseline: 0, confusion: nil, labels: labels)
        }
        let n = 300
        let classes: [Double] = (0..<n).map { i -> Double in Double(i % 5) }
        var sstLabels: [Double] = []
        for i in 0..<n { sstLabels.append(i % 3 == 0 ? Double(i % 5) : Double((i + 1) % 5)) }
        let sst = evaluation(.classification, predictions: classes, labels: sstLabels)
        let paraPredictions: [Double] = (0..<n).map { i -> Double in i % 4 == 0 ? 0.2 : 0.9 }
        let paraLabels: [Double] = (0..<n).map { i -> Double in i % 2 == 0 ? 1 : 0 }
        let para = evaluation(.binary, predictions: paraPredictions, labels: paraLabels)
        var rng = SplitMix64(seed: 3)
        let truth = (0..<n).map { _ in rng.nextGaussian() }
        let sts = evaluation(.regression, predictions: truth.map { $0 + rng.nextGaussian() }, labels: truth)
        let all = Array(0..<n)
        let a = sst.score(rows: all), p = para.score(rows: all), r = sts.score(rows: all)
        XCTAssertEqual(a, Double(all.filter { $0 % 3 == 0 }.count) / Double(n), accuracy: 1e-12)
        XCTAssertEqual(p, 0.25, accuracy: 1e-12)   // even rows (label 1) predicted 1 unless % 4 == 0 (75 right); odd rows (label 0) all predicted 1
        XCTAssertEqual(r, 1 / 2.0.squareRoot(), accuracy: 0.1)
        let overall = Metrics.overallScore(sstAccuracy: a, paraphraseAccuracy: p, stsPearson: r)
        let i = Metrics.overallIntervals(sst: sst, paraphrase: para, sts: sts)
        XCTAssertLessThan(i.overall.low, overall); XCTAssertGreaterThan(i.overall.high, overall)
        XCTAssertLessThan(i.sst.low, a); XCTAssertGreaterThan(i.sst.high, a)
        XCTAssertLessThan(i.sts.low, r); XCTAssertGreaterThan(i.sts.high, r)
        // independent parts: the overall's half-width is about √(Σ (half_k / 3)²) (STS's scaled by ½), far below their sum
        let hs: Double = (i.sst.high - i.sst.low) / 6
        let hp: Double = (i.paraphrase.high - i.paraphrase.low) / 6
        let hr: Double = (i.sts.high - i.sts.low) / 12
        let expected = (hs * hs + hp * hp + hr * hr).squareRoot()
        XCTAssertEqual((i.overall.high - i.overall.low) / 2, expected, accuracy: 0.2 * expected)
    }
}
