// DoRA (Liu et al., 2024; PEFT semantics): LoRA's low-rank path inside a magnitude × direction
// split of the weight,
//   y = g ⊙ (W0 x + s · B (A x)),  g = m / n,  n[o] = ‖W0[o,:] + s (BA)[o,:]‖₂,
// n recomputed every forward from the current A and B and treated as a constant in backward (PEFT;
// DoRA paper §4.3). Backward: dm += Σ_rows dy ⊙ z / n (z = W0 x + s B A x, cached); dz = g ⊙ dy,
// then LoRA's backward with dz. Adapter dropout is not supported (AdaptationConfig.validate).
import Foundation
import CCompute

final class DoRAAdapter: LowRankAdapter, @unchecked Sendable {
    private var m: Tensor { extra!.tensor }            // (out) magnitude
    var dMagnitude: Tensor? { dExtra }
    private var z = FloatBuffer(count: 0)              // (N, out) pre-scaling output
    let norm: Tensor, gain: Tensor                     // (out) n and g = m / n
    private let merged: Tensor                         // (out, in) W0 + s BA, scratch
    /// Holds n at its last value (finite-difference checks of the detached-norm gradient).
    var freezesNorm = false

    init(layer: Int, target: AdapterTarget, config: AdaptationConfig, shape: (inFeatures: Int, outFeatures: Int)) {
        norm = Tensor(zeros: [shape.outFeatures]); gain = Tensor(zeros: [shape.outFeatures])
        merged = Tensor(zeros: [shape.outFeatures * shape.inFeatures])
        super.init(layer: layer, target: target, config: config, shape: shape, extra: ("magnitude", shape.outFeatures))
    }

    override var magnitude: Tensor? { m }
    override var scalesGradient: Bool { true }
    /// LoRA's initialisation, then m = ‖W0‖_row.
    override func initialize(base W0: UnsafePointer<Float>, rng: inout SplitMix64) {
        super.initialize(base: W0, rng: &rng)
        resetMagnitude(base: W0)
    }

    /// m = ‖W0 + s BA‖_row (what PEFT does at injection; with B = 0 it is ‖W0‖_row).
    func resetMagnitude(base W0: UnsafePointer<Float>) {
        computeNorm(base: W0)
        m.copy(from: norm)
    }

    /// n[o] = ‖W0[o,:] + s (BA)[o,:]‖₂ into `norm`; g = m / n into `gain`.
    func computeNorm(base W0: UnsafePointer<Float>) {
        let W = merged.data
        W.update(from: W0, count: outFeatures * inFeatures)
        BLAS.gemm(m: outFeatures, n: inFeatures, k: rank, alpha: scaling, a: B.data, lda: rank, b: A.data, ldb: inFeatures,
                  beta: 1, c: W, ldc: inFeatures)
        for o in 0..<outFeatures {
            let row = W + o * inFeatures
            var s: Float = 0
            for i in 0..<inFeatures { s += row[i] * row[i] }
            norm.data[o] = s.squareRoot()
        }
        for o in 0..<outFeatures { gain.data[o] = m.data[o] / norm.data[o] }
    }

    override func reserve(rows N: Int) {
        super.reserve(rows: N)
        ensure(&z, N * outFeatures)
    }

    override func finishForward(y: UnsafeMutablePointer<Float>, ldy: Int, rows N: Int, base W0: UnsafePointer<Float>) {
        if freezesNorm {
            for o in 0..<outFeatures { gain.data[o] = m.data[o] / norm.data[o] }
        } else {
            computeNorm(base: W0)
        }
        ensure(&z, N * outFeatures)
        for r in 0..<N { (z.base + r * outFeatures).update(from: y + r * ldy, count: outFeatures) }
        lb_scale_columns(y, gain.data, N, outFeatures, ldy)
    }

    /// dm += Σ_rows dy ⊙ z / n, then dy ← g ⊙ dy (= dz) in place.
    override func scaleGradient(dy: UnsafeMutablePointer<Float>, ldy: Int, rows N: Int) {
        if let dm = dMagnitude {
            for r in 0..<N {
                let dyr = dy + r * ldy, zr = z.base + r * outFeatures
                for o in 0..<outFeatures { dm.data[o] += dyr[o] * zr[o] / norm.data[o] }
            }
        }
        lb_scale_columns(dy, gain.data, N, outFeatures, ldy)
    }

    /// W0 ← g ⊙ (W0 + s BA) row-wise.
    override func merge(into W0: UnsafeMutablePointer<Float>) {
        keepBackup(of: W0)
        computeNorm(base: W0)
        for o in 0..<outFeatures { for i in 0..<inFeatures { W0[o * inFeatures + i] = merged.data[o * inFeatures + i] * gain.data[o] } }
    }

    override var cacheBytes: Int { super.cacheBytes + (z.count + merged.count) * 4 }
}
