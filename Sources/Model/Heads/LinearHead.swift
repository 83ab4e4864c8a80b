// A task head: a linear layer on the raw [CLS] vector of the last layer (lorabook's heads) or on
// the pooled one, tanh(W_pooler h_[CLS] + b) (`pooled`: HF's BertForSequenceClassification, which
// PEFT's SEQ_CLS adapters are trained on), and its loss.
//   classification  logits = h Wᵀ + b (K classes), cross-entropy
//   binary          one logit, binary cross-entropy with logits (paraphrase)
//   regression      one output, mean squared error (STS-B similarity 0–5)
import Foundation

public enum HeadKind: String, Codable, Sendable {
    case classification, binary, regression
    /// Pairs encoded separately: 5 · cos(mean-pooled a, mean-pooled b), mean squared error against
    /// the 0–5 label (sentence-embedding similarity; no parameters of its own).
    case cosine
}

/// What a task head reads: the raw [CLS] vector of the last layer (lorabook's default), or the
/// pooler's output on it (HF's BertForSequenceClassification; what PEFT's SEQ_CLS adapters use).
public enum HeadInput: String, Codable, Sendable, CaseIterable { case cls, pooled }

public final class LinearHead: @unchecked Sendable {
    public let name: String
    public let kind: HeadKind
    public let outputs: Int
    public let inFeatures: Int
    /// Reads the pooler's output instead of the raw [CLS] vector.
    public let pooled: Bool
    public let weight: Tensor   // (K, C)
    public let bias: Tensor     // (K)
    public let dWeight: Tensor, dBias: Tensor
    /// Regression and cosine heads: the training loss.
    public var regressionLoss: RegressionLoss = .mse

    /// PyTorch's nn.Linear initialisation: W and b uniform in ±1/√C.
    public init(name: String, kind: HeadKind, classes: Int, inFeatures: Int, pooled: Bool = false, rng: inout SplitMix64) {
        self.name = name; self.kind = kind; self.pooled = pooled && kind != .cosine
        outputs = kind == .classification ? classes : 1
        self.inFeatures = inFeatures
        let rows = kind == .cosine ? 0 : outputs   // a cosine head has no weights
        weight = Tensor(zeros: [rows, inFeatures]); bias = Tensor(zeros: [rows])
        dWeight = Tensor(zeros: [rows, inFeatures]); dBias = Tensor(zeros: [rows])
        let bound = 1 / Double(inFeatures).squareRoot()
        for i in 0..<weight.count { weight.data[i] = Float((rng.nextUniform() * 2 - 1) * bound) }
        for i in 0..<bias.count { bias.data[i] = Float((rng.nextUniform() * 2 - 1) * bound) }
    }

    public var parameterCount: Int { weight.count + bias.count }

    /// logits (B, K) = h Wᵀ + b for features h (B, C).
    public func forward(_ h: UnsafePointer<Float>, rows B: Int) -> [Float] {
        var out = [Float](repeating: 0, count: B * outputs)
        out.withUnsafeMutableBufferPointer { o in forward(h, rows: B, into: o.baseAddress!) }
        return out
    }

    /// logits (B, K) = h Wᵀ + b, written into `out` (training steps reuse one buffer).
    public func forward(_ h: UnsafePointer<Float>, rows B: Int, into out: UnsafeMutablePointer<Float>) {
        BLAS.gemm(transB: true, m: B, n: outputs, k: inFeatures, a: h, lda: inFeatures, b: weight.data, ldb: inFeatures, c: out, ldc: outputs)
        Compute.addBias(out, bias: bias.data, rows: B, cols: outputs)
    }

    /// Accumulates dW += dlogitsᵀ h, db += Σ dlogits; writes dh = dlogits W (B, C).
    public func backward(_ h: UnsafePointer<Float>, rows B: Int, dLogits d: UnsafePointer<Float>, dh: UnsafeMutablePointer<Float>) {
        BLAS.gemm(transA: true, m: outputs, n: inFeatures, k: B, a: d, lda: outputs, b: h, ldb: inFeatures, beta: 1, c: dWeight.data, ldc: inFeatures)
        for r in 0..<B { for k in 0..<outputs { dBias.data[k] += d[r * outputs + k] } }
        BLAS.gemm(m: B, n: inFeatures, k: outputs, a: d, lda: outputs, b: weight.data, ldb: inFeatures, c: dh, ldc: inFeatures)
    }
}
