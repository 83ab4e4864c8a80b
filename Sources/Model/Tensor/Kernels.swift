// Swift entry points to the element-wise C kernels (Sources/CKernels), on tensors.
import CKernels

public enum Kernels {
    /// Exact-erf GELU: y = ½ x (1 + erf(x/√2)).
    public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        lb_gelu(y, x, count)
    }
    public static func exp(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        lb_exp(y, x, count)
    }
    public static func tanh(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        lb_tanh(y, x, count)
    }
    /// out[r, :] += bias for every row.
    public static func addBias(_ out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, cols: Int) {
        lb_add_bias(out, bias, rows, cols)
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
        lb_layernorm(y, x, residual, bias, gamma, beta, mean, rstd, rows, width, eps)
    }
}
