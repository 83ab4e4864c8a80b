// Finite-difference checks on a tiny BERT (hidden 8, 2 heads, 2 layers): end to end for every
// adaptation mode and target set, with and without dropout, for every head kind; plus the element-wise
// backward kernels alone.
import XCTest
@testable import Model
import CCompute

final class GradientCheckTests: XCTestCase {
    static let tiny = Fixtures.tinyModel(seed: 5)

    /// Sequences of different lengths (packing) and a pair (token types).
    func batch() throws -> TokenBatch {
        try Self.tiny.batch([("the cat sat on a mat", nil), ("a dog is running", "the cat is small"), ("big", nil)])
    }

    func check(_ config: AdaptationConfig, kind: HeadKind = .classification, dropout: Bool = false, loss: RegressionLoss = .mse, pooled: Bool = false,
               tolerance: Double = 2e-2, file: StaticString = #filePath, line: UInt = #line) throws {
        let net = try Network(model: Self.tiny, adaptation: config, seed: 3)
        net.hiddenDropout = dropout ? 0.1 : 0
        net.attentionDropout = dropout ? 0.1 : 0
        let head = net.addHead("task", kind: kind, classes: 3, pooled: pooled)
        head.regressionLoss = loss
        // LoRA's B starts at zero, which hides A's gradient: give the adapters non-zero values.
        var rng = SplitMix64(seed: 4)
        for a in net.adapters?.all ?? [] {
            for i in 0..<a.B.count { a.B.data[i] = Float(rng.nextUniform() - 0.5) * 0.5 }
            (a as? DoRAAdapter)?.resetMagnitude(base: net.model.parameters.linearWeight(a.target, layer: a.layer))
            if let m = a.magnitude { for i in 0..<m.count { m.data[i] *= Float(0.8 + 0.4 * rng.nextUniform()) } }
            // AdaLoRA's E starts at zero too, which hides A's and B's gradients
            if let ada = a as? AdaLoRAAdapter { for i in 0..<ada.E.count { ada.E.data[i] = Float(rng.nextUniform() - 0.5) } }
        }
        let targets: BatchLabels = kind == .classification ? .classes([0, 2, 1]) : .values(kind == .binary ? [1, 0, 1] : [4.2, 0.5, 2.5])
        let report = GradientCheck.run(net, batch: try batch(), head: head, labels: targets, samples: 5)
        print("gradient check \(config.mode) \(config.targets.map(\.rawValue)) dropout=\(dropout) \(kind)\(pooled ? " pooled" : ""): \(report)")
        if pooled && config.mode == .full {
            XCTAssertTrue(net.trainables.contains { $0.name == "pooler.dense.weight" }, "full fine-tuning trains the pooler a pooled head reads", file: file, line: line)
        }
        XCTAssertGreaterThanOrEqual(report.checked, 8, file: file, line: line)
        XCTAssertLessThan(report.worstRelativeError, tolerance, "\(config.mode) \(config.targets.map(\.rawValue)) dropout=\(dropout): \(report)", file: file, line: line)
    }

    func testFullFineTuningEndToEnd() throws {
        try check(AdaptationConfig(mode: .full))
        try check(AdaptationConfig(mode: .full), dropout: true)
    }

    func testHeadOnly() throws {
        try check(AdaptationConfig(mode: .head))
    }

    func testLoRAOnEveryTargetSet() throws {
        for set in ["attention", "qkv", "attention-all", "all-linear"] {
            try check(AdaptationConfig(mode: .lora, rank: 2, targets: try AdapterTarget.parse(set)))
        }
        try check(AdaptationConfig(mode: .lora, rank: 2, dropout: 0.2, targets: AdapterTarget.encoder), dropout: true)
        try check(AdaptationConfig(mode: .lora, rank: 3, targets: [.output], layers: [1], rsLoRA: true))
    }

