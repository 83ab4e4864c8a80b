// Mixed precision (amp): bf16 rounding, the bf16 product on both backends against a Double
// reference, and amp forward/backward on the real model against fp32 within bf16's precision.
import XCTest
import Foundation
import CCompute
@testable import Model

final class AmpTests: XCTestCase {
    override func tearDown() { BF16.useAutomatic() }

    func testRoundingIsNearestEven() {
        XCTAssertEqual(BF16.round(1), 1)
        XCTAssertEqual(BF16.round(1 + 1.0 / 256), 1, "a tie rounds to the even mantissa")
        XCTAssertEqual(BF16.round(1 + 3.0 / 256), 1 + 4.0 / 256, "a tie rounds up to the even mantissa")
        XCTAssertEqual(BF16.round(1 + 1.0 / 256 + 1.0 / 4096), 1 + 2.0 / 256, "above the tie rounds up")
        XCTAssertEqual(BF16.round(-2.5), -2.5)
        XCTAssertTrue(BF16.round(.nan).isNaN)
        XCTAssertEqual(BF16.round(.infinity), .infinity)
        XCTAssertEqual(BF16.round(.greatestFiniteMagnitude), .infinity, "the largest floats round to infinity, as in torch")
    }

    /// Random values already representable in bf16, so that the Double reference sees the same inputs.
    func bf16Matrix(_ n: Int, seed: UInt64) -> (half: [UInt16], wide: [Float]) {
        var rng = SplitMix64(seed: seed)
        let wide = (0..<n).map { _ in BF16.round(Float(rng.nextUniform() * 2 - 1)) }
        var half = [UInt16](repeating: 0, count: n)
        lb_f32_to_bf16(&half, wide, n)
        return (half, wide)
    }

