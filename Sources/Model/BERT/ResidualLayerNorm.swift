// The residual LayerNorm that closes each half of an encoder layer, forward and backward:
// out = LN(dropout(s + bias) + residual). The embeddings' LayerNorm uses the same backward.
import Workers
import CCompute

extension BertModel {
    /// s = dropout(s + bias) + residual (kept for backward); out = LN(s).
    func residualLayerNorm(_ s: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>,
                           gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                           mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, rows N: Int, eps: Float,
                           dropout: Float, seed: UInt64) {
        let C = config.hiddenSize
        if dropout > 0 {
            Parallel.chunks(N, minChunk: 64, (s, bias, C, dropout, seed)) { a, r in
                lb_bias_dropout(a.0 + r.lowerBound * a.2, a.1, r.count, a.2, r.lowerBound, a.3, a.4)
            }
            Compute.layerNorm(x: s, residual: residual, bias: nil, gamma: gamma, beta: beta, into: out, mean: mean, rstd: rstd, rows: N, width: C, eps: eps)
        } else {
            Compute.layerNorm(x: s, residual: residual, bias: bias, gamma: gamma, beta: beta, into: out, mean: mean, rstd: rstd, rows: N, width: C, eps: eps)
        }
    }

    /// LayerNorm backward: dx = LN'(dy); gamma/beta gradients when `grads` are given.
    func layerNormBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                           mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                           dGamma: UnsafeMutablePointer<Float>?, dBeta: UnsafeMutablePointer<Float>?, rows N: Int) {
        let C = config.hiddenSize
        if dGamma != nil || dBeta != nil {
            Parallel.chunks(C, minChunk: 32, (dGamma, dBeta, dy, x, mean, rstd, N, C)) { a, r in
                lb_layernorm_param_grads(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, r.lowerBound, r.upperBound)
            }
        }
        Parallel.chunks(N, minChunk: 64, (dx: dx, dy: dy, x: x, mean: mean, rstd: rstd, gamma: gamma, C: C)) { a, r in
            let o = r.lowerBound * a.C
            lb_layernorm_backward(a.dx + o, a.dy + o, a.x + o, a.mean + r.lowerBound, a.rstd + r.lowerBound, a.gamma, r.count, a.C, 0)
        }
    }

    /// dy (+ dropout′) for a residual branch: dT = dropout′(dS) or dS itself.
    func dropoutBackward(_ dS: UnsafeMutablePointer<Float>, into dT: UnsafeMutablePointer<Float>, rows N: Int, p: Float, seed: UInt64) -> UnsafeMutablePointer<Float> {
        guard p > 0 else { return dS }
        let C = config.hiddenSize
        Parallel.chunks(N, minChunk: 64, (dT, dS, C, p, seed)) { a, r in
            lb_dropout(a.0 + r.lowerBound * a.2, a.1 + r.lowerBound * a.2, r.count * a.2, r.lowerBound * a.2, a.3, a.4)
        }
        return dT
    }
}
