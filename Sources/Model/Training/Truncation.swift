// Rank from the spectrum: cut each trained adapter to the rank its update needs. For every adapter,
// ΔW = s·B·A = U Σ Vᵀ (LAPACK's dgesvd, in double); keep the top k directions — the fewest that hold
// `energy` of Σσ², or at most `rank` — and factor them back into a LoRA of rank k with the same
// scaling s: B' = U_k (Σ_k / s)^½, A' = (Σ_k / s)^½ V_kᵀ, so s·B'·A' is the best rank-k
// approximation of ΔW (Eckart–Young). A DoRA adapter keeps its magnitude. Ranks differ per layer:
// they go into the configuration's rank pattern, which saving keeps. An AdaLoRA run (ΔW = s·B(A⊙E))
// becomes a LoRA run with those ranks.
import COpenBLAS
import Foundation

public enum Truncation {
    public enum Rule: Sendable { case energy(Double), rank(Int) }

    /// A new network on the same model: every adapter truncated by `rule`, heads copied.
    public static func truncated(_ network: Network, rule: Rule) throws -> Network {
        guard let adapters = network.adapters, network.adaptation.usesAdapters else {
            throw ModelError.invalidArgument(name: "truncate", reason: "the run has no LoRA or DoRA adapters to truncate (it trained \(network.adaptation.mode.rawValue))")
        }
        switch rule {
        case .energy(let e) where !(e > 0 && e <= 1): throw ModelError.invalidArgument(name: "energy \(e)", reason: "expected 0 < energy ≤ 1")
        case .rank(let k) where k < 1: throw ModelError.invalidArgument(name: "rank \(k)", reason: "expected at least 1")
        default: break
        }
        var factors: [String: (k: Int, A: [Float], B: [Float])] = [:]
        var config = network.adaptation
        if config.mode == .adalora {
            // an AdaLoRA run becomes a LoRA run with the ranks its updates need: s·B'·A' = s·B(A⊙E)
            config.mode = .lora; config.adaLoRA = nil
        }
        var ranks: [String: Int] = [:], alphas: [String: Float] = [:]
        for a in adapters.all {
            let (k, A, B) = try factor(a, rule: rule)
            factors[a.name] = (k, A, B)
            ranks[a.name] = k
            let kk = Float(k)
            alphas[a.name] = config.rsLoRA ? a.scaling * kk.squareRoot() : a.scaling * kk
        }
        config.rankPattern = ranks
        config.alphaPattern = alphas
        let result = try Network(model: network.model, adaptation: config)
        for a in result.adapters?.all ?? [] {
            guard let f = factors[a.name], let old = adapters.all.first(where: { $0.name == a.name }) else { continue }
            a.A.data.update(from: f.A, count: f.A.count)
            a.B.data.update(from: f.B, count: f.B.count)
            if let m = a.magnitude, let m0 = old.magnitude { m.copy(from: m0) }
        }
        for h in network.heads {
            let copy = result.addHead(h.name, kind: h.kind, classes: h.outputs, pooled: h.pooled)
            copy.weight.copy(from: h.weight); copy.bias.copy(from: h.bias)
            copy.regressionLoss = h.regressionLoss
        }
        return result
    }

    /// An adapter's update s·BA as its best rank-k factors (k by `rule`, at most its rank), with
    /// the scaling split evenly between them: s·B'A' with B' = U√(σ/s), A' = √(σ/s)Vᵀ.
    static func factor(_ a: LowRankAdapter, rule: Rule) throws -> (k: Int, A: [Float], B: [Float]) {
        let (R, C) = (a.outFeatures, a.inFeatures)
        var delta = [Float](repeating: 0, count: R * C)
        delta.withUnsafeMutableBufferPointer { d in
            BLAS.gemm(m: R, n: C, k: a.rank, alpha: a.scaling, a: a.B.data, lda: a.rank, b: a.effectiveA, ldb: C, beta: 0, c: d.baseAddress!, ldc: C)
        }
        let svd = try decompose(delta, rows: R, cols: C)
        let total = svd.s.reduce(0) { $0 + $1 * $1 }
        var k: Int
        switch rule {
        case .rank(let most): k = min(most, a.rank)
        case .energy(let fraction):
            k = svd.s.count
            var sum = 0.0
            for (i, v) in svd.s.enumerated() { sum += v * v; if total > 0 && sum >= fraction * total * (1 - 1e-12) { k = i + 1; break } }
        }
        k = max(1, min(k, a.rank))
        let s = Double(a.scaling)
        var A = [Float](repeating: 0, count: k * C), B = [Float](repeating: 0, count: R * k)
        for j in 0..<k {
            let w = (svd.s[j] / s).squareRoot()
            for r in 0..<R { B[r * k + j] = Float(svd.u(r, j) * w) }
            for c in 0..<C { A[j * C + c] = Float(w * svd.v(c, j)) }
        }
        return (k, A, B)
    }

    /// Thin SVD of a row-major rows × cols matrix: M = U diag(s) Vᵀ, s descending.
    struct SVD {
        let s: [Double]
        let rows: Int, cols: Int, k: Int
        let left: [Double]    // dgesvd's VT of Mᵀ, column-major k × rows: U[r][j] = left[j + r·k]
        let right: [Double]   // dgesvd's U of Mᵀ, column-major cols × k: V[c][j] = right[c + j·cols]
        func u(_ r: Int, _ j: Int) -> Double { left[j + r * k] }
        func v(_ c: Int, _ j: Int) -> Double { right[c + j * cols] }
    }

    static func decompose(_ a: [Float], rows: Int, cols: Int) throws -> SVD {
        // row-major rows × cols is column-major cols × rows (Mᵀ): Mᵀ = U' Σ V'ᵀ, so M = V' Σ U'ᵀ
        let k = min(rows, cols)
        var m = Int32(cols), n = Int32(rows), lda = Int32(cols), ldu = Int32(cols), ldvt = Int32(k), info: Int32 = 0
        var matrix = a.map(Double.init)
        var s = [Double](repeating: 0, count: k)
        var u = [Double](repeating: 0, count: cols * k), vt = [Double](repeating: 0, count: k * rows)
        var lwork: Int32 = -1, query = [Double](repeating: 0, count: 1)
        let job: [CChar] = [83, 0]   // "S": the first min(m, n) vectors
        dgesvd_(job, job, &m, &n, &matrix, &lda, &s, &u, &ldu, &vt, &ldvt, &query, &lwork, &info)
        lwork = Int32(query[0])
        var work = [Double](repeating: 0, count: max(1, Int(lwork)))
        dgesvd_(job, job, &m, &n, &matrix, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &info)
        guard info == 0 else { throw ModelError.invalidArgument(name: "truncate", reason: "the SVD did not converge (LAPACK info \(info))") }
        return SVD(s: s, rows: rows, cols: cols, k: k, left: vt, right: u)
    }
}
