// Subsets that represent the data: `limit=N` draws N rows by a seeded shuffle, stratified by label
// for classification (each class in proportion, by largest remainders), or takes the first N rows
// when asked. The data files are not shuffled (the first 3,000 SST-5 training rows are half class
// 3), so taking the first rows would train and score on a skewed sample.
import Foundation

public enum Sampling: String, Codable, Sendable, CaseIterable {
    /// The first N rows, in file order.
    case first
    /// N rows drawn uniformly by a seeded shuffle.
    case random
    /// N rows with every class in its share of the file (classification and binary tasks; random for
    /// regression).
    case stratified
}

/// Which rows of a dataset: all of them, or `limit` drawn by `sampling` with `seed`.
public struct Subset: Hashable, Codable, Sendable {
    public var limit: Int?
    public var sampling: Sampling
    public var seed: UInt64
    public init(limit: Int?, sampling: Sampling = .stratified, seed: UInt64 = 0) { self.limit = limit; self.sampling = sampling; self.seed = seed }
    public static let all = Subset(limit: nil)
}

extension Dataset {
    /// The rows of `subset`, in file order.
    public func subset(_ s: Subset) -> Dataset {
        guard let n = s.limit, n < examples.count else { return self }
        var d = self
        d.examples = indices(s, n).map { examples[$0] }
        return d
    }

    /// A validation split: `fraction` of the rows held out (stratified by label, seeded), the rest
    /// for training; both in file order, disjoint, together every row.
    public func split(holdout fraction: Float, seed: UInt64) -> (train: Dataset, validation: Dataset) {
        let k = min(max(1, Int((Double(fraction) * Double(examples.count)).rounded())), max(0, examples.count - 1))
        let held = Set(indices(Subset(limit: k, sampling: .stratified, seed: seed ^ 0x7A11_DA7E), k))
        var train = self, validation = self
        train.examples = examples.indices.filter { !held.contains($0) }.map { examples[$0] }
        validation.examples = held.sorted().map { examples[$0] }
        return (train, validation)
    }

    /// `n` row indices by `s.sampling`, sorted.
    func indices(_ s: Subset, _ n: Int) -> [Int] {
        let indices: [Int]
        switch s.sampling {
        case .first: indices = Array(0..<max(0, n))
        case .random: indices = Self.draw(Array(examples.indices), n, seed: s.seed)
        case .stratified:
            guard spec.kind == .classification || spec.kind == .binary else { indices = Self.draw(Array(examples.indices), n, seed: s.seed); break }
            var byClass: [Float: [Int]] = [:]
            for (i, e) in examples.enumerated() { byClass[e.label, default: []].append(i) }
            let classes = byClass.keys.sorted()
            // largest remainders: floor of each share, then one more to the largest fractions
            let shares = classes.map { Double(byClass[$0]!.count) * Double(n) / Double(examples.count) }
            var counts = shares.map { Int($0) }
            let order = classes.indices.sorted { (shares[$0] - Double(counts[$0]), -$0) > (shares[$1] - Double(counts[$1]), -$1) }
            for k in order.prefix(n - counts.reduce(0, +)) { counts[k] += 1 }
            var picked: [Int] = []
            for (k, c) in classes.enumerated() { picked += Self.draw(byClass[c]!, counts[k], seed: s.seed &+ UInt64(k) &* 0x9E3779B97F4A7C15) }
            indices = picked
        }
        return indices.sorted()
    }

    /// `n` of `items` by a seeded Fisher–Yates shuffle (written out, so a new Swift never changes a subset).
    static func draw(_ items: [Int], _ n: Int, seed: UInt64) -> [Int] {
        var a = items
        var rng = SplitMix64(seed: seed ^ 0x5EED_5AB5_E7D1_CE00)
        let k = min(max(0, n), a.count)
        for i in 0..<k {
            let j = i + rng.nextInt(a.count - i)
            a.swapAt(i, j)
        }
        return Array(a.prefix(k))
    }

    /// Per class (classification, binary): how many rows have each label, in label order.
    public var labelCounts: [(label: Float, count: Int)] {
        var counts: [Float: Int] = [:]
        for e in examples { counts[e.label, default: 0] += 1 }
        return counts.keys.sorted().map { ($0, counts[$0]!) }
    }
}