    func testAdaLoRAOnEveryTargetSet() throws {
        for set in ["attention", "all-linear"] {
            var c = AdaptationConfig(mode: .adalora, rank: 3, targets: try AdapterTarget.parse(set))
            c.adaLoRA = AdaLoRASettings(targetRank: 2)
            try check(c)
        }
        try check(AdaptationConfig(mode: .adalora, rank: 2, dropout: 0.2, targets: AdapterTarget.encoder), dropout: true)
        try check(AdaptationConfig(mode: .adalora, rank: 2, targets: [.query, .pooler]), pooled: true)
    }

    func testDoRAOnEveryTargetSet() throws {
        for set in ["attention", "attention-all", "all-linear"] {
            try check(AdaptationConfig(mode: .dora, rank: 2, targets: try AdapterTarget.parse(set)))
        }
        try check(AdaptationConfig(mode: .dora, rank: 2, targets: AdapterTarget.encoder), dropout: true)
    }

    /// Heads on the pooled output (HF's BertForSequenceClassification): through tanh and the pooler,
    /// with an adapter on the pooler itself, and the pooler's own weights in full fine-tuning.
    func testPooledHeads() throws {
        try check(AdaptationConfig(mode: .lora, rank: 2, targets: [.query, .value, .pooler]), pooled: true)
        try check(AdaptationConfig(mode: .dora, rank: 2, targets: AdapterTarget.encoder + [.pooler]), pooled: true)
        try check(AdaptationConfig(mode: .lora, rank: 2, dropout: 0.2, targets: [.pooler]), dropout: true, pooled: true)
        try check(AdaptationConfig(mode: .full), pooled: true)
        try check(AdaptationConfig(mode: .full), kind: .regression, pooled: true)
        try check(AdaptationConfig(mode: .head), pooled: true)
    }

    func testBinaryAndRegressionHeads() throws {
        try check(AdaptationConfig(mode: .lora, rank: 2, targets: AdapterTarget.encoder), kind: .binary)
        try check(AdaptationConfig(mode: .full), kind: .regression)
    }

    /// loss=pearson (1 − the batch's Pearson r), through the network and alone in Double.
    func testPearsonLoss() throws {
        // a correlation over 3 examples is strongly curved: float32 central differences of its small
        // gradients are noisier than MSE's (the loss alone is checked in Double below, at 1e-5)
        try check(AdaptationConfig(mode: .lora, rank: 2, targets: AdapterTarget.encoder), kind: .regression, loss: .pearson, tolerance: 3e-2)
        try check(AdaptationConfig(mode: .full), kind: .regression, loss: .pearson)
        let o: [Float] = [0.3, -1.2, 2.0, 0.7, 1.1], y: [Float] = [1, 0.5, 4, 2.5, 3]
        let (loss, grad) = Loss.pearson(o, targets: y)
        func r(_ x: [Double]) -> Double {
            let yd = y.map(Double.init), n = Double(x.count)
            let mx = x.reduce(0, +) / n, my = yd.reduce(0, +) / n
            var sxy = 0.0, sxx = 0.0, syy = 0.0
            for i in x.indices { sxy += (x[i] - mx) * (yd[i] - my); sxx += (x[i] - mx) * (x[i] - mx); syy += (yd[i] - my) * (yd[i] - my) }
            return sxy / (sxx * syy).squareRoot()
        }
        let x = o.map(Double.init)
        XCTAssertEqual(Double(loss), 1 - r(x), accuracy: 1e-6)
        for i in x.indices {
            var plus = x, minus = x
            plus[i] += 1e-5; minus[i] -= 1e-5
            let numeric = ((1 - r(plus)) - (1 - r(minus))) / 2e-5
            XCTAssertEqual(Double(grad[i]), numeric, accuracy: 1e-5, "∂L/∂o\(i)")
        }
        // nothing to correlate: a batch of one, constant targets
        XCTAssertEqual(Loss.pearson([1], targets: [2]).0, 0)
        XCTAssertEqual(Loss.pearson([1, 2], targets: [3, 3]).1, [0, 0])
    }

