// AdamW exactly as torch.optim.AdamW (decoupled weight decay, bias correction), over contiguous
// moment buffers. At step t with learning rate lr:
//   p ← p · (1 − lr·wd)
//   m ← β1 m + (1 − β1) g;   v ← β2 v + (1 − β2) g²
//   p ← p − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
// Only trainable tensors have moments: frozen weights cost no optimizer memory.
import Workers
import Foundation
import CCompute

/// A tensor the optimizer updates, with its gradient.
public struct TrainableTensor {
    public let name: String
    public let parameter: Tensor
    public let gradient: Tensor
    public init(name: String, parameter: Tensor, gradient: Tensor) {
        precondition(parameter.count == gradient.count, "gradient of \(name) has the wrong size")
        self.name = name; self.parameter = parameter; self.gradient = gradient
    }
}

public final class AdamW {
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public private(set) var step = 0
    let m: FloatBuffer, v: FloatBuffer
    let offsets: [Int]

    public init(_ tensors: [TrainableTensor], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        var offsets: [Int] = [], total = 0
        for t in tensors { offsets.append(total); total += t.parameter.count }
        self.offsets = offsets
        m = FloatBuffer(count: total); v = FloatBuffer(count: total)
    }

    /// Bytes of optimizer state (first and second moments).
    public var byteCount: Int { m.byteCount + v.byteCount }

    public func update(_ tensors: [TrainableTensor], learningRate lr: Float) {
        precondition(tensors.count == offsets.count, "the optimizer was built for other tensors")
        step += 1
        let bc1 = 1 - Float(pow(Double(beta1), Double(step))), bc2 = 1 - Float(pow(Double(beta2), Double(step)))
        for (i, t) in tensors.enumerated() {
            let n = t.parameter.count
            Parallel.chunks(n, minChunk: 1 << 16, (p: t.parameter.data, g: t.gradient.data, m: m.base + offsets[i], v: v.base + offsets[i],
                                                  h: (lr, beta1, beta2, eps, weightDecay, bc1, bc2))) { a, r in
                let o = r.lowerBound, h = a.h
                lb_adamw(a.p + o, a.g + o, a.m + o, a.v + o, r.count, h.0, h.1, h.2, h.3, h.4, h.5, h.6)
            }
        }
    }
}

/// Global gradient norm and clipping (torch.nn.utils.clip_grad_norm_): scales every gradient by
/// min(1, maxNorm / (norm + 1e-6)); returns the norm before clipping.
public func clipGradientNorm(_ tensors: [TrainableTensor], maxNorm: Float?) -> Float {
    var sum = 0.0
    for t in tensors { for i in 0..<t.gradient.count { let g = Double(t.gradient.data[i]); sum += g * g } }
    let norm = Float(sum.squareRoot())
    if let maxNorm, norm > maxNorm {
        let s = maxNorm / (norm + 1e-6)
        for t in tensors { for i in 0..<t.gradient.count { t.gradient.data[i] *= s } }
    }
    return norm
}
