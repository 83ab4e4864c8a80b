// Subsets that represent the data, baselines, learning curves and model selection.
import XCTest
import Foundation
@testable import Kernel
import Model

final class SelectionTests: XCTestCase {
    static var sstTrain: Dataset { get throws { try Datasets.load("sst", split: "train", folder: Session().dataFolder) } }

    /// `limit=3000` trains on every class in proportion; the first 3,000 rows are half class 3.
    func testAStratifiedLimitKeepsEveryClassInProportion() throws {
        let all = try Self.sstTrain
        let share = Dictionary(uniqueKeysWithValues: all.labelCounts.map { ($0.label, Double($0.count) / Double(all.count)) })
        let subset = all.subset(Subset(limit: 3000, sampling: .stratified, seed: 0))
        XCTAssertEqual(subset.count, 3000)
        for (label, count) in subset.labelCounts {
            XCTAssertEqual(Double(count) / 3000, share[label]!, accuracy: 1.0 / 3000 + 1e-9, "class \(label): largest remainders put each count within one row of its share")
        }
        let first = all.subset(Subset(limit: 3000, sampling: .first))
        let firstShare3 = Double(first.labelCounts.first { $0.label == 3 }!.count) / 3000
        XCTAssertGreaterThan(firstShare3, 0.45, "the file's first rows are skewed (why stratified is the default)")
        XCTAssertEqual(first.examples.map(\.line), Array(all.examples.prefix(3000)).map(\.line))
        // seeded: the same seed draws the same rows, another seed other rows; rows stay in file order
        let again = all.subset(Subset(limit: 3000, sampling: .stratified, seed: 0))
        XCTAssertEqual(again.examples.map(\.line), subset.examples.map(\.line))
        XCTAssertNotEqual(all.subset(Subset(limit: 3000, sampling: .stratified, seed: 1)).examples.map(\.line), subset.examples.map(\.line))
        XCTAssertEqual(subset.examples.map(\.line), subset.examples.map(\.line).sorted())
        XCTAssertEqual(Set(all.subset(Subset(limit: 500, sampling: .random, seed: 3)).examples.map(\.line)).count, 500)
    }

    func testTheLanguagesTrainAndEvalUseRepresentativeRows() {
        K.check("""
        data sst split=train limit=3000
        # expect: examples  3000
        data sst split=train limit=3000 sample=first
        # expect: examples  3000
        """, name: "data sample=")
    }

    /// eval records carry the majority-class baseline of the rows they scored and a confusion matrix.
    func testEvalHasABaselineAndAConfusionMatrix() throws {
        let s = Session()
        let (_, d, _) = K.run("model\nhead\nlet r = train sst limit=64 batch=32 max_length=32\nlet e = eval sst limit=300 max_length=32\nlet q = eval sst limit=300 max_length=32 sample=first", session: s)
        XCTAssertEqual(d.map(\.message), [])
        guard case .record(let e)? = s.variables["e"], case .number(let baseline)? = e["baseline"], case .table(let confusion)? = e["confusion"],
              case .record(let q)? = s.variables["q"], case .number(let firstBaseline)? = q["baseline"] else { return XCTFail("no baseline or confusion") }
        let dev = try Datasets.load("sst", split: "dev", folder: s.dataFolder)
        let stratified = dev.subset(Subset(limit: 300, seed: 0))
        XCTAssertEqual(baseline, Double(stratified.labelCounts.map(\.count).max()!) / 300, accuracy: 1e-12)
        XCTAssertLessThan(baseline, 0.3, "stratified dev rows are not dominated by one class")
        XCTAssertGreaterThan(firstBaseline, 0.45, "the first 300 dev rows are about half class 3")
        XCTAssertEqual(confusion.rows.count, 5)
        let total = confusion.rows.reduce(0.0) { sum, row in if case .number(let n)? = row["n"] { return sum + n }; return sum }
        XCTAssertEqual(total, 300)
        // the diagonal over the total is the accuracy
        var diagonal = 0.0
        for (i, row) in confusion.rows.enumerated() { if case .number(let n)? = row["pred_\(i)"] { diagonal += n } }
        XCTAssertEqual(e["accuracy"], .number(diagonal / 300))
    }

    /// A curve has one row per evaluation; keep=best restores exactly the best evaluation's weights
    /// (its score re-measured equals the recorded one); validation rows never reach a batch.
    func testKeepBestRestoresTheBestEvaluationsWeights() throws {
        let s = Session()
        let (_, d, _) = K.run("""
        model
        lora rank=2
        let r = train sst limit=200 batch=16 epochs=4 lr=0.003 eval=sst eval_every=5 validation=0.25 keep=best max_length=32
        """, session: s)
        XCTAssertEqual(d.map(\.message), [])
        guard case .run(let run)? = s.variables["r"], case .table(let curve)? = run.record["curve"],
              case .number(let keptScore)? = run.record["kept_score"], let model = s.model else { return XCTFail("no curve") }
        // 150 training rows → 10 steps per epoch, 40 steps: every 5 steps, and at the end of the last epoch
        XCTAssertEqual(curve.rows.count, 8, "\(curve.rows)")
        XCTAssertEqual(curve.column("step"), [5, 10, 15, 20, 25, 30, 35, 40].map { .number($0) })
        let scores = curve.column("accuracy").compactMap { if case .number(let x) = $0 { return x }; return nil }
        XCTAssertEqual(keptScore, scores.max())
        // re-measure: the validation rows, drawn as the pipeline drew them
        let all = try Datasets.load("sst", split: "train", folder: s.dataFolder).subset(Subset(limit: 200, seed: 0))
        let (train, validation) = all.split(holdout: 0.25, seed: 0)
        XCTAssertEqual(Set(train.examples.map(\.line)).intersection(validation.examples.map(\.line)), [], "validation rows are not trained on")
        XCTAssertEqual(train.count + validation.count, 200)
        XCTAssertEqual(validation.count, 50)
        let encoded = try EncodedDataset(validation, tokenizer: model.tokenizer, maxLength: 32)
        let again = TaskEvaluator.evaluate(run.network, head: run.network.head("sst")!, data: encoded)
        XCTAssertEqual(again.score, keptScore, "the kept weights are the best evaluation's")
    }

    func testPatienceStopsEarly() {
        let s = Session()
        let (_, d, _) = K.run("""
        model
        head
        let r = train sst limit=64 batch=32 epochs=30 lr=0.0000001 eval=sst eval_limit=40 patience=2 keep=best max_length=32
        """, session: s)
        XCTAssertEqual(d.map(\.message), [])
        guard case .run(let run)? = s.variables["r"], case .table(let curve)? = run.record["curve"] else { return XCTFail("no curve") }
        XCTAssertEqual(run.record["stopped_early"], .bool(true))
        XCTAssertLessThan(curve.rows.count, 30, "a learning rate that changes nothing stops after patience")
        XCTAssertEqual(curve.rows.count, 3, "the first evaluation, then two without improvement")
    }

    func testCurveSettingsAreChecked() {
        K.check("model\nhead\ntrain sst limit=16 keep=best\n# expect error: keep= needs eval=TASKS", name: "keep without eval")
        K.check("model\nhead\ntrain sst limit=16 eval=quora\n# expect error: does not train 'quora'", name: "eval of an untrained task")
        K.check("model\nhead\ntrain sst limit=16 eval=sst validation=1.5\n# expect error: 0 < validation < 1", name: "validation fraction")
        K.check("model\nhead\ntrain sst limit=16 eval=sst eval_every=2.5\n# expect error: eval_every expects epoch", name: "eval_every")
    }
}
