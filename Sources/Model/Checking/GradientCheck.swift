// Finite-difference gradient checks: central differences of the loss with respect to sampled
// entries of every trainable tensor, against the gradients backward accumulated. Dropout masks are
// functions of (seed, position) only, so the loss is a deterministic function of the parameters and
// the check holds with dropout on. DoRA's norm ‖W0 + sBA‖ is held at its value (backward treats it
// as a constant, as PEFT does), so the check tests exactly the gradient training uses.
import Foundation

public struct GradientCheckReport: CustomStringConvertible {
    public struct Worst { public let tensor: String; public let index: Int; public let analytic: Double; public let numeric: Double }
    public let checked: Int
    /// max |analytic − numeric| / (|analytic| + |numeric| + floor)
    public let worstRelativeError: Double
    public let worst: Worst?
    public var description: String {
        guard let w = worst else { return "checked \(checked) entries" }
        return "checked \(checked) entries; worst relative error \(String(format: "%.2e", worstRelativeError)) at \(w.tensor)[\(w.index)]: backward \(w.analytic), finite differences \(w.numeric)"
    }
}

public enum GradientCheck {
    /// Checks up to `samples` entries of every trainable tensor of `network` (all entries of small ones).
    public static func run(_ network: Network, batch: TokenBatch, head: LinearHead, labels: BatchLabels,
                           samples: Int = 6, epsilon: Float = 1e-2, floor: Double = 1e-2, seed: UInt64 = 1) -> GradientCheckReport {
        func loss() -> Double {
            network.zeroGradients()
            return Double(network.lossAndGradients(batch, head: head, labels: labels, stepSeed: seed).loss)
        }
        network.zeroGradients()
        _ = network.lossAndGradients(batch, head: head, labels: labels, stepSeed: seed)
        let adapters = network.adapters?.all ?? []
        for case let a as DoRAAdapter in adapters { a.freezesNorm = true }
        defer { for case let a as DoRAAdapter in adapters { a.freezesNorm = false } }
        let tensors = network.trainables
        let analytic = tensors.map { $0.gradient.toArray() }
        var rng = SplitMix64(seed: 99)
        var worst: GradientCheckReport.Worst?
        var worstError = 0.0, checked = 0
        for (t, tensor) in tensors.enumerated() {
            let n = tensor.parameter.count
            let indices = n <= samples ? Array(0..<n) : (0..<samples).map { _ in rng.nextInt(n) }
            for i in indices {
                let p = tensor.parameter.data + i
                let original = p.pointee
                p.pointee = original + epsilon
                let plus = loss()
                p.pointee = original - epsilon
                let minus = loss()
                p.pointee = original
                let numeric = (plus - minus) / (2 * Double(epsilon))
                let a = Double(analytic[t][i])
                let error = abs(a - numeric) / (abs(a) + abs(numeric) + floor)
                checked += 1
                if error > worstError {
                    worstError = error
                    worst = .init(tensor: tensor.name, index: i, analytic: a, numeric: numeric)
                }
            }
        }
        network.zeroGradients()
        return GradientCheckReport(checked: checked, worstRelativeError: worstError, worst: worst)
    }
}
