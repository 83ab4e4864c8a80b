// How low-rank is an update? The singular values of what training changed in each adapted matrix:
// ΔW = s·B·A for LoRA (for DoRA, the direction's update s·B·A before normalisation), and W − W0 for
// full fine-tuning, with the share of energy (Σσ²) in the top k directions. LAPACK's dgesvd (in
// OpenBLAS) computes them, in double precision.
import COpenBLAS
import Foundation

public struct UpdateSpectrum: Sendable {
    public var layer: Int
    public var matrix: AdapterTarget
    public var rows: Int, cols: Int
    /// Descending.
    public var singularValues: [Double]

    /// The share of ‖ΔW‖²_F in the top `k` singular directions (1 for a zero update).
    public func energy(top k: Int) -> Double {
        let total = singularValues.reduce(0) { $0 + $1 * $1 }
        guard total > 0 else { return 1 }
        return singularValues.prefix(max(0, k)).reduce(0) { $0 + $1 * $1 } / total
    }

    /// The fewest directions that hold `fraction` of the energy.
    public func rank(energy fraction: Double) -> Int {
        let total = singularValues.reduce(0) { $0 + $1 * $1 }
        guard total > 0 else { return 0 }
        var sum = 0.0
        for (i, s) in singularValues.enumerated() { sum += s * s; if sum >= fraction * total * (1 - 1e-12) { return i + 1 } }
        return singularValues.count
    }

    /// Singular values above `relative` × the largest (the numerical rank).
    public func numericalRank(relative: Double = 1e-5) -> Int {
        guard let top = singularValues.first, top > 0 else { return 0 }
        return singularValues.filter { $0 > relative * top }.count
    }
}

public enum Spectrum {
    /// The singular values of a row-major `rows` × `cols` matrix, descending.
    public static func singularValues(_ a: UnsafePointer<Float>, rows: Int, cols: Int) -> [Double] {
        // row-major R×C is column-major C×R (its transpose): the same singular values
        var m = Int32(cols), n = Int32(rows), lda = Int32(cols), one: Int32 = 1, info: Int32 = 0
        var matrix = (0..<rows * cols).map { Double(a[$0]) }
        var s = [Double](repeating: 0, count: min(rows, cols))
        var u = [Double](repeating: 0, count: 1), vt = [Double](repeating: 0, count: 1)
        var lwork: Int32 = -1, query = [Double](repeating: 0, count: 1)
        let job: [CChar] = [78, 0]   // "N": no vectors
        dgesvd_(job, job, &m, &n, &matrix, &lda, &s, &u, &one, &vt, &one, &query, &lwork, &info)
        lwork = Int32(query[0])
        var work = [Double](repeating: 0, count: max(1, Int(lwork)))
        dgesvd_(job, job, &m, &n, &matrix, &lda, &s, &u, &one, &vt, &one, &work, &lwork, &info)
        return info == 0 ? s : []
    }

    /// Every adapted matrix's update: the adapters' s·B·A, or, for full fine-tuning, W − W0 of
    /// every linear layer against `base` (the model the run started from).
    public static func updates(_ network: Network, base: BertModel) -> [UpdateSpectrum] {
        var result: [UpdateSpectrum] = []
        if let adapters = network.adapters {
            for a in adapters.all {
                var delta = [Float](repeating: 0, count: a.outFeatures * a.inFeatures)
                delta.withUnsafeMutableBufferPointer { d in
                    BLAS.gemm(m: a.outFeatures, n: a.inFeatures, k: a.rank, alpha: a.scaling, a: a.B.data, lda: a.rank, b: a.effectiveA, ldb: a.inFeatures,
                              beta: 0, c: d.baseAddress!, ldc: a.inFeatures)
                }
                let s = delta.withUnsafeBufferPointer { singularValues($0.baseAddress!, rows: a.outFeatures, cols: a.inFeatures) }
                result.append(UpdateSpectrum(layer: a.layer, matrix: a.target, rows: a.outFeatures, cols: a.inFeatures, singularValues: s))
            }
        } else if network.adaptation.mode == .full {
            for l in 0..<network.model.config.numLayers {
                for t in AdapterTarget.encoder {
                    let shape = t.shape(network.model.config)
                    let count = shape.outFeatures * shape.inFeatures
                    let w = network.model.parameters.linearWeight(t, layer: l)
                    let w0 = base.parameters.linearWeight(t, layer: l)
                    let delta = (0..<count).map { w[$0] - w0[$0] }
                    let s = delta.withUnsafeBufferPointer { singularValues($0.baseAddress!, rows: shape.outFeatures, cols: shape.inFeatures) }
                    result.append(UpdateSpectrum(layer: l, matrix: t, rows: shape.outFeatures, cols: shape.inFeatures, singularValues: s))
                }
            }
        }
        return result
    }
}
