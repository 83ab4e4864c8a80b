// Swift entry points to the element-wise C kernels (Sources/CKernels), on tensors.
import CKernels

public enum Kernels {
    /// Exact-erf GELU: y = ½ x (1 + erf(x/√2)).
    public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        lb_gelu(y, x, count)
    }
    /// pre += bias (per row); act = GELU(pre). Rows split across the cores.
    public static func biasGelu(_ pre: UnsafeMutablePointer<Float>, _ act: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, cols: Int) {
        Parallel.chunks(rows, minChunk: 16) { r in
            lb_bias_gelu(pre + r.lowerBound * cols, act + r.lowerBound * cols, bias, r.count, cols)
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
        Parallel.chunks(rows, minChunk: 64) { r in lb_add_bias(out + r.lowerBound * cols, bias, r.count, cols) }
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
        Parallel.chunks(rows, minChunk: 64) { r in
            let o = r.lowerBound * width
            lb_layernorm(y + o, x + o, residual.map { $0 + o }, bias, gamma, beta, mean.map { $0 + r.lowerBound },
                         rstd.map { $0 + r.lowerBound }, r.count, width, eps)
        }
    }
}
