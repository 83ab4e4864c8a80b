// The losses a head trains with: cross-entropy (classification), binary cross-entropy with logits
// (paraphrase), mean squared error or 1 − Pearson r (similarity), and their gradients.
import Foundation

/// How a regression (or cosine) head's outputs are compared with the targets.
public enum RegressionLoss: String, Codable, Sendable, CaseIterable {
    /// Mean squared error.
    case mse
    /// 1 − Pearson r of the batch.
    case pearson
}

/// Losses averaged over the batch, with their gradient with respect to the head's outputs. Each has
/// an array form (evaluation, tests) and a pointer form that writes the gradient into a caller's
/// buffer (training steps, which allocate nothing). Sums run in Double.
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
        withGradient(logits, targets, binaryCrossEntropy)
    }

    /// A loss over arrays: (loss, gradient), through the pointer form `f`.
    static func withGradient(_ outputs: [Float], _ targets: [Float],
                             _ f: (UnsafePointer<Float>, [Float], UnsafeMutablePointer<Float>) -> Float) -> (Float, [Float]) {
        var grad = [Float](repeating: 0, count: targets.count)
        let loss = outputs.withUnsafeBufferPointer { o in
            grad.withUnsafeMutableBufferPointer { g in f(o.baseAddress!, targets, g.baseAddress!) }
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
        withGradient(outputs, targets, meanSquaredError)
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
