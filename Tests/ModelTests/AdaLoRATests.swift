// AdaLoRA: the orthogonal regularisation's gradient, masking, PEFT's budget schedule, the allocator
// inside a training run, and merging.
import XCTest
@testable import Model

final class AdaLoRATests: XCTestCase {
    var tiny: BertModel { GradientCheckTests.tiny }

    func network(rank: Int = 3, settings: AdaLoRASettings = AdaLoRASettings(targetRank: 1), targets: [AdapterTarget] = [.query, .value]) throws -> (Network, [AdaLoRAAdapter]) {
        var c = AdaptationConfig(mode: .adalora, rank: rank, targets: targets)
        c.adaLoRA = settings
        let net = try Network(model: tiny, adaptation: c, seed: 1)
        net.hiddenDropout = 0; net.attentionDropout = 0
        let adapters = (net.adapters?.all ?? []).compactMap { $0 as? AdaLoRAAdapter }
        var rng = SplitMix64(seed: 9)
        for a in adapters { for i in 0..<a.E.count { a.E.data[i] = Float(rng.nextUniform() - 0.5) } }
        return (net, adapters)
    }

    func testInitialisationIsPEFTs() throws {
        let net = try Network(model: tiny, adaptation: AdaptationConfig(mode: .adalora, rank: 4, targets: [.query]), seed: 2)
        let a = try XCTUnwrap(net.adapters?.all.first as? AdaLoRAAdapter)
        XCTAssertEqual(a.E.data[0], 0); XCTAssertTrue((0..<a.E.count).allSatisfy { a.E.data[$0] == 0 }, "E = 0")
        let values = (0..<a.A.count).map { Double(a.A.data[$0]) } + (0..<a.B.count).map { Double(a.B.data[$0]) }
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.006, "A, B ~ N(0, 0.02)")
        XCTAssertEqual(a.scaling, 8 / (4 + 1e-5), accuracy: 1e-6, "s = alpha / (r0 + 1e-5) with PEFT's alpha 8")
        XCTAssertEqual(net.trainables.filter { $0.name.hasSuffix(".lora_E") }.count, 2, "one E per adapter: two layers' query")
    }

    /// ‖AAᵀ − I‖_F + ‖BᵀB − I‖_F: the gradient added against central differences.
    func testOrthogonalityGradientMatchesFiniteDifferences() throws {
        let (net, adapters) = try network()
        let allocator = try XCTUnwrap(net.rankAllocator)
        net.zeroGradients()
        let value = allocator.addOrthogonality()
        XCTAssertGreaterThan(value, 0)
        for a in adapters.prefix(2) {
            for (p, g) in [(a.A, a.dA!), (a.B, a.dB!)] {
                for k in stride(from: 0, to: p.count, by: max(1, p.count / 5)) {
                    let old = p.data[k], h: Float = 1e-3
                    p.data[k] = old + h; net.zeroGradients(); let up = Double(allocator.addOrthogonality())
                    p.data[k] = old - h; net.zeroGradients(); let down = Double(allocator.addOrthogonality())
                    p.data[k] = old
                    net.zeroGradients(); _ = allocator.addOrthogonality()
                    let numeric = (up - down) / Double(2 * h), analytic = Double(g.data[k])
                    XCTAssertEqual(analytic, numeric, accuracy: 2e-3 * max(1, abs(numeric)), "\(a.name) element \(k)")
                }
            }
        }
    }

    /// A masked triplet (E_i = 0) contributes nothing, whatever its A row and B column hold.
    func testMaskedTripletContributesNothing() throws {
        let (net, adapters) = try network()
        let head = net.addHead("t", kind: .classification, classes: 3)
        let batch = try tiny.batch([("the cat sat on a mat", nil), ("a dog is running", nil)])
        let a = adapters[0]
        a.E.data[1] = 0
        let before = net.predict(batch, head: head)
        for j in 0..<a.inFeatures { a.A.data[1 * a.inFeatures + j] += 3 }
        for o in 0..<a.outFeatures { a.B.data[o * a.rank + 1] -= 2 }
        XCTAssertEqual(net.predict(batch, head: head), before, "masked: no change")
        a.E.data[1] = 0.5
        XCTAssertNotEqual(net.predict(batch, head: head), before, "unmasked, the same change shows")
        XCTAssertEqual(a.activeRank, a.rank)
    }

    /// PEFT's budget_schedule, transcribed independently, at every step of a run with warm-up,
    /// final phase and deltaT; the final pattern then holds even if E regrows.
    func testBudgetScheduleMatchesPEFTFormulaAtEveryStep() throws {
        let settings = AdaLoRASettings(targetRank: 1, tinit: 2, tfinal: 3, deltaT: 2)
        let (net, adapters) = try network(rank: 3, settings: settings)
        let allocator = try XCTUnwrap(net.rankAllocator)
        let T = 20, initial = 3 * adapters.count, target = adapters.count
        XCTAssertEqual(allocator.initialBudget, initial); XCTAssertEqual(allocator.targetBudget, target)
        var rng = SplitMix64(seed: 3)
        var expected: [RankAllocation] = []
        for t in 0..<(T + 2) {
            for p in net.trainables { for k in 0..<p.gradient.count { p.gradient.data[k] = Float(rng.nextUniform() - 0.5) } }
            for a in adapters { for i in 0..<a.E.count where a.E.data[i] == 0 { a.E.data[i] = 0.01 } }   // regrowth
            allocator.update(step: t, totalSteps: T)
            // PEFT: masks at tinit < t < T − tfinal when t % deltaT == 0, and once at t = T − tfinal
            if t > 2 && t < T - 3 && t % 2 == 0 {
                let mul = 1 - Double(t - 2) / Double(T - 3 - 2)
                expected.append(RankAllocation(step: t, budget: Int(Double(initial - target) * mul * mul * mul + Double(target)), kept: 0))
            } else if t == T - 3 {
                expected.append(RankAllocation(step: t, budget: target, kept: 0))
            }
            if t >= T - 3 {
                XCTAssertEqual(adapters.reduce(0) { $0 + $1.activeRank }, target, "step \(t): the final pattern holds")
            }
        }
        XCTAssertEqual(allocator.history.map(\.step), expected.map(\.step))
        XCTAssertEqual(allocator.history.map(\.budget), expected.map(\.budget))
        for h in allocator.history { XCTAssertEqual(h.kept, h.budget, "step \(h.step): distinct scores keep exactly the budget") }
        for t in 0...T {
            let (b, _) = settings.budget(step: t, totalSteps: T, initial: initial, target: target)
            XCTAssertTrue(b >= target && b <= initial)
        }
        XCTAssertThrowsError(try AdaLoRASettings(tinit: 10, tfinal: 10).validate(totalSteps: 20), "no steps left to cut the budget")
    }

    /// The triplet score is s(E_i) + mean_j s(A_ij) + mean_k s(B_ki), s = Ī · Ū, with Ī and Ū
    /// smoothed as PEFT smooths them: checked by hand on one update.
    func testImportanceAndScoreByHand() throws {
        let (net, adapters) = try network(rank: 2)
        let allocator = try XCTUnwrap(net.rankAllocator)
        var rng = SplitMix64(seed: 5)
        for p in net.trainables { for k in 0..<p.gradient.count { p.gradient.data[k] = Float(rng.nextUniform() - 0.5) } }
        allocator.updateImportance()
        allocator.updateImportance()   // same p and grad twice: Ī = (1 − β²) I, Ū = β(1−β)·β I + (1−β)|I − Ī|
        let a = adapters[0], b: Float = 0.85
        func s(_ p: Tensor, _ g: Tensor, _ k: Int) -> Float {
            let i = abs(p.data[k] * g.data[k])
            let m1 = (1 - b) * i, u1 = (1 - b) * abs(i - m1)
            let m2 = b * m1 + (1 - b) * i, u2 = b * u1 + (1 - b) * abs(i - m2)
            return m2 * u2
        }
        for i in 0..<a.rank {
            var sa: Float = 0; for j in 0..<a.inFeatures { sa += s(a.A, a.dA!, i * a.inFeatures + j) }
            var sb: Float = 0; for o in 0..<a.outFeatures { sb += s(a.B, a.dB!, o * a.rank + i) }
            let expected = s(a.E, a.dE!, i) + sa / Float(a.inFeatures) + sb / Float(a.outFeatures)
            XCTAssertEqual(allocator.tripletScores()[i], expected, accuracy: 1e-6 * max(1, expected))
        }
    }

    /// Merging folds s·B(A⊙E) into the base: the merged model predicts what the adapters did.
    func testMergeMatchesTheAdapters() throws {
        let (net, _) = try network()
        let head = net.addHead("t", kind: .classification, classes: 3)
        let batch = try tiny.batch([("the cat sat on a mat", nil)])
        let before = net.predict(batch, head: head)
        net.merge()
        let merged = net.predict(batch, head: head)
        net.unmerge()
        for (x, y) in zip(before, merged) { XCTAssertEqual(x, y, accuracy: 1e-5) }
    }

    /// A training run allocates after every step: its history is PEFT's schedule for that run.
    func testTrainingRunRecordsTheBudget() throws {
        let data = try TrainingTests.toyData(tiny, 32)
        var c = AdaptationConfig(mode: .adalora, rank: 3, targets: [.query, .value])
        c.adaLoRA = AdaLoRASettings(targetRank: 1)
        let net = try Network(model: tiny, adaptation: c, seed: 0)
        let head = net.addHead("toy", kind: .classification, classes: 2)
        let trainer = try Trainer(network: net, tasks: [TaskBinding(name: "toy", data: data, head: head)],
                                  config: TrainingConfig(epochs: 2, batchSize: 8, learningRate: 1e-2, seed: 0))
        let summary = trainer.run()
        let T = trainer.totalSteps, allocator = try XCTUnwrap(net.rankAllocator)
        XCTAssertEqual(summary.steps, T)
        XCTAssertEqual(allocator.history.map(\.step), Array(1..<T), "tinit = 0: every step after the first masks")
        XCTAssertEqual(allocator.history.last?.budget, allocator.targetBudget)
        XCTAssertEqual((net.adapters?.all ?? []).reduce(0) { $0 + $1.activeRank }, allocator.targetBudget)
    }
}

