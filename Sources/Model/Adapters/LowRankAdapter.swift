// One LoRA or DoRA adapter on one linear layer [out, in] of the frozen base.
//
//   LoRA  y = W0 x + s · B (A x̃)                     x̃ = dropout(x); A [r, in], B [out, r]
//   DoRA  y = g ⊙ (W0 x + s · B (A x)),  g = m / n,  n[o] = ‖W0[o,:] + s (BA)[o,:]‖₂
// (bias added by the caller afterwards, unscaled). n is recomputed every forward from the current
// A, B and treated as a constant in backward (PEFT; DoRA paper §4.3).
//
// Backward, given dy (N, out) = ∂L/∂y before the bias:
//   DoRA  dm += Σ_rows dy ⊙ z / n  (z = W0 x + s B A x, cached);  dz = g ⊙ dy, then as LoRA with dz
//   LoRA  dB += s dyᵀ u  (u = A x̃, cached);  du = s dy B;  dA += duᵀ x̃;  dx += dropout'(du A)
// The base path dx += dz W0 is the caller's (one GEMM for the whole linear layer).
// AdaLoRA (AdaLoRAAdapter, a subclass) scales the codes u by its singular values E between A and B.
import Foundation
import CKernels

public class LowRankAdapter: @unchecked Sendable {
    public let layer: Int
    public let target: AdapterTarget
    public let isDoRA: Bool
    public let rank: Int
    public let scaling: Float
    public let dropout: Float
    public let inFeatures: Int, outFeatures: Int
    public let A: Tensor, B: Tensor
    public let magnitude: Tensor?
    public var dA: Tensor?, dB: Tensor?, dMagnitude: Tensor?

    // Per-forward caches, grown to the batch.
    private(set) var u = FloatBuffer(count: 0)        // (N, r)
    private(set) var xd = FloatBuffer(count: 0)       // (N, in) dropped input (LoRA dropout only)
    private(set) var z = FloatBuffer(count: 0)        // (N, out) DoRA: pre-scaling output
    private(set) var du = FloatBuffer(count: 0)       // (N, r) backward scratch
    let Bt: Tensor                                    // (r, out) Bᵀ, backward scratch for du = dy B
    let norm: Tensor, gain: Tensor                    // (out) DoRA: n and g = m / n
    let merged: Tensor                                // (out, in) DoRA: W0 + s BA, scratch
    private var backup: Tensor?                       // W0 rows while merged
    var dropoutSeed: UInt64 = 0
    /// Holds n at its last value (finite-difference checks of the detached-norm gradient).
    var freezesNorm = false

    init(layer: Int, target: AdapterTarget, config: AdaptationConfig, shape: (inFeatures: Int, outFeatures: Int)) {
        self.layer = layer; self.target = target
        isDoRA = config.mode == .dora
        let name = AdaptationConfig.adapterName(layer: layer, target: target)
        rank = config.rank(for: name); scaling = config.scaling(for: name); dropout = config.dropout
        inFeatures = shape.inFeatures; outFeatures = shape.outFeatures
        A = Tensor(zeros: [rank, inFeatures])
        B = Tensor(zeros: [outFeatures, rank])
        magnitude = isDoRA ? Tensor(zeros: [outFeatures]) : nil
        norm = Tensor(zeros: [isDoRA ? outFeatures : 0])
        gain = Tensor(zeros: [isDoRA ? outFeatures : 0])
        merged = Tensor(zeros: [isDoRA ? outFeatures * inFeatures : 0])
        Bt = Tensor(zeros: [rank, outFeatures])
    }

    public var parameterCount: Int { A.count + B.count + (magnitude?.count ?? 0) }

    /// The tensors that train, with their names in a lorabook adapter file (`lora_A`, `lora_B`,
    /// `magnitude`; AdaLoRA adds `lora_E`) and their gradients once training set them.
    public var trainableTensors: [(name: String, parameter: Tensor, gradient: Tensor?)] {
        var list: [(name: String, parameter: Tensor, gradient: Tensor?)] = [("lora_A", A, dA), ("lora_B", B, dB)]
        if let m = magnitude { list.append(("magnitude", m, dMagnitude)) }
        return list
    }

    /// Gives every trainable tensor a zeroed gradient.
    func allocateGradients() {
        dA = Tensor(zeros: A.shape); dB = Tensor(zeros: B.shape)
        if let m = magnitude { dMagnitude = Tensor(zeros: m.shape) }
    }

