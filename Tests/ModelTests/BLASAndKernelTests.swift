// The fast paths against naive references: GEMM on odd shapes and all transposes, the element-wise
// kernels against exact maths in Double, and the OpenBLAS core-type repair.
import XCTest
import Foundation
@testable import Model
import CCompute

final class BLASAndKernelTests: XCTestCase {
    func random(_ n: Int, _ rng: inout SplitMix64, scale: Double = 1) -> Tensor {
        let t = Tensor(zeros: [n])
        for i in 0..<n { t.data[i] = Float((rng.nextUniform() * 2 - 1) * scale) }
        return t
    }

    func testGemmMatchesReferenceOnOddShapesAndTransposes() {
        var rng = SplitMix64(seed: 7)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 1, 33), (65, 31, 129), (2, 300, 5)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 1
                    let a = random((transA ? k : m) * lda, &rng), b = random((transB ? n : k) * ldb, &rng)
                    let c = random(m * ldc, &rng), ref = Tensor(zeros: [m * ldc])
                    ref.copy(from: c)
                    BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.7, a: a.data, lda: lda,
                              b: b.data, ldb: ldb, beta: 0.3, c: c.data, ldc: ldc)
                    BLAS.referenceGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.7, a: a.data, lda: lda,
                                       b: b.data, ldb: ldb, beta: 0.3, c: ref.data, ldc: ldc)
                    var worst: Float = 0
                    for i in 0..<m { for j in 0..<n { worst = max(worst, abs(c.data[i * ldc + j] - ref.data[i * ldc + j])) } }
                    XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot(), "m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB)")
                }
            }
        }
    }

    /// lorabook's rank-r product (LoRA's u = x Aᵀ and du = dy B) against the Double reference, on odd
    /// shapes: rows not even, ranks not a multiple of 4, K not a multiple of 16, strided X and C, alpha.
    func testRankProductMatchesReference() {
        var rng = SplitMix64(seed: 11)
        for (rows, r, K, ldx, ldc, alpha) in [(1, 1, 1, 1, 1, Float(1)), (7, 3, 37, 40, 5, 0.5), (64, 8, 384, 1152, 8, 2),
                                              (33, 16, 1536, 1536, 17, 1), (130, 5, 17, 20, 6, -1)] {
            let x = random(rows * ldx, &rng), w = random(r * K, &rng)
            let c = Tensor(zeros: [rows * ldc]), ref = Tensor(zeros: [rows * ldc])
            for i in 0..<(rows * ldc) { c.data[i] = 7; ref.data[i] = 7 }   // columns past r stay untouched
            BLAS.rankProduct(c.data, ldc: ldc, x: x.data, ldx: ldx, w: w.data, rows: rows, rank: r, k: K, alpha: alpha)
            BLAS.referenceGemm(transA: false, transB: true, m: rows, n: r, k: K, alpha: alpha, a: x.data, lda: ldx,
                               b: w.data, ldb: K, beta: 0, c: ref.data, ldc: ldc)
            var worst: Float = 0
            for i in 0..<(rows * ldc) { worst = max(worst, abs(c.data[i] - ref.data[i])) }
            XCTAssertLessThan(worst, 1e-5 * Float(K).squareRoot() * max(1, abs(alpha)), "rows \(rows) r \(r) K \(K)")
        }
    }

    /// The rank-r reduction (LoRA's dA += duᵀ x and dB += s dyᵀ u, the latter stored transposed)
    /// against the Double reference: accumulates into C, odd shapes, K not a multiple of 64, strides.
    func testRankAccumulateMatchesReference() {
        var rng = SplitMix64(seed: 12)
        for (rows, r, K, ldp, ldx, alpha, transposed) in [(1, 1, 1, 1, 1, Float(1), false), (37, 3, 70, 5, 80, 0.5, false),
                                                          (300, 8, 384, 8, 1152, 2, false), (129, 5, 1536, 5, 1536, 1, true),
                                                          (64, 16, 200, 16, 200, -1, true), (17, 1, 65, 2, 65, 1, true)] {
            let p = random(rows * ldp, &rng), x = random(rows * ldx, &rng)
            let ldc = transposed ? r + 2 : K + 3
            let count = transposed ? K * ldc : r * ldc
            let c = random(count, &rng), ref = Tensor(zeros: [count])
            ref.copy(from: c)
            BLAS.rankAccumulate(c.data, ldc: ldc, transposedC: transposed, p: p.data, ldp: ldp, x: x.data, ldx: ldx, rows: rows, rank: r, k: K, alpha: alpha)
            if transposed {   // C (K, r) += alpha · Xᵀ P
                BLAS.referenceGemm(transA: true, transB: false, m: K, n: r, k: rows, alpha: alpha, a: x.data, lda: ldx, b: p.data, ldb: ldp, beta: 1, c: ref.data, ldc: ldc)
            } else {          // C (r, K) += alpha · Pᵀ X
                BLAS.referenceGemm(transA: true, transB: false, m: r, n: K, k: rows, alpha: alpha, a: p.data, lda: ldp, b: x.data, ldb: ldx, beta: 1, c: ref.data, ldc: ldc)
            }
            var worst: Float = 0
            for i in 0..<count { worst = max(worst, abs(c.data[i] - ref.data[i])) }
            XCTAssertLessThan(worst, 1e-5 * Float(rows).squareRoot() * max(1, abs(alpha)), "rows \(rows) r \(r) K \(K) transposed \(transposed)")
        }
    }

    /// OpenBLAS runs with real kernels: never a generic fallback on a CPU with AVX2, whatever it
    /// detected, nor AVX2 kernels on an AVX-512 CPU (even when OPENBLAS_CORETYPE says so, as it does
    /// in some of this project's environments), unless LORABOOK_BLAS_CORE forces a core; the core is
    /// reported with where it came from.
    func testBLASRunsWithAProperCoreType() {
        print("BLAS: \(BLAS.summary)")  // visible in the test log, so a regression shows
        let generic = ["Prescott", "Katmai", "Coppermine", "Northwood", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom", "Barcelona"]
        if cpuHasAVX2() && BLAS.coreOrigin != .forced {
            XCTAssertFalse(generic.contains(BLAS.coreName), "OpenBLAS runs generic \(BLAS.coreName) kernels on an AVX2 CPU")
        }
        if cpuHasAVX512() && BLAS.coreOrigin != .forced {
            XCTAssertTrue(["SkylakeX", "Cooperlake", "SapphireRapids"].contains(BLAS.coreName),
                          "OpenBLAS runs \(BLAS.coreName) kernels on an AVX-512 CPU (\(BLAS.summary))")
        }
        if BLAS.coreOrigin == .replacedUserSetting { XCTAssertNotNil(BLAS.userCoreSetting) }
        if BLAS.coreOrigin == .repaired { XCTAssertNotEqual(BLAS.detectedCoreName, BLAS.coreName) }
        XCTAssertGreaterThanOrEqual(BLAS.threads, 1)
    }

    /// The switching mechanism itself (what the repair uses), checked on any CPU: switch to
    /// Prescott and back, with correct products on both.
    func testCoreSwitchingMechanism() {
        let original = BLAS.coreName
        defer { _ = lb_blas_select_core(original); XCTAssertEqual(BLAS.coreName, original) }
        XCTAssertEqual(String(cString: lb_blas_select_core("Prescott")), "Prescott")
        var rng = SplitMix64(seed: 3)
        let a = random(40 * 30, &rng), b = random(30 * 20, &rng), c = Tensor(zeros: [800]), r = Tensor(zeros: [800])
        BLAS.gemm(m: 40, n: 20, k: 30, a: a.data, lda: 30, b: b.data, ldb: 20, c: c.data, ldc: 20)
        BLAS.referenceGemm(transA: false, transB: false, m: 40, n: 20, k: 30, alpha: 1, a: a.data, lda: 30, b: b.data, ldb: 20, beta: 0, c: r.data, ldc: 20)
        for i in 0..<800 { XCTAssertEqual(c.data[i], r.data[i], accuracy: 1e-4) }
    }

    func cpuHasAVX512() -> Bool {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy { info.contains(" \($0)") }
    }

    func cpuHasAVX2() -> Bool {
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" avx2") ?? false
    }

    /// The worst error of an elementwise kernel over n evenly spaced points of [low, high].
    func worstError(_ n: Int, from low: Double, to high: Double, _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void,
                    error: (_ x: Double, _ y: Double) -> Double) -> Double {
        let x = Tensor(zeros: [n]), y = Tensor(zeros: [n])
        for i in 0..<n { x.data[i] = Float(low + (high - low) * Double(i) / Double(n - 1)) }
        kernel(x.data, y.data, n)
        return (0..<n).map { error(Double(x.data[$0]), Double(y.data[$0])) }.max()!
    }

    func testGeluMatchesExactErfGelu() {
        let worst = worstError(20001, from: -10, to: 10, { Compute.gelu($0, into: $1, count: $2) }) { x, y in
            abs(y - 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())))
        }
        XCTAssertLessThan(worst, 2e-6, "GELU worst abs error")
    }

    func testExpIsAccurate() {
        let worst = worstError(4001, from: -80, to: 80, { Compute.exp($0, into: $1, count: $2) }) { x, y in abs(y / Foundation.exp(x) - 1) }
        XCTAssertLessThan(worst, 3e-7, "exp worst relative error")
    }

    func testMaskedSoftmaxRows() {
        let rows = 3, cols = 6, ld = 7
        let x = Tensor(zeros: [rows * ld])
        for i in 0..<x.count { x.data[i] = Float(i % 5) - 2 }
        let original = x.toArray()
        Compute.softmaxRows(x.data, rows: rows, cols: cols, ld: ld, valid: 4)
        for r in 0..<rows {
            let row = (0..<4).map { Double(original[r * ld + $0]) }
            let mx = row.max()!, z = row.map { Foundation.exp($0 - mx) }.reduce(0, +)
            for c in 0..<4 { XCTAssertEqual(Double(x.data[r * ld + c]), Foundation.exp(row[c] - mx) / z, accuracy: 1e-6) }
            for c in 4..<cols { XCTAssertEqual(x.data[r * ld + c], 0, "masked keys are exactly 0") }
            XCTAssertEqual(x.data[r * ld + 6], original[r * ld + 6], "the stride gap is untouched")
        }
    }

    func testLayerNormWithResidualAndBias() {
        var rng = SplitMix64(seed: 11)
        let rows = 5, C = 37
        let x = random(rows * C, &rng, scale: 3), res = random(rows * C, &rng), bias = random(C, &rng)
        let gamma = random(C, &rng), beta = random(C, &rng)
        let y = Tensor(zeros: [rows * C]), mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows])
        let x0 = x.toArray()
        Compute.layerNorm(x: x.data, residual: res.data, bias: bias.data, gamma: gamma.data, beta: beta.data, into: y.data,
                          mean: mean.data, rstd: rstd.data, rows: rows, width: C, eps: 1e-12)
        for r in 0..<rows {
            let s = (0..<C).map { Double(x0[r * C + $0]) + Double(res.data[r * C + $0]) + Double(bias.data[$0]) }
            let m = s.reduce(0, +) / Double(C)
            let v = s.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(C)
            XCTAssertEqual(Double(mean.data[r]), m, accuracy: 1e-5)
            XCTAssertEqual(Double(rstd.data[r]), 1 / v.squareRoot(), accuracy: 1e-4)
            for c in 0..<C {
                XCTAssertEqual(Double(x.data[r * C + c]), s[c], accuracy: 1e-5, "x keeps the sum")
                XCTAssertEqual(Double(y.data[r * C + c]), (s[c] - m) / v.squareRoot() * Double(gamma.data[c]) + Double(beta.data[c]), accuracy: 1e-4)
            }
        }
    }

    /// The GEMM profiler used by `bench` counts calls and FLOPs per shape.
    func testGemmProfilerCountsCallsAndFlops() {
        let a = Tensor(zeros: [6]), b = Tensor(zeros: [6]), c = Tensor(zeros: [4])
        let p = GemmProfiler()
        BLAS.profiler = p
        defer { BLAS.profiler = nil }
        for _ in 0..<3 { BLAS.gemm(m: 2, n: 2, k: 3, a: a.data, lda: 3, b: b.data, ldb: 2, c: c.data, ldc: 2) }
        XCTAssertEqual(p.entries[GemmShape(transA: false, transB: false, m: 2, n: 2, k: 3)]?.calls, 3)
        XCTAssertEqual(p.totalFlops, 3 * 2 * 2 * 2 * 3)
    }
}
