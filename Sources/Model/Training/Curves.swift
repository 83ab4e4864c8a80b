// Learning curves and model selection: a run scored during training (every epoch or every K
// steps) on a validation split held out of the training data, or on dev; the weights of the best
// evaluation kept (`keep=best`); early stopping after `patience` evaluations without improvement.
// Selection looks only at the monitor's rows: with a validation split, the dev split it is later
// scored on never took part in choosing.
import Foundation

/// When a run is scored during training.
public enum EvaluationSchedule: Codable, Sendable, Equatable {
    case epoch
    case steps(Int)
}

/// What the run is scored on while it trains, and what is done with the scores.
public struct EvaluationRequest: Codable, Sendable, Equatable {
    public enum Keep: String, Codable, Sendable, CaseIterable { case best, last }
    /// Tasks scored (each must be trained by the run).
    public var tasks: [String]
    /// Rows scored per task (of the validation split, or of dev): nil, all.
    public var limit: Int?
    public var every: EvaluationSchedule
    /// A fraction of each task's training rows held out (stratified, by the run's seed) and scored
    /// instead of dev; nil: dev is scored.
    public var validation: Float?
    public var keep: Keep
    /// Stop after this many evaluations without improvement (nil: never stop early).
    public var patience: Int?

    public init(tasks: [String], limit: Int? = nil, every: EvaluationSchedule = .epoch, validation: Float? = nil, keep: Keep = .last, patience: Int? = nil) {
        self.tasks = tasks; self.limit = limit; self.every = every; self.validation = validation; self.keep = keep; self.patience = patience
    }

    public func validate(trained: [String]) throws {
        guard !tasks.isEmpty else { throw ModelError.invalidArgument(name: "eval", reason: "expected at least one task to score") }
        for t in tasks where !trained.contains(t) {
            throw ModelError.invalidArgument(name: "eval \(t)", reason: "the run does not train '\(t)' (it trains \(trained.joined(separator: ", ")))")
        }
        if let v = validation, !(v > 0 && v < 1) { throw ModelError.invalidArgument(name: "validation \(v)", reason: "expected a fraction 0 < validation < 1") }
        if case .steps(let k) = every, k < 1 { throw ModelError.invalidArgument(name: "eval_every \(k)", reason: "expected at least 1 step") }
        if let p = patience, p < 1 { throw ModelError.invalidArgument(name: "patience \(p)", reason: "expected at least 1") }
        if let l = limit, l < 1 { throw ModelError.invalidArgument(name: "eval_limit \(l)", reason: "expected at least 1") }
    }

    /// What the scores come from, for labels: "validation" or "dev".
    public var splitName: String { validation == nil ? "dev" : "validation" }
}

/// One evaluation during training.
public struct CurvePoint: Codable, Sendable, Equatable {
    public var epoch: Double
    public var step: Int
    /// Mean training loss of the steps since the previous evaluation.
    public var trainLoss: Double?
    /// Metric name (`sst_accuracy`, or `accuracy` for one task) → value, in the order scored.
    public var metrics: [Metric]
    /// The value selection compares (higher is better): the first task's metric, or the overall
    /// score when sst, quora and sts are all scored.
    public var score: Double
    public var learningRate: Double
    public var seconds: Double
    public struct Metric: Codable, Sendable, Equatable { public var name: String; public var value: Double }
}

/// The trainer's side of monitoring: when to score, how, and what to keep.
public struct TrainingMonitor {
    public var every: EvaluationSchedule
    public var keepBest: Bool
    public var patience: Int?
    /// Scores the network as it is now.
    public var evaluate: () -> (metrics: [CurvePoint.Metric], score: Double)
    public init(every: EvaluationSchedule, keepBest: Bool, patience: Int?, evaluate: @escaping () -> (metrics: [CurvePoint.Metric], score: Double)) {
        self.every = every; self.keepBest = keepBest; self.patience = patience; self.evaluate = evaluate
    }
}

/// A copy of every trainable tensor (the best evaluation's weights), restored at the end.
final class WeightSnapshot {
    private var copies: [[Float]]
    init(_ trainables: [TrainableTensor]) { copies = trainables.map { Array(UnsafeBufferPointer(start: $0.parameter.data, count: $0.parameter.count)) } }
    func take(_ trainables: [TrainableTensor]) {
        for (i, t) in trainables.enumerated() { copies[i].withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: t.parameter.data, count: t.parameter.count) } }
    }
    func restore(_ trainables: [TrainableTensor]) {
        for (i, t) in trainables.enumerated() { copies[i].withUnsafeBufferPointer { t.parameter.data.update(from: $0.baseAddress!, count: t.parameter.count) } }
    }
}

/// What monitoring keeps during a run: the curve, the best evaluation and its weights (keep=best),
/// and patience.
final class Monitoring {
    let monitor: TrainingMonitor
    private(set) var curve: [CurvePoint] = []
    private var best: (index: Int, score: Double)?
    private var sinceBest = 0
    private var lossSinceEval: Double = 0, stepsSinceEval = 0
    private let snapshot: WeightSnapshot?

    init(_ monitor: TrainingMonitor, trainables: [TrainableTensor]) {
        self.monitor = monitor
        snapshot = monitor.keepBest ? WeightSnapshot(trainables) : nil
    }

    func note(_ loss: Float) { lossSinceEval += Double(loss); stepsSinceEval += 1 }

    /// Scores the network now and adds the point to the curve; false when patience ran out.
    func evaluate(epoch: Double, step: Int, learningRate lr: Float, seconds: Double, trainables: [TrainableTensor], onEvent: (TrainingEvent) -> Void) -> Bool {
        let (metrics, score) = monitor.evaluate()
        let point = CurvePoint(epoch: epoch, step: step, trainLoss: stepsSinceEval > 0 ? lossSinceEval / Double(stepsSinceEval) : nil, metrics: metrics,
                               score: score, learningRate: Double(lr), seconds: seconds)
        curve.append(point)
        lossSinceEval = 0; stepsSinceEval = 0
        onEvent(.evaluated(point))
        if best == nil || score > best!.score {
            best = (curve.count - 1, score); sinceBest = 0
            snapshot?.take(trainables)
        } else {
            sinceBest += 1
            if let p = monitor.patience, sinceBest >= p { return false }
        }
        return true
    }

    /// The curve point whose weights the run keeps: keep=best restores the best evaluation's
    /// weights; otherwise the last point's.
    func keep(_ trainables: [TrainableTensor], model: BertModel) -> Int? {
        if let snapshot, let best {
            snapshot.restore(trainables)
            model.parametersChanged()
            return best.index
        }
        return curve.isEmpty ? nil : curve.count - 1
    }
}
