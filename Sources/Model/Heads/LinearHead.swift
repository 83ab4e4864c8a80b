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
        Kernels.addBias(out, bias: bias.data, rows: B, cols: outputs)
    }

    /// Accumulates dW += dlogitsᵀ h, db += Σ dlogits; writes dh = dlogits W (B, C).
    public func backward(_ h: UnsafePointer<Float>, rows B: Int, dLogits d: UnsafePointer<Float>, dh: UnsafeMutablePointer<Float>) {
        BLAS.gemm(transA: true, m: outputs, n: inFeatures, k: B, a: d, lda: outputs, b: h, ldb: inFeatures, beta: 1, c: dWeight.data, ldc: inFeatures)
        for r in 0..<B { for k in 0..<outputs { dBias.data[k] += d[r * outputs + k] } }
        BLAS.gemm(m: B, n: inFeatures, k: outputs, a: d, lda: outputs, b: weight.data, ldb: inFeatures, c: dh, ldc: inFeatures)
    }
}

/// Losses averaged over the batch, with their gradient with respect to the head's outputs. Each has
/// an array form (evaluation, tests) and a pointer form that writes the gradient into a caller's
/// buffer (training steps, which allocate nothing). Sums run in Double.
/// How a regression (or cosine) head's outputs are compared with the targets.
public enum RegressionLoss: String, Codable, Sendable, CaseIterable {
    /// Mean squared error.
    case mse
    /// 1 − Pearson r of the batch.
    case pearson
}

public enum Loss {
    /// Cross-entropy of logits (B, K) against class labels; returns (loss, ∂loss/∂logits).
    public static func crossEntropy(_ logits: [Float], labels: [Int], classes K: Int) -> (Float, [Float]) {
        var grad = [Float](repeating: 0, count: labels.count * K)
        let loss = logits.withUnsafeBufferPointer { l in
            grad.withUnsafeMutableBufferPointer { g in crossEntropy(l.baseAddress!, labels: labels, classes: K, gradient: g.baseAddress!) }
        }
        return (loss, grad)
    }

    /// loss = mean over rows of −log softmax(logits)[label]; gradient (B, K) = (softmax − onehot) / B.
    public static func crossEntropy(_ logits: UnsafePointer<Float>, labels: [Int], classes K: Int, gradient grad: UnsafeMutablePointer<Float>) -> Float {
        let B = labels.count
        var total = 0.0
        for r in 0..<B {
            let row = logits + r * K
            var mx = -Double.infinity
            for k in 0..<K { mx = max(mx, Double(row[k])) }
            var z = 0.0
            for k in 0..<K { z += Foundation.exp(Double(row[k]) - mx) }
            total += -(Double(row[labels[r]]) - mx - Foundation.log(z))
            for k in 0..<K { grad[r * K + k] = Float((Foundation.exp(Double(row[k]) - mx) / z - (k == labels[r] ? 1 : 0)) / Double(B)) }
        }
        return Float(total / Double(B))
    }

    /// Binary cross-entropy with logits against targets in [0, 1].
    public static func binaryCrossEntropy(_ logits: [Float], targets: [Float]) -> (Float, [Float]) {
        var grad = [Float](repeating: 0, count: targets.count)
        let loss = logits.withUnsafeBufferPointer { l in
            grad.withUnsafeMutableBufferPointer { g in binaryCrossEntropy(l.baseAddress!, targets: targets, gradient: g.baseAddress!) }
        }
        return (loss, grad)
    }

    /// loss = mean of max(x, 0) − x y + log(1 + e^−|x|); gradient = (σ(x) − y) / B.
    public static func binaryCrossEntropy(_ logits: UnsafePointer<Float>, targets: [Float], gradient grad: UnsafeMutablePointer<Float>) -> Float {
        let B = targets.count
        var total = 0.0
        for r in 0..<B {
            let x = Double(logits[r]), y = Double(targets[r])
            total += max(x, 0) - x * y + Foundation.log(1 + Foundation.exp(-abs(x)))
            grad[r] = Float((1 / (1 + Foundation.exp(-x)) - y) / Double(B))
        }
        return Float(total / Double(B))
    }

    /// Mean squared error against real targets.
    public static func meanSquaredError(_ outputs: [Float], targets: [Float]) -> (Float, [Float]) {
        var grad = [Float](repeating: 0, count: targets.count)
        let loss = outputs.withUnsafeBufferPointer { o in
            grad.withUnsafeMutableBufferPointer { g in meanSquaredError(o.baseAddress!, targets: targets, gradient: g.baseAddress!) }
        }
        return (loss, grad)
    }

    /// loss = 1 − r, Pearson's r between the batch's outputs and targets (the STS loss of the paper's
    /// authors); ∂r/∂oᵢ = (yᵢ − ȳ)/√(Sₒₒ S_yy) − r (oᵢ − ō)/Sₒₒ. A batch of one, or constant targets,
    /// has no correlation to learn: loss 0, gradient 0.
    public static func pearson(_ outputs: UnsafePointer<Float>, targets: [Float], gradient grad: UnsafeMutablePointer<Float>) -> Float {
        let B = targets.count
        guard B >= 2 else { for r in 0..<B { grad[r] = 0 }; return 0 }
        var mo = 0.0, my = 0.0
        for r in 0..<B { mo += Double(outputs[r]); my += Double(targets[r]) }
        mo /= Double(B); my /= Double(B)
        var soo = 0.0, syy = 0.0, soy = 0.0
        for r in 0..<B {
            let dO = Double(outputs[r]) - mo, dY = Double(targets[r]) - my
            soo += dO * dO; syy += dY * dY; soy += dO * dY
        }
        guard syy > 0 else { for r in 0..<B { grad[r] = 0 }; return 0 }
        let eps = 1e-12
        let norm = (max(soo, eps) * syy).squareRoot(), corr = soy / norm
        for r in 0..<B {
            let dO = Double(outputs[r]) - mo, dY = Double(targets[r]) - my
            grad[r] = Float(-(dY / norm - corr * dO / max(soo, eps)))
        }
        return Float(1 - corr)
    }

    public static func pearson(_ outputs: [Float], targets: [Float]) -> (Float, [Float]) {
        var grad = [Float](repeating: 0, count: targets.count)
        let loss = outputs.withUnsafeBufferPointer { o in grad.withUnsafeMutableBufferPointer { g in pearson(o.baseAddress!, targets: targets, gradient: g.baseAddress!) } }
        return (loss, grad)
    }

    /// loss = mean (o − y)²; gradient = 2 (o − y) / B.
    public static func meanSquaredError(_ outputs: UnsafePointer<Float>, targets: [Float], gradient grad: UnsafeMutablePointer<Float>) -> Float {
        let B = targets.count
        var total = 0.0
        for r in 0..<B {
            let d = Double(outputs[r]) - Double(targets[r])
            total += d * d
            grad[r] = Float(2 * d / Double(B))
        }
        return Float(total / Double(B))
    }
}
