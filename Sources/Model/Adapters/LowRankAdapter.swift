// The low-rank path every adapter kind shares: LoRA itself, and the hooks DoRA and AdaLoRA
// (their own types, DoRA.swift and AdaLoRA.swift) override. One adapter sits on one linear layer
// [out, in] of the frozen base:
//
//   LoRA     y = W0 x + s · B (A x̃)                   x̃ = dropout(x); A [r, in], B [out, r]
//   DoRA     y = g ⊙ (W0 x + s · B (A x))              (DoRAAdapter)
//   AdaLoRA  y = W0 x + s · B ((A x̃) ⊙ E)             (AdaLoRAAdapter)
// (bias added by the caller afterwards, unscaled).
//
// Backward, given dy (N, out) = ∂L/∂y before the bias:
//   `scaleGradient` turns dy into the gradient of the low-rank path's output in place (DoRA: g ⊙ dy)
//   LoRA  dB += s dyᵀ c  (c = the codes u = A x̃, cached);  dc = s dy B;  du = dc (AdaLoRA: ⊙ E);
//         dA += duᵀ x̃;  dx += dropout'(du A)
// The base path dx += dz W0 is the caller's (one GEMM for the whole linear layer).
import Foundation
import CCompute

public class LowRankAdapter: @unchecked Sendable {
    public let layer: Int
    public let target: AdapterTarget
    public let rank: Int
    public let scaling: Float
    public let dropout: Float
    public let inFeatures: Int, outFeatures: Int
    public let A: Tensor, B: Tensor
    public var dA: Tensor?, dB: Tensor?
    /// The kind's own trainable vector besides A and B, with its name in an adapter file: DoRA's
    /// `magnitude` [out], AdaLoRA's `lora_E` [r]; nil for LoRA.
    public let extra: (name: String, tensor: Tensor)?
    public var dExtra: Tensor?

    // Per-forward caches, grown to the batch.
    private(set) var u = FloatBuffer(count: 0)        // (N, r)
    private(set) var xd = FloatBuffer(count: 0)       // (N, in) dropped input (adapter dropout only)
    private(set) var du = FloatBuffer(count: 0)       // (N, r) backward scratch
    let Bt: Tensor                                    // (r, out) Bᵀ, backward scratch for du = dy B
    private var backup: Tensor?                       // W0 rows while merged
    var dropoutSeed: UInt64 = 0

    init(layer: Int, target: AdapterTarget, config: AdaptationConfig, shape: (inFeatures: Int, outFeatures: Int), extra: (name: String, count: Int)? = nil) {
        self.layer = layer; self.target = target
        let name = AdaptationConfig.adapterName(layer: layer, target: target)
        rank = config.rank(for: name); scaling = config.scaling(for: name); dropout = config.dropout
        inFeatures = shape.inFeatures; outFeatures = shape.outFeatures
        A = Tensor(zeros: [rank, inFeatures])
        B = Tensor(zeros: [outFeatures, rank])
        self.extra = extra.map { ($0.name, Tensor(zeros: [$0.count])) }
        Bt = Tensor(zeros: [rank, outFeatures])
    }

    /// Builds the adapter of the configuration's kind.
    static func make(layer: Int, target: AdapterTarget, config: AdaptationConfig, shape: (inFeatures: Int, outFeatures: Int)) -> LowRankAdapter {
        switch config.mode {
        case .dora: return DoRAAdapter(layer: layer, target: target, config: config, shape: shape)
        case .adalora: return AdaLoRAAdapter(layer: layer, target: target, config: config, shape: shape)
        default: return LowRankAdapter(layer: layer, target: target, config: config, shape: shape)
        }
    }

    public var parameterCount: Int { A.count + B.count + (extra?.tensor.count ?? 0) }

    /// DoRA's magnitude m [out] (nil for the other kinds).
    public var magnitude: Tensor? { nil }

    /// Whether backward must scale the output gradient before the base path reads it (DoRA).
    var scalesGradient: Bool { false }

    /// The tensors that train, with their names in a lorabook adapter file (`lora_A`, `lora_B`,
    /// `magnitude`; AdaLoRA adds `lora_E`) and their gradients once training set them.
    public var trainableTensors: [(name: String, parameter: Tensor, gradient: Tensor?)] {
        [("lora_A", A, dA), ("lora_B", B, dB)] + (extra.map { [($0.name, $0.tensor, dExtra)] } ?? [])
    }

    /// Gives every trainable tensor a zeroed gradient.
    func allocateGradients() {
        dA = Tensor(zeros: A.shape); dB = Tensor(zeros: B.shape)
        dExtra = extra.map { Tensor(zeros: $0.tensor.shape) }
    }

    /// The codes that B reads, (N, r), as the last forward left them: u itself; AdaLoRA's u ⊙ E.
    func codes(rows N: Int) -> UnsafeMutablePointer<Float> { u.base }

    /// Forward, after u = x̃ Aᵀ: makes the codes that B reads (nothing for LoRA) and returns them.
    func makeCodes(rows N: Int) -> UnsafeMutablePointer<Float> { u.base }

    /// Turns ∂L/∂codes in `du` (N, r) into ∂L/∂u in place: nothing for LoRA; AdaLoRA accumulates dE.
    func codeGradient(_ du: UnsafeMutablePointer<Float>, rows N: Int) {}
    public var name: String { AdaptationConfig.adapterName(layer: layer, target: target) }

    /// PEFT's initialisation: A kaiming-uniform with a = √5 (U(±1/√in)), B = 0.
    func initialize(base W0: UnsafePointer<Float>, rng: inout SplitMix64) {
        let bound = 1 / Float(inFeatures).squareRoot()
        for i in 0..<A.count { A.data[i] = Float(rng.nextUniform() * 2 - 1) * bound }
        B.fill(0)
    }

    func ensure(_ buffer: inout FloatBuffer, _ count: Int) {
        if buffer.count < count { buffer = FloatBuffer(count: count) }
    }

    /// Sizes the per-batch caches for batches of up to `rows` tokens.
    func reserve(rows N: Int) {
        ensure(&u, N * rank); ensure(&du, N * rank)
        if dropout > 0 { ensure(&xd, N * inFeatures) }
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
        finishForward(y: y, ldy: ldy, rows: N, base: W0)
    }

    /// After y = W0 x + s B c: nothing for LoRA; DoRA scales by g = m / n.
    func finishForward(y: UnsafeMutablePointer<Float>, ldy: Int, rows N: Int, base W0: UnsafePointer<Float>) {}

    /// First half of backward: turns dy into the low-rank path's output gradient in place, so that
    /// the caller's base-path GEMM (dx += dz W0) and `lowRankBackward` see it. LoRA: nothing.
    func scaleGradient(dy: UnsafeMutablePointer<Float>, ldy: Int, rows N: Int) {}

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

    /// Folds the adapter into the base rows W0 (W0 + s B A; DoRA overrides), keeping a copy of W0
    /// for `unmerge`.
    func merge(into W0: UnsafeMutablePointer<Float>) {
        keepBackup(of: W0)
        BLAS.gemm(m: outFeatures, n: inFeatures, k: rank, alpha: scaling, a: B.data, lda: rank, b: effectiveA, ldb: inFeatures,
                  beta: 1, c: W0, ldc: inFeatures)
    }

    final func keepBackup(of W0: UnsafePointer<Float>) {
        precondition(backup == nil, "adapter merged twice")
        let count = outFeatures * inFeatures
        let copy = Tensor(zeros: [count])
        copy.data.update(from: W0, count: count)
        backup = copy
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
    var cacheBytes: Int { (u.count + xd.count + du.count) * 4 }
}

