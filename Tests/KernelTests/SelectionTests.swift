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
        // the accuracy's bootstrap interval holds the accuracy and is about ±1.96·√(p(1−p)/300) wide
        guard case .number(let accuracy)? = e["accuracy"], case .record(let ci)? = e["accuracy_ci"],
              case .number(let low)? = ci["low"], case .number(let high)? = ci["high"] else { return XCTFail("no accuracy_ci") }
        XCTAssertEqual(ci["n"], .number(300))
        XCTAssertLessThanOrEqual(low, accuracy); XCTAssertGreaterThanOrEqual(high, accuracy)
        let normalHalf = 1.96 * (accuracy * (1 - accuracy) / 300).squareRoot()
        XCTAssertEqual((high - low) / 2, normalHalf, accuracy: 0.25 * normalHalf)
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

    /// ci() against hand-computed values; the three verdicts.
    func testIntervalsAndVerdicts() throws {
        // 1, 2, 3, 4: mean 2.5, s = 1.290994, t(3) = 3.182, half = 3.182 · 1.290994 / 2 = 2.053971
        let s = Session()
        let (_, d, result) = K.run("""
        let a = ci([1, 2, 3, 4])
        let p = ci([0.5, 0.7, 0.6], [0.4, 0.5, 0.6])
        expect interval=[0.01, 0.015] within=0.02 label="holds"
        expect interval=[0.03, 0.04] within=0.02 label="fails"
        expect interval=[0.01, 0.03] within=0.02 label="straddles"
        expect interval=a above=0.4 label="above holds"
        expect interval=a below=0.3 label="below fails"
        """, session: s)
        XCTAssertEqual(d.map(\.message), [])
        guard case .record(let a)? = s.variables["a"], case .number(let low)? = a["low"], case .number(let high)? = a["high"],
              case .record(let p)? = s.variables["p"], case .number(let pm)? = p["mean"], case .number(let ph)? = p["half"] else { return XCTFail("no ci") }
        XCTAssertEqual(a["mean"], .number(2.5))
        XCTAssertEqual(low, 2.5 - 2.053971, accuracy: 1e-5)
        XCTAssertEqual(high, 2.5 + 2.053971, accuracy: 1e-5)
        // paired differences 0.1, 0.2, 0.0: mean 0.1, s = 0.1, t(2) = 4.303, half = 0.248434
        XCTAssertEqual(pm, 0.1, accuracy: 1e-12)
        XCTAssertEqual(ph, 4.303 * 0.1 / 3.0.squareRoot(), accuracy: 1e-9)
        let claims = result.outputs.compactMap { o -> Claim? in if case .claim(let c) = o { return c }; return nil }
        XCTAssertEqual(claims.map(\.label), ["holds", "fails", "straddles", "above holds", "below fails"])
        XCTAssertEqual(claims.map(\.passed), [true, false, false, true, false])
        XCTAssertEqual(claims.map(\.inconclusive), [false, false, true, false, false])
        XCTAssertEqual(claims.map(\.failed), [false, true, false, false, true])
        XCTAssertEqual(Statistics.quantile(n: 31), 2.042)
        XCTAssertEqual(Statistics.quantile(n: 32), 1.959964, accuracy: 1e-6)
        K.check("print ci([1])\n# expect error: ci() needs at least two values", name: "ci of one")
        K.check("print ci([1, 2], [1])\n# expect error: pairs values", name: "unpaired")
        K.check("expect interval=[1, 2] label=\"x\"\n# expect error: exactly one of within=", name: "no bound")
    }

    /// Singular values of known matrices; a rank-2 LoRA update has exactly two non-zero ones.
    func testSpectrumOfKnownUpdates() throws {
        // [[3, 0, 0, 0], [0, 0, 2, 0], [0, 1, 0, 0]]: singular values 3, 2, 1
        let m: [Float] = [3, 0, 0, 0, 0, 0, 2, 0, 0, 1, 0, 0]
        let s = m.withUnsafeBufferPointer { Spectrum.singularValues($0.baseAddress!, rows: 3, cols: 4) }
        XCTAssertEqual(s.count, 3)
        for (x, y) in zip(s, [3.0, 2, 1]) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        // an outer product u vᵀ has one singular value, ‖u‖·‖v‖
        let outer: [Float] = [1, 2, 2, 2, 4, 4]   // [1, 2]ᵀ [1, 2, 2]
        let o = outer.withUnsafeBufferPointer { Spectrum.singularValues($0.baseAddress!, rows: 2, cols: 3) }
        XCTAssertEqual(o[0], 5.0.squareRoot() * 3, accuracy: 1e-6)
        XCTAssertEqual(o[1], 0, accuracy: 1e-6)

        let session = Session()
        let (_, d, _) = K.run("model\nlora rank=2\nlet r = train sst limit=32 batch=16 lr=0.01\nlet s = spectrum r\nlet k = spectrum r by=k", session: session)
        XCTAssertEqual(d.map(\.message), [])
        guard case .run(let run)? = session.variables["r"], let model = session.model, case .table(let table)? = session.variables["s"],
              case .table(let byK)? = session.variables["k"] else { return XCTFail("no spectrum") }
        let updates = Spectrum.updates(run.network, base: model)
        XCTAssertEqual(updates.count, 12, "query and value in 6 layers")
        for u in updates {
            XCTAssertEqual(u.singularValues.count, 384)
            XCTAssertGreaterThan(u.singularValues[1], 1e-6, "\(u.layer) \(u.matrix): two directions")
            XCTAssertLessThan(u.singularValues[2], 1e-6 * u.singularValues[0], "\(u.layer) \(u.matrix): no third")
            XCTAssertEqual(u.numericalRank(), 2)
            XCTAssertEqual(u.energy(top: 2), 1, accuracy: 1e-9)
        }
        XCTAssertEqual(table.column("rank"), Array(repeating: .number(2), count: 12))
        XCTAssertEqual(byK.rows.first?["k"], .number(1))
        XCTAssertEqual(byK.rows[1]["energy_min"].map { if case .number(let x) = $0 { return abs(x - 1) < 1e-9 }; return false }, true)
    }

    func testCurveSettingsAreChecked() {
        K.check("model\nhead\ntrain sst limit=16 keep=best\n# expect error: keep= needs eval=TASKS", name: "keep without eval")
        K.check("model\nhead\ntrain sst limit=16 eval=quora\n# expect error: does not train 'quora'", name: "eval of an untrained task")
        K.check("model\nhead\ntrain sst limit=16 eval=sst validation=1.5\n# expect error: 0 < validation < 1", name: "validation fraction")
        K.check("model\nhead\ntrain sst limit=16 eval=sst eval_every=2.5\n# expect error: eval_every expects epoch", name: "eval_every")
    }
}
