// AdaLoRA (Zhang et al., ICLR 2023; PEFT's tuners/adalora): an adapter shaped like an SVD,
//   ΔW = s · B (A ⊙ E),  A [r0, in], E [r0] (the "singular values"), B [out, r0],  s = alpha / (r0 + 1e-5),
// whose budget of triplets (A_i, E_i, B_·i) is cut during training to the most important ones.
//
// Per step, after the optimizer (PEFT's RankAllocator.update_and_allocate):
//   I = |p ⊙ ∂L/∂p| per element of every A, E, B;  Ī ← β1 Ī + (1 − β1) I;  Ū ← β2 Ū + (1 − β2) |I − Ī|
//   score of triplet i: Ī·Ū of E_i + mean_j (Ī·Ū)(A_ij) + mean_k (Ī·Ū)(B_ki)
//   budget b(t) (total triplets kept): r0·n until tinit, then the cubic
//     b = ⌊(r0·n − target·n) (1 − (t − tinit)/(T − tfinal − tinit))³ + target·n⌋
//   every deltaT steps the triplets at or below the (r0·n − b)-th smallest score get E_i = 0 (soft: a
//   masked E_i may regrow until it is masked again); from T − tfinal on the final pattern holds.
// The loss gains PEFT's orthogonal regularisation, weight · mean over every A and B of ‖AAᵀ − I‖_F
// and ‖BᵀB − I‖_F, whose gradient (2 (AAᵀ − I) A / ‖·‖_F; 2 B (BᵀB − I) / ‖·‖_F) is added here.
import Foundation

/// AdaLoRA's schedule and importance settings, with PEFT's defaults (AdaLoraConfig).
public struct AdaLoRASettings: Codable, Sendable, Equatable {
    /// PEFT's lora_alpha default, which AdaLoRA uses as alpha.
    public static let defaultAlpha: Float = 8
    /// The average rank the budget is cut to (target_r).
    public var targetRank = 8
    /// Steps of warm-up at the full budget (tinit) and of final fine-tuning at the final pattern (tfinal).
    public var tinit = 0, tfinal = 0
    /// Steps between two allocations (deltaT).
    public var deltaT = 1
    /// Smoothing of the sensitivity (β1) and of its uncertainty (β2).
    public var beta1: Float = 0.85, beta2: Float = 0.85
    /// Weight of the orthogonal regularisation (orth_reg_weight).
    public var orthogonality: Float = 0.5

    public init(targetRank: Int = 8, tinit: Int = 0, tfinal: Int = 0, deltaT: Int = 1, beta1: Float = 0.85, beta2: Float = 0.85,
                orthogonality: Float = 0.5) {
        self.targetRank = targetRank; self.tinit = tinit; self.tfinal = tfinal; self.deltaT = deltaT
        self.beta1 = beta1; self.beta2 = beta2; self.orthogonality = orthogonality
    }

    public func validate(initialRank: Int) throws {
        guard targetRank >= 1 && targetRank <= initialRank else {
            throw ModelError.invalidArgument(name: "target_rank \(targetRank)", reason: "expected 1 … init_rank (\(initialRank))")
        }
        guard tinit >= 0 && tfinal >= 0 else { throw ModelError.invalidArgument(name: "tinit/tfinal", reason: "expected steps ≥ 0") }
        guard deltaT >= 1 else { throw ModelError.invalidArgument(name: "delta_t \(deltaT)", reason: "expected at least 1 step") }
        for (name, b) in [("beta1", beta1), ("beta2", beta2)] where !(b > 0 && b < 1) {
            throw ModelError.invalidArgument(name: "\(name) \(b)", reason: "expected 0 < β < 1")
        }
        guard orthogonality >= 0 else { throw ModelError.invalidArgument(name: "orthogonality \(orthogonality)", reason: "expected a weight ≥ 0") }
    }