extension AdaLoRATests {
    /// A saved AdaLoRA run loads with its settings, its E (so its rank pattern) and its outputs;
    /// truncating it gives a LoRA run with the ranks in use.
    func testSaveLoadAndTruncate() throws {
        let (net, adapters) = try network(rank: 3)
        adapters[0].E.data[2] = 0; adapters[1].E.data[0] = 0; adapters[1].E.data[1] = 0
        let head = net.addHead("t", kind: .classification, classes: 3)
        let batch = try tiny.batch([("the cat sat on a mat", nil), ("big", nil)])
        let url = Fixtures.temporaryDirectory().appendingPathComponent("ada.safetensors")
        try AdapterFile.save(net, to: url)
        let loaded = try AdapterFile.load(url, model: tiny)
        XCTAssertEqual(loaded.adaptation, net.adaptation)
        XCTAssertEqual(loaded.adapters?.all.map(\.activeRank), net.adapters?.all.map(\.activeRank))
        XCTAssertEqual(loaded.adapters?.all.prefix(2).map(\.activeRank), [2, 1])
        XCTAssertEqual(loaded.predict(batch, head: loaded.heads[0]), net.predict(batch, head: head))
        let t = try Truncation.truncated(net, rule: .energy(1))
        XCTAssertEqual(t.adaptation.mode, .lora)
        XCTAssertEqual(t.adapters?.all.prefix(2).map(\.rank), [2, 1], "the ranks in use")
        for (x, y) in zip(t.predict(batch, head: t.heads[0]), net.predict(batch, head: head)) { XCTAssertEqual(x, y, accuracy: 1e-4) }
    }
}