    /// The codes that B reads, (N, r), as the last forward left them: u itself; AdaLoRA's u ⊙ E.
    func codes(rows N: Int) -> UnsafeMutablePointer<Float> { u.base }

    /// Forward, after u = x̃ Aᵀ: makes the codes that B reads (nothing for LoRA) and returns them.
    func makeCodes(rows N: Int) -> UnsafeMutablePointer<Float> { u.base }

    /// Turns ∂L/∂codes in `du` (N, r) into ∂L/∂u in place: nothing for LoRA; AdaLoRA accumulates dE.
    func codeGradient(_ du: UnsafeMutablePointer<Float>, rows N: Int) {}
    public var name: String { AdaptationConfig.adapterName(layer: layer, target: target) }

    /// PEFT's initialisation: A kaiming-uniform with a = √5 (U(±1/√in)), B = 0; DoRA's m = ‖W0‖_row.
    func initialize(base W0: UnsafePointer<Float>, rng: inout SplitMix64) {
        initializeLowRank(base: W0, rng: &rng)
    }

    final func initializeLowRank(base W0: UnsafePointer<Float>, rng: inout SplitMix64) {
        let bound = 1 / Float(inFeatures).squareRoot()
        for i in 0..<A.count { A.data[i] = Float(rng.nextUniform() * 2 - 1) * bound }
        B.fill(0)
        resetMagnitude(base: W0)
    }

    /// m = ‖W0 + s BA‖_row (what PEFT does at injection; with B = 0 it is ‖W0‖_row).
    public func resetMagnitude(base W0: UnsafePointer<Float>) {
        guard let m = magnitude else { return }
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
        if let m = magnitude { for o in 0..<outFeatures { gain.data[o] = m.data[o] / norm.data[o] } }
    }

    func ensure(_ buffer: inout FloatBuffer, _ count: Int) {
        if buffer.count < count { buffer = FloatBuffer(count: count) }
    }

    /// Sizes the per-batch caches for batches of up to `rows` tokens.
    func reserve(rows N: Int) {
        ensure(&u, N * rank); ensure(&du, N * rank)
        if dropout > 0 { ensure(&xd, N * inFeatures) }
        if isDoRA { ensure(&z, N * outFeatures) }
    }

    /// Adds the adapter's contribution to `y` (N rows, row stride ldy), which holds W0 x (no bias).
    func forward(x: UnsafePointer<Float>, ldx: Int, y: UnsafeMutablePointer<Float>, ldy: Int, rows N: Int,
                 base W0: UnsafePointer<Float>, training: Bool, seed: UInt64) {
        ensure(&u, N * rank)
        var xin = x, ldxin = ldx
        if training && dropout > 0 {
            ensure(&xd, N * inFeatures)
            dropoutSeed = seed
            for r in 0..<N { lb_dropout(xd.base + r * inFeatures, x + r * ldx, inFeatures, r * inFeatures, dropout, seed) }
            xin = UnsafePointer(xd.base); ldxin = inFeatures
        }
        // u = x̃ Aᵀ                                                        (N, r)
        BLAS.rankProduct(u.base, ldc: rank, x: xin, ldx: ldxin, w: A.data, rows: N, rank: rank, k: inFeatures)
        // y += s u Bᵀ                                                      (N, out)
        BLAS.gemm(transB: true, m: N, n: outFeatures, k: rank, alpha: scaling, a: makeCodes(rows: N), lda: rank, b: B.data, ldb: rank,
                  beta: 1, c: y, ldc: ldy)
        if isDoRA {
            if freezesNorm, let m = magnitude {
                for o in 0..<outFeatures { gain.data[o] = m.data[o] / norm.data[o] }
            } else {
                computeNorm(base: W0)
            }
            ensure(&z, N * outFeatures)
            for r in 0..<N { (z.base + r * outFeatures).update(from: y + r * ldy, count: outFeatures) }
            lb_scale_columns(y, gain.data, N, outFeatures, ldy)
        }
    }

    /// DoRA, first half of backward: dm += Σ_rows dy ⊙ z / n, then dy ← g ⊙ dy (= dz) in place, so
    /// that the caller's base-path GEMM (dx += dz W0) and `lowRankBackward` see dz. LoRA: nothing.
    func scaleGradient(dy: UnsafeMutablePointer<Float>, ldy: Int, rows N: Int) {
        guard isDoRA else { return }
        if let dm = dMagnitude {
            for r in 0..<N {
                let dyr = dy + r * ldy, zr = z.base + r * outFeatures
                for o in 0..<outFeatures { dm.data[o] += dyr[o] * zr[o] / norm.data[o] }
            }
        }
        lb_scale_columns(dy, gain.data, N, outFeatures, ldy)
    }

