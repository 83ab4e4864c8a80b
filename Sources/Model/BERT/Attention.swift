// Scaled dot-product attention over a packed batch, forward and backward, for a range of sequences:
// the workers split the batch by sequence and each runs every head of its sequences. The inputs
// travel in one struct of pointers, so starting the parallel region allocates nothing.
//   forward   S = scale Q_h K_hᵀ; P = softmax(S); Pd = dropout(P); ctx_h = Pd V_h     (per b, h)
//   backward  dPd = dctx_h V_hᵀ; dV_h = Pdᵀ dctx_h; dP = dropout′(dPd);
//             dS = scale P ⊙ (dP − rowsum(dP ⊙ P)); dQ_h = dS K_h; dK_h = dSᵀ Q_h
import CCompute

struct Attention {
    /// (N, 3C) packed q | k | v rows.
    var qkv: UnsafePointer<Float>
    /// Per sequence: its token count, first row, and start of its (H, L, L) block in `probs`.
    var lengths: UnsafePointer<Int>, rows: UnsafePointer<Int>, probsOffsets: UnsafePointer<Int>
    var probs: UnsafeMutablePointer<Float>, probsDropped: UnsafeMutablePointer<Float>
    var C: Int, H: Int, D: Int
    var dropout: Float, seed: UInt64

    var scale: Float { 1 / Float(D).squareRoot() }

    /// ctx (N, C) for sequences in `range`; probs (and probsDropped with dropout) are kept for backward.
    func forward(_ range: Range<Int>, context: UnsafeMutablePointer<Float>) {
        let C = C, D = D
        for b in range {
            let L = lengths[b], q = qkv + rows[b] * 3 * C, ctx = context + rows[b] * C
            for h in 0..<H {
                let off = probsOffsets[b] + h * L * L
                let S = probs + off
                BLAS.gemm(transB: true, m: L, n: L, k: D, alpha: scale, a: q + h * D, lda: 3 * C, b: q + C + h * D, ldb: 3 * C, c: S, ldc: L)
                Compute.softmaxRows(S, rows: L, cols: L, ld: L, valid: L)
                var Pd = S
                if dropout > 0 {
                    Pd = probsDropped + off
                    lb_dropout(Pd, S, L * L, off, dropout, seed)
                }
                BLAS.gemm(m: L, n: D, k: L, a: Pd, lda: L, b: q + 2 * C + h * D, ldb: 3 * C, c: ctx + h * D, ldc: C)
            }
        }
    }

    /// dQKV (N, 3C) from dctx (N, C) for sequences in `range`; dP is (H, L, L) scratch per sequence
    /// at the same offsets as probs.
    func backward(_ range: Range<Int>, dContext: UnsafePointer<Float>, dQKV: UnsafeMutablePointer<Float>, dP dPAll: UnsafeMutablePointer<Float>) {
        let C = C, D = D
        for b in range {
            let L = lengths[b], row0 = rows[b]
            let q = qkv + row0 * 3 * C, dq = dQKV + row0 * 3 * C, dctx = dContext + row0 * C
            for h in 0..<H {
                let off = probsOffsets[b] + h * L * L
                let P = probs + off, Pd = probsDropped + off, dP = dPAll + off
                BLAS.gemm(transB: true, m: L, n: L, k: D, a: dctx + h * D, lda: C, b: q + 2 * C + h * D, ldb: 3 * C, c: dP, ldc: L)
                BLAS.gemm(transA: true, m: L, n: D, k: L, a: Pd, lda: L, b: dctx + h * D, ldb: C, c: dq + 2 * C + h * D, ldc: 3 * C)
                // dP = dropout′(dPd): the mask is where Pd is non-zero (no hash to recompute); where P
                // itself is 0 the mask does not matter, dS = scale · P ⊙ (…) is 0 there
                if dropout > 0 { lb_dropout_backward_kept(dP, Pd, L * L, dropout) }
                lb_softmax_backward(dP, P, dP, L, L, scale)
                BLAS.gemm(m: L, n: D, k: L, a: dP, lda: L, b: q + C + h * D, ldb: 3 * C, c: dq + h * D, ldc: 3 * C)
                BLAS.gemm(transA: true, m: L, n: D, k: L, a: dP, lda: L, b: q + h * D, ldb: 3 * C, c: dq + C + h * D, ldc: 3 * C)
            }
        }
    }
}
