// What a trained run answers for texts: batched forward passes through one head, turned into a
// label with its class probabilities (classification: softmax; binary: sigmoid) or a value
// (regression, similarity). The language's `predict` and `lorabook predict` both use it.
import Foundation

public struct Prediction: Sendable {
    /// The head's outputs (a similarity head: its score).
    public let logits: [Double]
    /// Class probabilities (empty for regression and similarity).
    public let probabilities: [Double]
    /// The most probable class (nil for regression and similarity).
    public let label: Int?
}

public struct Predictor {
    public let network: Network
    public let head: LinearHead
    public let maxLength: Int
    public let batchSize: Int

    public init(network: Network, head: LinearHead, maxLength: Int = TrainRequest.defaultMaxLength, batchSize: Int = 64) {
        self.network = network; self.head = head; self.maxLength = maxLength; self.batchSize = max(1, batchSize)
    }

    /// One prediction per input, in order. A similarity (cosine) head needs pairs.
    public func predict(_ inputs: [(String, String?)]) throws -> [Prediction] {
        var result: [Prediction] = []
        result.reserveCapacity(inputs.count)
        let model = network.model
        var start = 0
        while start < inputs.count {
            let chunk = Array(inputs[start..<min(start + batchSize, inputs.count)])
            start += chunk.count
            if head.kind == .cosine {
                guard chunk.allSatisfy({ $0.1 != nil }) else {
                    throw ModelError.invalidArgument(name: "pair", reason: "a similarity head compares two texts; an input has only one")
                }
                let batch = try model.batch(chunk.map { ($0.0, nil) } + chunk.map { ($0.1!, nil) }, maxLength: maxLength)
                result += network.predict(batch, head: head).map { Prediction(logits: [Double($0)], probabilities: [], label: nil) }
                continue
            }
            let batch = try model.batch(chunk, maxLength: maxLength)
            let out = network.predict(batch, head: head)
            let K = head.outputs
            for i in 0..<chunk.count {
                let logits = (0..<K).map { Double(out[i * K + $0]) }
                result.append(Self.interpret(logits, kind: head.kind))
            }
        }
        return result
    }

    static func interpret(_ logits: [Double], kind: HeadKind) -> Prediction {
        switch kind {
        case .classification:
            let top = logits.max() ?? 0
            let e = logits.map { Foundation.exp($0 - top) }
            let sum = e.reduce(0, +)
            let p = e.map { $0 / sum }
            return Prediction(logits: logits, probabilities: p, label: p.indices.max { p[$0] < p[$1] })
        case .binary:
            let p = 1 / (1 + Foundation.exp(-logits[0]))
            return Prediction(logits: logits, probabilities: [1 - p, p], label: p >= 0.5 ? 1 : 0)
        case .regression, .cosine:
            return Prediction(logits: logits, probabilities: [], label: nil)
        }
    }
}