    /// Second half: accumulates dA and dB from dy (dz for DoRA) and adds the adapter path's input
    /// gradient to dx when given.
    func lowRankBackward(dy: UnsafePointer<Float>, ldy: Int, x: UnsafePointer<Float>, ldx: Int, rows N: Int,
                         dx: UnsafeMutablePointer<Float>?, lddx: Int) {
        let xin = dropout > 0 ? UnsafePointer(xd.base) : x
        let ldxin = dropout > 0 ? inFeatures : ldx
        ensure(&du, N * rank)
        // dB += s dyᵀ u = s (uᵀ dy)ᵀ                                     (out, r)
        if let dB { BLAS.rankAccumulate(dB.data, ldc: rank, transposedC: true, p: codes(rows: N), ldp: rank, x: dy, ldx: ldy, rows: N, rank: rank, k: outFeatures, alpha: scaling) }
        // du = s dy B = s dy (Bᵀ)ᵀ                                          (N, r)
        for o in 0..<outFeatures { for j in 0..<rank { Bt.data[j * outFeatures + o] = B.data[o * rank + j] } }
        BLAS.rankProduct(du.base, ldc: rank, x: dy, ldx: ldy, w: Bt.data, rows: N, rank: rank, k: outFeatures, alpha: scaling)
        codeGradient(du.base, rows: N)
        // dA += duᵀ x̃                                                       (r, in)
        if let dA { BLAS.rankAccumulate(dA.data, ldc: inFeatures, p: du.base, ldp: rank, x: xin, ldx: ldxin, rows: N, rank: rank, k: inFeatures) }
        // dx += dropout'(du A)                                              (N, in)
        guard let dx else { return }
        if dropout > 0 {
            // x̃ is no longer needed: reuse its buffer as scratch
            BLAS.gemm(m: N, n: inFeatures, k: rank, a: du.base, lda: rank, b: A.data, ldb: inFeatures, c: xd.base, ldc: inFeatures)
            for r in 0..<N {
                lb_dropout(xd.base + r * inFeatures, xd.base + r * inFeatures, inFeatures, r * inFeatures, dropout, dropoutSeed)
                let d = dx + r * lddx, s = xd.base + r * inFeatures
                for i in 0..<inFeatures { d[i] += s[i] }
            }
        } else {
            BLAS.gemm(m: N, n: inFeatures, k: rank, a: du.base, lda: rank, b: A.data, ldb: inFeatures, beta: 1, c: dx, ldc: lddx)
        }
    }

    /// Folds the adapter into the base rows W0 (LoRA: W0 + sBA; DoRA: g ⊙ (W0 + sBA)), keeping a copy
    /// of W0 for `unmerge`.
    func merge(into W0: UnsafeMutablePointer<Float>) {
        precondition(backup == nil, "adapter merged twice")
        let count = outFeatures * inFeatures
        let copy = Tensor(zeros: [count])
        copy.data.update(from: W0, count: count)
        backup = copy
        if isDoRA {
            computeNorm(base: W0)
            for o in 0..<outFeatures { for i in 0..<inFeatures { W0[o * inFeatures + i] = merged.data[o * inFeatures + i] * gain.data[o] } }
        } else {
            BLAS.gemm(m: outFeatures, n: inFeatures, k: rank, alpha: scaling, a: B.data, lda: rank, b: effectiveA, ldb: inFeatures,
                      beta: 1, c: W0, ldc: inFeatures)
        }
    }

    /// The A of ΔW = s B A, [r, in]: A itself; AdaLoRA's A ⊙ E (rows scaled by E).
    public var effectiveA: UnsafePointer<Float> { UnsafePointer(A.data) }

    func unmerge(into W0: UnsafeMutablePointer<Float>) {
        guard let backup else { return }
        W0.update(from: backup.data, count: backup.count)
        self.backup = nil
    }

    var isMerged: Bool { backup != nil }

    /// The rank in use: r (AdaLoRA: the triplets whose E_i is not masked to 0).
    public var activeRank: Int { rank }

    /// Bytes of the per-batch caches (counted as activation memory).
    var cacheBytes: Int { (u.count + xd.count + z.count + du.count + merged.count) * 4 }
}

/// SplitMix64: a small, fast, seedable generator (initialisation, shuffling).
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Standard normal (Box–Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextUniform(), 1e-300), u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
    public mutating func nextInt(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