    /// Checks the schedule against a run's length (PEFT: tinit < total_step − tfinal).
    public func validate(totalSteps T: Int) throws {
        guard tinit < T - tfinal else {
            throw ModelError.invalidArgument(name: "tinit \(tinit), tfinal \(tfinal)",
                                             reason: "leave no steps to cut the budget in a run of \(T) steps (need tinit < steps − tfinal)")
        }
    }

    /// PEFT's budget_schedule: the triplets kept after step t of T, and whether step t masks.
    public func budget(step t: Int, totalSteps T: Int, initial: Int, target: Int) -> (budget: Int, masks: Bool) {
        if t <= tinit { return (initial, false) }
        if t > T - tfinal { return (target, true) }
        let mul = 1 - Double(t - tinit) / Double(T - tfinal - tinit)
        return (Int(Double(initial - target) * mul * mul * mul + Double(target)), t % deltaT == 0)
    }
}

/// One AdaLoRA adapter: LoRA's low-rank path with the codes u = x̃ Aᵀ scaled by E before B.
final class AdaLoRAAdapter: LowRankAdapter, @unchecked Sendable {
    var E: Tensor { extra!.tensor }
    var dE: Tensor? { dExtra }
    private var scaledCodes = FloatBuffer(count: 0)    // (N, r) u ⊙ E
    private let scaledA: Tensor                         // [r, in] A ⊙ E (merge, spectrum)
    /// Scratch of the orthogonal regularisation: AAᵀ − I or BᵀB − I, [r, r].
    let gram: Tensor
    /// Smoothed sensitivity Ī and uncertainty Ū of A, E and B (RankAllocator).
    let importance: [(average: Tensor, uncertainty: Tensor)]

    init(layer: Int, target: AdapterTarget, config: AdaptationConfig, shape: (inFeatures: Int, outFeatures: Int)) {
        let r = config.rank
        scaledA = Tensor(zeros: [r, shape.inFeatures])
        gram = Tensor(zeros: [r, r])
        importance = [[r, shape.inFeatures], [r], [shape.outFeatures, r]].map { (Tensor(zeros: $0), Tensor(zeros: $0)) }
        super.init(layer: layer, target: target, config: config, shape: shape, extra: ("lora_E", r))
    }

    /// PEFT's reset_lora_parameters: A, B ~ N(0, 0.02), E = 0.
    override func initialize(base W0: UnsafePointer<Float>, rng: inout SplitMix64) {
        for t in [A, B] { for i in 0..<t.count { t.data[i] = Float(rng.nextGaussian() * 0.02) } }
        E.fill(0)
    }

    override func reserve(rows N: Int) {
        super.reserve(rows: N)
        ensure(&scaledCodes, N * rank)
    }

    override func makeCodes(rows N: Int) -> UnsafeMutablePointer<Float> {
        ensure(&scaledCodes, N * rank)
        for n in 0..<N {
            let src = u.base + n * rank, dst = scaledCodes.base + n * rank
            for i in 0..<rank { dst[i] = src[i] * E.data[i] }
        }
        return scaledCodes.base
    }

    override func codes(rows N: Int) -> UnsafeMutablePointer<Float> { scaledCodes.base }

    /// dE_i += Σ_n ∂L/∂codes[n, i] · u[n, i], then ∂L/∂u = ∂L/∂codes ⊙ E.
    override func codeGradient(_ du: UnsafeMutablePointer<Float>, rows N: Int) {
        for n in 0..<N {
            let g = du + n * rank, un = u.base + n * rank
            if let dE { for i in 0..<rank { dE.data[i] += g[i] * un[i] } }
            for i in 0..<rank { g[i] *= E.data[i] }
        }
    }

    override var effectiveA: UnsafePointer<Float> {
        for i in 0..<rank {
            let e = E.data[i], src = A.data + i * inFeatures, dst = scaledA.data + i * inFeatures
            for j in 0..<inFeatures { dst[j] = src[j] * e }
        }
        return UnsafePointer(scaledA.data)
    }

