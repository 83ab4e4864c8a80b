// Swift entry points to the element-wise C kernels (Sources/CCompute), on tensors.
import Workers
import CCompute

public enum Compute {
    /// Exact-erf GELU: y = ½ x (1 + erf(x/√2)).
    public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        lb_gelu(y, x, count)
    }
    /// pre += bias (per row); act = GELU(pre). Rows split across the cores.
    public static func biasGelu(_ pre: UnsafeMutablePointer<Float>, _ act: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, cols: Int) {
        Parallel.chunks(rows, minChunk: 16, (pre, act, bias, cols)) { a, r in
            lb_bias_gelu(a.0 + r.lowerBound * a.3, a.1 + r.lowerBound * a.3, a.2, r.count, a.3)
        }
    }
    public static func exp(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        lb_exp(y, x, count)
    }
    public static func tanh(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        lb_tanh(y, x, count)
    }
    /// out[r, :] += bias for every row.
    public static func addBias(_ out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, cols: Int) {
        Parallel.chunks(rows, minChunk: 64, (out, bias, cols)) { a, r in lb_add_bias(a.0 + r.lowerBound * a.2, a.1, r.count, a.2) }
    }
    /// Softmax over the first `valid` columns of each row; masked columns set to exactly 0.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, valid: Int) {
        lb_softmax_rows(x, rows, cols, ld, valid)
    }
    /// x += residual (+ bias); y = LayerNorm(x) · gamma + beta; saves mean and 1/std per row.
    public static func layerNorm(
        x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?, rows: Int, width: Int, eps: Float
    ) {
        Parallel.chunks(rows, minChunk: 64, (x: x, residual: residual, bias: bias, gamma: gamma, beta: beta, y: y, mean: mean, rstd: rstd,
                                             width: width, eps: eps)) { a, r in
            let o = r.lowerBound * a.width
            lb_layernorm(a.y + o, a.x + o, a.residual.map { $0 + o }, a.bias, a.gamma, a.beta, a.mean.map { $0 + r.lowerBound },
                         a.rstd.map { $0 + r.lowerBound }, r.count, a.width, a.eps)
        }
    }
}