    /// The cosine head: two pairs as four separately encoded sequences, through mean pooling.
    func testCosineSimilarityHead() throws {
        for config in [AdaptationConfig(mode: .lora, rank: 2, targets: AdapterTarget.encoder), AdaptationConfig(mode: .full)] {
            let net = try Network(model: Self.tiny, adaptation: config, seed: 3)
            net.hiddenDropout = 0.1; net.attentionDropout = 0.1
            var rng = SplitMix64(seed: 4)
            for a in net.adapters?.all ?? [] { for i in 0..<a.B.count { a.B.data[i] = Float(rng.nextUniform() - 0.5) * 0.5 } }
            let head = net.addHead("sts", kind: .cosine)
            let t = Self.tiny.tokenizer
            let batch = TokenBatch([try t.encode("the cat sat"), try t.encode("a dog is running on a mat"), try t.encode("the mat"), try t.encode("big dog")])
            let report = GradientCheck.run(net, batch: batch, head: head, labels: .values([4.5, 1.0]), samples: 5)
            print("gradient check cosine head \(config.mode): \(report)")
            XCTAssertLessThan(report.worstRelativeError, 2e-2, "\(config.mode): \(report)")
            XCTAssertEqual(net.trainables.filter { $0.name.hasPrefix("heads.") }.count, 0, "a cosine head has no weights")
        }
    }

    // MARK: kernels alone: L = Σ w ⊙ f(x) in Double, central differences per input

    func kernelCheck(_ n: Int, forward: ([Float]) -> [Float], backward: ([Float], [Float]) -> [Float], eps: Float = 1e-2) -> Double {
        var rng = SplitMix64(seed: 8)
        let x = (0..<n).map { _ in Float(rng.nextUniform() * 4 - 2) }
        let y0 = forward(x)
        let w = (0..<y0.count).map { _ in Float(rng.nextUniform() * 2 - 1) }
        func L(_ x: [Float]) -> Double { zip(forward(x), w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        let g = backward(x, w)
        var worst = 0.0
        for i in 0..<n {
            var xp = x, xm = x
            xp[i] += eps; xm[i] -= eps
            let num = (L(xp) - L(xm)) / Double(2 * eps)
            worst = max(worst, abs(num - Double(g[i])) / (abs(num) + abs(Double(g[i])) + 1e-3))
        }
        return worst
    }

    func testLayerNormGeluSoftmaxBackwardKernels() {
        let rows = 3, C = 7
        let gamma = (0..<C).map { Float(0.5 + 0.1 * Double($0)) }, beta = [Float](repeating: 0.1, count: C)
        let ln = kernelCheck(rows * C, forward: { x in
            var x = x; var y = [Float](repeating: 0, count: x.count)
            lb_layernorm(&y, &x, nil, nil, gamma, beta, nil, nil, rows, C, 1e-12)
            return y
        }, backward: { x, dy in
            var x = x; var y = [Float](repeating: 0, count: x.count), mean = [Float](repeating: 0, count: rows), rstd = mean
            lb_layernorm(&y, &x, nil, nil, gamma, beta, &mean, &rstd, rows, C, 1e-12)
            var dx = [Float](repeating: 0, count: x.count)
            lb_layernorm_backward(&dx, dy, x, mean, rstd, gamma, rows, C, 0)
            return dx
        })
        XCTAssertLessThan(ln, 5e-3, "LayerNorm backward")
        let gelu = kernelCheck(40, forward: { x in var y = x; lb_gelu(&y, x, x.count); return y },
                               backward: { x, dy in var d = dy; lb_gelu_backward(&d, dy, x, x.count); return d }, eps: 1e-3)
        XCTAssertLessThan(gelu, 5e-3, "GELU backward")
        let L = 5
        let softmax = kernelCheck(2 * L, forward: { x in
            var y = x; lb_softmax_rows(&y, 2, L, L, L); return y
        }, backward: { x, dy in
            var p = x; lb_softmax_rows(&p, 2, L, L, L)
            var ds = [Float](repeating: 0, count: x.count)
            lb_softmax_backward(&ds, p, dy, 2, L, 1)
            return ds
        })
        XCTAssertLessThan(softmax, 5e-3, "softmax backward")
    }
}
