// Batches of a tokenized dataset: shuffled per epoch by seed, optionally bucketed by length (sorted
// within windows of 50 batches, then the batches shuffled), each padded to its own longest sequence.
import Foundation

public struct EncodedDataset: Sendable {
    public let dataset: Dataset
    public let encodings: [Encoding]
    /// Inputs that were truncated to the maximum length.
    public let truncated: Int

    public init(_ dataset: Dataset, tokenizer: BertTokenizer, maxLength: Int) throws {
        self.dataset = dataset
        var encodings: [Encoding] = []
        encodings.reserveCapacity(dataset.count)
        var truncated = 0
        for e in dataset.examples {
            let enc = try tokenizer.encode(e.textA, e.textB, maxLength: maxLength)
            if enc.truncated > 0 { truncated += 1 }
            encodings.append(enc)
        }
        self.encodings = encodings
        self.truncated = truncated
    }

    public var count: Int { encodings.count }

    /// The batch of these example indices, with its targets.
    public func batch(_ indices: [Int], padID: Int32 = 0) -> (TokenBatch, Targets) {
        let batch = TokenBatch(indices.map { encodings[$0] }, padID: padID)
        let labels = indices.map { dataset.examples[$0].label }
        switch dataset.spec.kind {
        case .classification: return (batch, .classes(labels.map { Int($0) }))
        case .binary, .regression: return (batch, .values(labels))
        }
    }

    /// Index batches for one epoch: in order when `shuffle` is false, else a permutation by
    /// (seed, epoch); with `bucketing`, lengths are grouped so that batches pad less.
    public func epochBatches(batchSize: Int, shuffle: Bool, seed: UInt64, epoch: Int, bucketing: Bool = false) -> [[Int]] {
        var order = Array(0..<count)
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E3779B97F4A7C15)
        if shuffle { order.shuffle(using: &rng) }
        if bucketing {
            let window = batchSize * 50
            var sorted: [Int] = []
            for start in stride(from: 0, to: order.count, by: window) {
                sorted += order[start..<min(start + window, order.count)].sorted { encodings[$0].count < encodings[$1].count }
            }
            order = sorted
        }
        var batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        if bucketing && shuffle { batches.shuffle(using: &rng) }
        return batches
    }
}

extension SplitMix64: RandomNumberGenerator {}