    override var cacheBytes: Int { super.cacheBytes + scaledCodes.count * 4 }

    /// Triplets in use: E_i ≠ 0 (a masked triplet's E_i is exactly 0).
    override var activeRank: Int { (0..<rank).reduce(0) { $0 + (E.data[$1] != 0 ? 1 : 0) } }

    /// ‖AAᵀ − I‖_F + ‖BᵀB − I‖_F, adding `coefficient` × their gradients to dA and dB.
    func orthogonality(coefficient c: Float) -> Float {
        var total: Float = 0
        // AAᵀ − I, [r, r];  ∂‖M‖_F/∂A = 2 M A / ‖M‖_F
        BLAS.gemm(transB: true, m: rank, n: rank, k: inFeatures, a: A.data, lda: inFeatures, b: A.data, ldb: inFeatures, c: gram.data, ldc: rank)
        var f = subtractIdentityNorm()
        total += f
        if f > 0, let dA {
            BLAS.gemm(m: rank, n: inFeatures, k: rank, alpha: 2 * c / f, a: gram.data, lda: rank, b: A.data, ldb: inFeatures, beta: 1, c: dA.data, ldc: inFeatures)
        }
        // BᵀB − I, [r, r];  ∂‖N‖_F/∂B = 2 B N / ‖N‖_F
        BLAS.gemm(transA: true, m: rank, n: rank, k: outFeatures, a: B.data, lda: rank, b: B.data, ldb: rank, c: gram.data, ldc: rank)
        f = subtractIdentityNorm()
        total += f
        if f > 0, let dB {
            BLAS.gemm(m: outFeatures, n: rank, k: rank, alpha: 2 * c / f, a: B.data, lda: rank, b: gram.data, ldb: rank, beta: 1, c: dB.data, ldc: rank)
        }
        return total
    }

    private func subtractIdentityNorm() -> Float {
        var s: Double = 0
        for i in 0..<rank {
            gram.data[i * rank + i] -= 1
        }
        for k in 0..<(rank * rank) { s += Double(gram.data[k]) * Double(gram.data[k]) }
        return Float(s.squareRoot())
    }
}

/// One allocation: after which step, the budget, and the triplets kept.
public struct RankAllocation: Codable, Sendable, Equatable {
    public let step: Int, budget: Int, kept: Int
}

/// PEFT's RankAllocator over a network's AdaLoRA adapters: importance, budget, masks, and the
/// orthogonal regularisation. Every buffer is allocated here, none per step.
public final class RankAllocator: @unchecked Sendable {
    let adapters: [AdaLoRAAdapter]
    public let settings: AdaLoRASettings
    /// Triplets in all: r0 × adapters; the target: target_r × adapters.
    public let initialBudget: Int, targetBudget: Int
    /// Every allocation so far (the budget's history).
    public private(set) var history: [RankAllocation] = []
    /// Every triplet's score at the last allocation, adapter by adapter.
    private(set) var scores: [Float]
    private var sorted: [Float]

    init(adapters: [AdaLoRAAdapter], settings: AdaLoRASettings) {
        self.adapters = adapters; self.settings = settings
        initialBudget = adapters.reduce(0) { $0 + $1.rank }
        targetBudget = settings.targetRank * adapters.count
        scores = [Float](repeating: 0, count: initialBudget)
        sorted = scores
    }

    /// Adds weight · mean over every A and B of ‖AAᵀ − I‖_F (‖BᵀB − I‖_F) to the step's gradients
    /// and returns it (what the step's loss gains).
    public func addOrthogonality() -> Float {
        guard settings.orthogonality > 0, !adapters.isEmpty else { return 0 }
        let c = settings.orthogonality / Float(2 * adapters.count)
        var sum: Float = 0
        for a in adapters { sum += a.orthogonality(coefficient: c) }
        return c * sum
    }