    func checkProducts(_ backend: BF16.Backend) {
        let used = BF16.use(backend)
        XCTAssertEqual(used, backend, "backend \(backend) is not available: \(BF16.note)")
        for (ta, tb, m, n, k, beta) in [(false, true, 37, 29, 53, Float(0)), (false, false, 64, 3, 130, 1),
                                        (true, false, 17, 40, 33, 1), (true, true, 5, 7, 300, 0), (false, true, 1, 1, 1, 0)] {
            let (a, aw) = bf16Matrix(m * k, seed: 1), (b, bw) = bf16Matrix(k * n, seed: 2)
            var c = (0..<(m * n)).map { Float($0 % 7) * 0.25 }
            var ref = c
            let lda = ta ? m : k, ldb = tb ? k : n
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                BF16.gemm(transA: ta, transB: tb, m: m, n: n, k: k, a: ap.baseAddress!, lda: lda,
                          b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: n)
            } } }
            aw.withUnsafeBufferPointer { ap in bw.withUnsafeBufferPointer { bp in ref.withUnsafeMutableBufferPointer { rp in
                BLAS.referenceGemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: ap.baseAddress!, lda: lda,
                                   b: bp.baseAddress!, ldb: ldb, beta: beta, c: rp.baseAddress!, ldc: n)
            } } }
            let err = zip(c, ref).map { abs(Double($0) - Double($1)) }.max()!
            XCTAssertLessThan(err, 1e-4 * Double(k).squareRoot(), "\(backend) \(ta ? "T" : "N")\(tb ? "T" : "N") \(m)×\(n)×\(k)")
        }
    }

    func testReferenceProductsMatchDouble() { checkProducts(.reference) }

    /// Where the CPU has bf16 instructions the fast backend must load (setup installs libdnnl-dev) and
    /// agree with the reference; elsewhere amp must say that it runs without a speed-up.
    func testHardwareBackendWhereTheCPUHasBF16() {
        BF16.use(.oneDNN)
        if cpuHasBF16() {
            XCTAssertEqual(BF16.backend, .oneDNN, BF16.note)
            checkProducts(.oneDNN)
            XCTAssertTrue(BF16.note.hasPrefix("oneDNN"), BF16.note)
        } else if BF16.backend == .oneDNN {
            // asked for by name on a CPU without bf16 instructions (a Zen 3 EPYC here): oneDNN emulates
            // them, says so, and still agrees with the reference
            XCTAssertTrue(BF16.note.contains("without bf16 instructions (emulated)"), BF16.note)
            checkProducts(.oneDNN)
        } else {
            XCTAssertTrue(BF16.note.contains("no speed-up"), BF16.note)
        }
    }

    func cpuHasBF16() -> Bool {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.contains(" avx512_bf16") || info.contains(" amx_bf16")
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) { ab += Double(x) * Double(y); aa += Double(x) * Double(x); bb += Double(y) * Double(y) }
        return ab / max((aa * bb).squareRoot(), 1e-30)
    }

    func testAmpForwardIsCloseToFP32() throws {
        let model = try Fixtures.model.get()
        let batch = try model.batch([("a gripping , funny and moving film .", nil), ("the plot is thin and the jokes fall flat", nil)])
        let fp32 = model.forward(batch, activations: nil, options: EncoderOptions()).hidden(1)
        let amp = model.forward(batch, activations: nil, options: EncoderOptions(amp: true)).hidden(1)
        let rel = zip(fp32, amp).map { abs(Double($0) - Double($1)) }.max()! / fp32.map { abs(Double($0)) }.max()!
        XCTAssertLessThan(rel, 0.03, "amp changes the hidden states by more than bf16 precision explains")
        XCTAssertGreaterThan(rel, 0, "amp must actually round (bf16), not run fp32")
        XCTAssertGreaterThan(cosine(fp32, amp), 0.999)
    }

    /// One training step in amp and in fp32 from the same start: the loss within 1%, every gradient
    /// pointing the same way (cosine > 0.98) with a norm within 5%. LoRA, DoRA on all linear layers
    /// and full fine-tuning cover every bf16 path of backward (adapters on inputs kept only in bf16).
    func testAmpGradientsFollowFP32() throws {
        let model = try Fixtures.model.get()
        let batch = try model.batch([("a gripping , funny and moving film .", nil), ("the plot is thin", nil),
                                     ("neither good nor bad , just long", nil)])
        for config in [AdaptationConfig(mode: .lora, rank: 4, targets: AdapterTarget.encoder),
                       AdaptationConfig(mode: .dora, rank: 2, targets: AdapterTarget.encoder),
                       AdaptationConfig(mode: .full)] {
            var results: [(loss: Float, grads: [String: [Float]])] = []
            for amp in [false, true] {
                var c = config; c.amp = amp
                let net = try Network(model: model, adaptation: c, seed: 3)
                net.hiddenDropout = 0; net.attentionDropout = 0
                for a in net.adapters?.all ?? [] { for i in 0..<a.B.count { a.B.data[i] = 0.01 * Float(i % 5) - 0.02 } }
                let head = net.addHead("sst", kind: .classification, classes: 5)
                net.zeroGradients()
                let (loss, _) = net.lossAndGradients(batch, head: head, labels: .classes([4, 0, 2]), stepSeed: 1)
                var grads: [String: [Float]] = [:]
                for t in net.trainables { grads[t.name] = t.gradient.toArray() }
                results.append((loss, grads))
            }
            let (f, a) = (results[0], results[1])
            XCTAssertEqual(Double(a.loss), Double(f.loss), accuracy: 0.01 * Double(f.loss), "\(config.mode) loss")
            var worst = 1.0
            for (name, g) in f.grads {
                let h = try XCTUnwrap(a.grads[name])
                let n1 = g.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot(), n2 = h.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                guard n1 > 1e-7 else { continue }
                let cos = cosine(g, h)
                worst = min(worst, cos)
                XCTAssertGreaterThan(cos, 0.98, "\(config.mode) \(name): gradient direction")
                XCTAssertEqual(n2, n1, accuracy: 0.05 * n1, "\(config.mode) \(name): gradient norm")
            }
            XCTAssertLessThan(worst, 1 - 1e-9, "\(config.mode): amp gradients identical to fp32 — bf16 not in use")
        }
    }

    func testAmpMemoryIsSmallerThanFP32() throws {
        let model = try Fixtures.model.get()
        let batch = try model.batch((0..<8).map { ("sentence number \($0) is a little longer than the one before it", nil) })
        var bytes: [Int] = []
        for amp in [false, true] {
            let net = try Network(model: model, adaptation: AdaptationConfig(mode: .lora, rank: 8, amp: amp))
            let head = net.addHead("sst", kind: .classification, classes: 5)
            _ = net.lossAndGradients(batch, head: head, labels: .classes(Array(repeating: 1, count: 8)), stepSeed: 0)
            bytes.append(net.memory(optimizer: nil).activations)
        }
        XCTAssertLessThan(Double(bytes[1]), 0.8 * Double(bytes[0]), "amp keeps the linear inputs in bf16: activations \(bytes)")
    }
}
