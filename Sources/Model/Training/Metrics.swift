// Evaluation metrics: accuracy, Pearson correlation, and the paper's overall multitask score.
import Foundation

public enum Metrics {
    public static func accuracy(predicted: [Int], labels: [Int]) -> Double {
        precondition(predicted.count == labels.count && !labels.isEmpty)
        return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    /// Pearson's r (0 when either side is constant).
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count && !x.isEmpty)
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in x.indices { let dx = x[i] - mx, dy = y[i] - my; sxy += dx * dy; sxx += dx * dx; syy += dy * dy }
        return sxx == 0 || syy == 0 ? 0 : sxy / (sxx * syy).squareRoot()
    }

    /// (sst_acc + para_acc + (sts_pearson + 1) / 2) / 3, the paper's overall score.
    public static func overallScore(sstAccuracy: Double, paraphraseAccuracy: Double, stsPearson: Double) -> Double {
        (sstAccuracy + paraphraseAccuracy + (stsPearson + 1) / 2) / 3
    }

    /// 95% percentile-bootstrap intervals of each task's metric and of the overall score, each task's
    /// rows resampled independently in every replicate (1,000 resamples, seed 0).
    public static func overallIntervals(sst: Evaluation, paraphrase: Evaluation, sts: Evaluation, resamples: Int = 1000, seed: UInt64 = 0)
        -> (sst: (low: Double, high: Double), paraphrase: (low: Double, high: Double), sts: (low: Double, high: Double), overall: (low: Double, high: Double)) {
        let i = Statistics.bootstrap(rows: [sst.examples, paraphrase.examples, sts.examples], resamples: resamples, seed: seed) { rows in
            let a = sst.score(rows: rows[0]), p = paraphrase.score(rows: rows[1]), r = sts.score(rows: rows[2])
            return [a, p, r, overallScore(sstAccuracy: a, paraphraseAccuracy: p, stsPearson: r)]
        }
        return (i[0], i[1], i[2], i[3])
    }
}

/// A head's results on a dataset.
public struct Evaluation: Sendable {
    public let dataset: String
    public let kind: HeadKind
    public let examples: Int
    /// Accuracy (classification, binary) or Pearson r (regression): the task's headline metric.
    public let score: Double
    public let loss: Double
    /// Per example: the predicted class, the probability of class 1 (binary), or the value (regression).
    public let predictions: [Double]
    /// The raw outputs (logits or values), (examples, K): what an ensemble averages.
    public let outputs: [Float]
    public let outputsPerExample: Int
    /// The headline metric of a model that ignores its input, on the same rows: always the most
    /// frequent class (classification, binary), or always the mean (regression: Pearson r 0).
    public let baseline: Double
    /// Classification and binary: counts by true class (rows) and predicted class (columns).
    public let confusion: [[Int]]?
    /// The rows' labels, in order: what `score(rows:)` scores a resample against.
    public let labels: [Double]
    public var metricName: String { kind == .regression || kind == .cosine ? "pearson" : "accuracy" }

    /// The headline metric on the given rows (indices may repeat: a bootstrap resample).
    public func score(rows: [Int]) -> Double {
        switch kind {
        case .classification:
            return Double(rows.filter { predictions[$0] == labels[$0] }.count) / Double(rows.count)
        case .binary:
            return Double(rows.filter { (predictions[$0] > 0.5) == (labels[$0] > 0.5) }.count) / Double(rows.count)
        case .regression, .cosine:
            return Metrics.pearson(rows.map { predictions[$0] }, rows.map { labels[$0] })
        }
    }

    /// The metric's 95% percentile-bootstrap interval over the scored rows (1,000 resamples, seed 0):
    /// how much the score would move on another draw of dev rows of the same size. It says nothing
    /// of training's spread over seeds.
    public func interval(resamples: Int = 1000, seed: UInt64 = 0) -> (low: Double, high: Double) {
        Statistics.bootstrap(rows: [examples], resamples: resamples, seed: seed) { [score(rows: $0[0])] }[0]
    }
}

public enum TaskEvaluator {
    /// Runs `head` over `data` in order, without dropout; `outputs` from several members can be
    /// averaged with `scored`.
    public static func evaluate(_ network: Network, head: LinearHead, data: EncodedDataset, batchSize: Int = 64) -> Evaluation {
        var outputs: [Float] = []
        outputs.reserveCapacity(data.count * head.outputs)
        for indices in data.epochBatches(batchSize: batchSize, shuffle: false, seed: 0, epoch: 0) {
            let (batch, _) = data.batch(indices, padID: network.model.tokenizer.padID)
            outputs += network.predict(batch, head: head)
        }
        return scored(outputs, perExample: head.outputs, kind: head.kind, data: data)
    }

    /// Scores outputs (examples × K) against the dataset's labels.
    public static func scored(_ outputs: [Float], perExample K: Int, kind: HeadKind, data: EncodedDataset) -> Evaluation {
        let labels = data.dataset.examples.map(\.label)
        let n = labels.count
        var predictions: [Double] = [], loss = 0.0, score = 0.0, baseline = 0.0
        var confusion: [[Int]]?
        /// The majority class's share of the rows, and the confusion matrix of `predicted`.
        func classified(_ predicted: [Int], _ truth: [Int], classes: Int) {
            var counts = [Int](repeating: 0, count: classes)
            var matrix = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
            for (p, t) in zip(predicted, truth) where (0..<classes).contains(t) && (0..<classes).contains(p) { counts[t] += 1; matrix[t][p] += 1 }
            baseline = Double(counts.max() ?? 0) / Double(max(1, truth.count))
            confusion = matrix
        }
        switch kind {
        case .classification:
            let classes = labels.map { Int($0) }
            loss = Double(Loss.crossEntropy(outputs, labels: classes, classes: K).0)
            let predicted = (0..<n).map { r in (0..<K).max { outputs[r * K + $0] < outputs[r * K + $1] }! }
            predictions = predicted.map(Double.init)
            score = Metrics.accuracy(predicted: predicted, labels: classes)
            classified(predicted, classes, classes: K)
        case .binary:
            loss = Double(Loss.binaryCrossEntropy(outputs, targets: labels).0)
            predictions = outputs.map { 1 / (1 + Foundation.exp(-Double($0))) }
            let predicted = outputs.map { $0 > 0 ? 1 : 0 }
            score = Metrics.accuracy(predicted: predicted, labels: labels.map { Int($0) })
            classified(predicted, labels.map { Int($0) }, classes: 2)
        case .regression, .cosine:
            loss = Double(Loss.meanSquaredError(outputs, targets: labels).0)
            predictions = outputs.map(Double.init)
            score = Metrics.pearson(predictions, labels.map(Double.init))
            baseline = 0   // a constant prediction has no correlation
        }
        return Evaluation(dataset: data.dataset.name, kind: kind, examples: n, score: score, loss: loss,
                          predictions: predictions, outputs: outputs, outputsPerExample: K, baseline: baseline, confusion: confusion,
                          labels: labels.map(Double.init))
    }

    /// An ensemble: the members' outputs (logits, values) averaged, then scored.
    public static func ensemble(_ members: [Evaluation], data: EncodedDataset) -> Evaluation {
        precondition(!members.isEmpty)
        var sum = [Float](repeating: 0, count: members[0].outputs.count)
        for m in members { for i in sum.indices { sum[i] += m.outputs[i] } }
        let mean = sum.map { $0 / Float(members.count) }
        return scored(mean, perExample: members[0].outputsPerExample, kind: members[0].kind, data: data)
    }
}