    /// After the optimizer step `t` (0-based, as PEFT's examples count) of a run of `T` steps, while
    /// the gradients of that step are still in place.
    public func update(step t: Int, totalSteps T: Int) {
        // one allocation per step at most: the history's room, once, at the run's first step
        if totalSteps != T { history.reserveCapacity(history.count + T + 1) }
        totalSteps = T
        let end = T - settings.tfinal
        if t < end {
            updateImportance()
            let (budget, masks) = settings.budget(step: t, totalSteps: T, initial: initialBudget, target: targetBudget)
            if masks { mask(to: budget, step: t) }
        } else if t == end {
            mask(to: settings.budget(step: t, totalSteps: T, initial: initialBudget, target: targetBudget).budget, step: t)
            for a in adapters { for (avg, unc) in a.importance { avg.fill(0); unc.fill(0) } }
            finalPattern = adapters.map { a in (0..<a.rank).map { a.E.data[$0] != 0 } }
        } else if let finalPattern {
            for (a, keep) in zip(adapters, finalPattern) { for i in 0..<a.rank where !keep[i] { a.E.data[i] = 0 } }
        }
    }
    private var finalPattern: [[Bool]]?
    /// The length of the run being trained (PEFT's total_step), once it started.
    public private(set) var totalSteps: Int?

    /// Ī ← β1 Ī + (1 − β1)|p ∂L/∂p|;  Ū ← β2 Ū + (1 − β2)|I − Ī|, for every A, E and B.
    func updateImportance() {
        let b1 = settings.beta1, b2 = settings.beta2
        for a in adapters {
            for ((p, g), (avg, unc)) in zip([(a.A, a.dA), (a.E, a.dE), (a.B, a.dB)], a.importance) {
                guard let g else { continue }
                for k in 0..<p.count {
                    let i = abs(p.data[k] * g.data[k])
                    let m = b1 * avg.data[k] + (1 - b1) * i
                    avg.data[k] = m
                    unc.data[k] = b2 * unc.data[k] + (1 - b2) * abs(i - m)
                }
            }
        }
    }

    /// The score of every triplet, adapter by adapter: s(E_i) + mean_j s(A_ij) + mean_k s(B_ki).
    public func tripletScores() -> [Float] {
        var k = 0
        for a in adapters {
            let (ia, ua) = a.importance[0], (ie, ue) = a.importance[1], (ib, ub) = a.importance[2]
            for i in 0..<a.rank {
                var sa: Float = 0
                for j in 0..<a.inFeatures { sa += ia.data[i * a.inFeatures + j] * ua.data[i * a.inFeatures + j] }
                var sb: Float = 0
                for o in 0..<a.outFeatures { sb += ib.data[o * a.rank + i] * ub.data[o * a.rank + i] }
                scores[k] = ie.data[i] * ue.data[i] + sa / Float(a.inFeatures) + sb / Float(a.outFeatures)
                k += 1
            }
        }
        return scores
    }

    /// Sets E_i = 0 for every triplet whose score is at or below the (initial − budget)-th smallest.
    func mask(to budget: Int, step: Int) {
        let cut = initialBudget - budget
        var kept = initialBudget
        if cut > 0 {
            _ = tripletScores()
            for k in 0..<scores.count { sorted[k] = scores[k] }
            sorted.sort()
            let threshold = sorted[cut - 1]
            var k = 0
            kept = 0
            for a in adapters {
                for i in 0..<a.rank {
                    if scores[k] <= threshold { a.E.data[i] = 0 } else { kept += 1 }
                    k += 1
                }
            }
        }
        history.append(RankAllocation(step: step, budget: budget, kept: kept))
    }

    /// Triplets in use per adapter (E_i ≠ 0), by adapter name.
    public var ranks: [(name: String, rank: Int)] { adapters.map { ($0.name, $0.activeRank) } }
}
