// One linear layer's products, y = x Wᵀ forward and dW += dyᵀ x, dx = dy W backward, in fp32 or
// under amp (bf16 operands, fp32 accumulation): the one place that chooses between BLAS and the
// bf16 products. The encoder adds biases and adapters around it (BertModel.encoderLayer,
// BertModel.layerBackward).

/// A linear layer's weight (outputs × inputs, row-major) and, under amp, its bf16 copy.
struct Linear {
    let W: UnsafePointer<Float>
    let halfW: UnsafePointer<UInt16>?
    let outputs: Int, inputs: Int

    /// y = x Wᵀ for `rows` rows. Under amp (`halfX` and `halfW`) the product reads bf16 operands:
    /// x is converted into `halfX` here unless `xIsHalf` says it holds x's bf16 copy already.
    func forward(x: UnsafePointer<Float>, halfX: UnsafeMutablePointer<UInt16>?, xIsHalf: Bool = false,
                 y: UnsafeMutablePointer<Float>, rows N: Int) {
        if let halfX, let halfW {
            if !xIsHalf { BF16.convert(x, to: halfX, count: N * inputs) }
            BF16.gemm(transB: true, m: N, n: outputs, k: inputs, a: halfX, lda: inputs, b: halfW, ldb: inputs, c: y, ldc: outputs)
        } else {
            BLAS.gemm(transB: true, m: N, n: outputs, k: inputs, a: x, lda: inputs, b: W, ldb: inputs, c: y, ldc: outputs)
        }
    }

    /// dW += dyᵀ x. Under amp (`xHalf`) from dy's bf16 copy `dyHalf` (outputs wide) and x's.
    func weightGradient(dy: UnsafePointer<Float>, ldy: Int, dyHalf: UnsafePointer<UInt16>, x: UnsafePointer<Float>, ldx: Int,
                        xHalf: UnsafePointer<UInt16>?, into dW: UnsafeMutablePointer<Float>, rows N: Int) {
        if let xHalf {
            BF16.gemm(transA: true, m: outputs, n: inputs, k: N, a: dyHalf, lda: outputs, b: xHalf, ldb: inputs, beta: 1, c: dW, ldc: inputs)
        } else {
            BLAS.gemm(transA: true, m: outputs, n: inputs, k: N, a: dy, lda: ldy, b: x, ldb: ldx, beta: 1, c: dW, ldc: inputs)
        }
    }

    /// dx = dy W, or dx += dy W with `accumulate`. Under amp (`halfW`) from dy's bf16 copy `dyHalf`.
    func inputGradient(dy: UnsafePointer<Float>, ldy: Int, dyHalf: UnsafePointer<UInt16>, into dx: UnsafeMutablePointer<Float>,
                       accumulate: Bool, rows N: Int) {
        if let halfW {
            BF16.gemm(m: N, n: inputs, k: outputs, a: dyHalf, lda: outputs, b: halfW, ldb: inputs, beta: accumulate ? 1 : 0, c: dx, ldc: inputs)
        } else {
            BLAS.gemm(m: N, n: inputs, k: outputs, a: dy, lda: ldy, b: W, ldb: inputs, beta: accumulate ? 1 : 0, c: dx, ldc: inputs)
        }
    }
}
