// Batches of a tokenized dataset: shuffled per epoch by seed, optionally bucketed by length (sorted
// within windows of 50 batches, then the batches shuffled), each padded to its own longest sequence.
import Foundation

public struct EncodedDataset: Sendable {
    public let dataset: Dataset
    public let encodings: [Encoding]
    /// With `separatePairs`, the second texts, encoded on their own (`encodings` then hold the first).
    public let secondEncodings: [Encoding]?
    /// Inputs that were truncated to the maximum length.
    public let truncated: Int

    /// `separatePairs` encodes a pair's texts as two sequences (for a cosine head) instead of one
    /// `[CLS] a [SEP] b [SEP]` sequence.
    public init(_ dataset: Dataset, tokenizer: BertTokenizer, maxLength: Int, separatePairs: Bool = false) throws {
        self.dataset = dataset
        var encodings: [Encoding] = [], second: [Encoding] = []
        encodings.reserveCapacity(dataset.count)
        var truncated = 0
        for e in dataset.examples {
            if separatePairs {
                let a = try tokenizer.encode(e.textA, nil, maxLength: maxLength)
                let b = try tokenizer.encode(e.textB ?? "", nil, maxLength: maxLength)
                if a.truncated + b.truncated > 0 { truncated += 1 }
                encodings.append(a); second.append(b)
            } else {
                let enc = try tokenizer.encode(e.textA, e.textB, maxLength: maxLength)
                if enc.truncated > 0 { truncated += 1 }
                encodings.append(enc)
            }
        }
        self.encodings = encodings
        self.secondEncodings = separatePairs ? second : nil
        self.truncated = truncated
    }

    public var count: Int { encodings.count }

    /// The batch of these example indices, with its labels.
    /// With separate pairs the batch holds the B first texts, then the B second texts.
    public func batch(_ indices: [Int], padID: Int32 = 0) -> (TokenBatch, BatchLabels) {
        let sequences = indices.map { encodings[$0] } + (secondEncodings.map { s in indices.map { s[$0] } } ?? [])
        let batch = TokenBatch(sequences, padID: padID)
        let labels = indices.map { dataset.examples[$0].label }
        switch dataset.spec.kind {
        case .classification: return (batch, .classes(labels.map { Int($0) }))
        case .binary, .regression, .cosine: return (batch, .values(labels))
        }
    }

    /// The token counts of the sequences `batch(indices)` would hold.
    public func sequenceLengths(_ indices: [Int]) -> [Int] {
        indices.map { encodings[$0].count } + (secondEncodings.map { s in indices.map { s[$0].count } } ?? [])
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

