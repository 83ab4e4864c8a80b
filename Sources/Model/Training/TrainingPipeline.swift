// One training pipeline: a typed, Codable request (model, data selection, adaptation, training
// settings, tasks, seed) goes in; the trained network and a typed, Codable result (metrics, memory,
// timings) come out. The language's `train` and `lorabook train` both go through it, and the
// defaults live here once (the learning rate per mode, the run's default name, max length 128).
import Foundation

/// Everything that decides a training run's result, as data.
public struct TrainRequest: Codable, Sendable, Equatable {
    /// For similarity tasks (sts): a regression head on the pair's [CLS], or 5 · cosine of the two
    /// sentences' mean-pooled embeddings.
    public enum Similarity: String, Codable, Sendable, CaseIterable { case cls, cosine }

    /// Tasks trained together (one shared encoder, a head per task).
    public var tasks: [String]
    /// N training examples of each task (nil: all), drawn by `sample` with the training seed.
    public var limit: Int?
    public var sample: Sampling
    public var maxLength: Int
    public var similarity: Similarity
    public var adaptation: AdaptationConfig
    /// Epochs, batch, learning rate (resolved: `defaultLearningRate` when not given), schedule,
    /// warm-up, weight decay, clipping, bucketing, sampling and the seed.
    public var training: TrainingConfig
    /// Loss weight per task, in order (nil: 1 each).
    public var weights: [Float]?
    /// The run's name (nil: `defaultName`).
    public var name: String?
    /// Scoring during training: curves, keep=best, early stopping (nil: none).
    public var evaluation: EvaluationRequest?
    /// The loss of regression and cosine heads (nil: mean squared error).
    public var regressionLoss: RegressionLoss?
    /// Learning-rate multiplier per task, in order (nil: 1 each).
    public var learningRateScales: [Float]?
    /// What the heads read (nil: the raw [CLS] vector).
    public var head: HeadInput?
    /// The SHA-256 of the adapter the run starts from (`lorabook train --adapter`; nil: a fresh
    /// initialisation). Its weights are the run's starting point, so they are part of what it is.
    public var initialWeights: String?

    public static let defaultMaxLength = 128

    /// The peak learning rate when none is given: head 1e-3, full 5e-5, LoRA and DoRA 5e-4.
    public static func defaultLearningRate(_ mode: AdaptationMode) -> Float {
        switch mode {
        case .head: return 1e-3
        case .full: return 5e-5
        default: return 5e-4
        }
    }

    /// `learningRate` nil takes the mode's default; `seed` is the training seed (shuffling,
    /// dropout) and the adapters' initialisation seed.
    public init(tasks: [String], adaptation: AdaptationConfig, seed: UInt64, limit: Int? = nil, sample: Sampling = .stratified, maxLength: Int = TrainRequest.defaultMaxLength,
                similarity: Similarity = .cls, epochs: Int = 1, batchSize: Int = 32, learningRate: Float? = nil, warmup: Float = 0.06,
                schedule: ScheduleKind = .linear, weightDecay: Float = 0.01, clipNorm: Float? = nil, bucketing: Bool = false,
                sampling: TaskSampling = .proportional, weights: [Float]? = nil, name: String? = nil, evaluation: EvaluationRequest? = nil) {
        self.tasks = tasks; self.limit = limit; self.sample = sample; self.maxLength = maxLength; self.similarity = similarity
        self.adaptation = adaptation; self.weights = weights; self.name = name; self.evaluation = evaluation
        training = TrainingConfig(epochs: epochs, batchSize: batchSize, learningRate: learningRate ?? Self.defaultLearningRate(adaptation.mode),
                                  warmup: warmup, schedule: schedule, weightDecay: weightDecay, clipNorm: clipNorm, seed: seed,
                                  bucketing: bucketing, sampling: sampling)
    }

    public var seed: UInt64 { training.seed }

    /// The training rows of each task: `limit` drawn by `sample`, seeded by the training seed.
    public var subset: Subset { Subset(limit: limit, sampling: sample, seed: seed) }

    /// mode, rank (adapters) and seed: `lora-r8-s0`.
    public var defaultName: String {
        adaptation.mode.rawValue + (adaptation.usesAdapters ? "-r\(adaptation.rank)" : "") + "-s\(seed)"
    }

    /// Checks what can be checked before any data is read.
    public func validate() throws {
        guard !tasks.isEmpty else { throw ModelError.invalidArgument(name: "tasks", reason: "expected at least one task to train") }
        guard Set(tasks).count == tasks.count else { throw ModelError.invalidArgument(name: "tasks", reason: "a task is listed twice") }
        if let w = weights, w.count != tasks.count {
            throw ModelError.invalidArgument(name: "weights", reason: "\(w.count) values for \(tasks.count) tasks")
        }
        if let l = limit, l < 1 { throw ModelError.invalidArgument(name: "limit \(l)", reason: "expected at least 1") }
        guard (3...65_536).contains(maxLength) else { throw ModelError.invalidArgument(name: "max length \(maxLength)", reason: "expected 3…65536") }
        try training.validate()
        try evaluation?.validate(trained: tasks)
        if let s = learningRateScales {
            guard s.count == tasks.count else { throw ModelError.invalidArgument(name: "lr_scale", reason: "\(s.count) values for \(tasks.count) tasks") }
            guard s.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw ModelError.invalidArgument(name: "lr_scale", reason: "expected positive multipliers") }
        }
    }
}

/// What a training run gives besides its network: what was asked, and what happened.
public struct TrainResult: Codable, Sendable {
    public var request: TrainRequest
    public var name: String
    /// Training examples per task (after `limit`).
    public var examples: [String: Int]
    public var steps: Int
    public var totalSteps: Int
    /// The mean training loss of the last epoch (of the steps that ran, if it was stopped); nil
    /// when no step ran.
    public var loss: Double?
    public var stopped: Bool
    public var seconds: Double
    public var secondsPerEpoch: Double
    public var examplesPerSecond: Double
    public var trainableParameters: Int
    public var memory: MemoryReport
    /// The evaluations during training (empty without `evaluation`), which one's weights the run
    /// kept, and whether patience stopped it.
    public var curve: [CurvePoint] = []
    public var kept: Int?
    public var stoppedEarly = false
    /// AdaLoRA: every allocation of the rank budget (step, budget, triplets kept); nil otherwise.
    public var rankHistory: [RankAllocation]?
}

/// Where the pipeline gets its data: a task's dataset (for its kind and class count) and its
/// encoded training examples. The language's session caches both; the CLI reads the files.
public protocol TrainingData {
    func dataset(_ task: String) throws -> Dataset
    func encoded(_ task: String, subset: Subset, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset
    /// The dev split's rows (for curves scored on dev).
    func dev(_ task: String, subset: Subset, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset
}

/// The built-in tasks' files in a data folder; each file is read once.
public final class DataFolder: TrainingData {
    public let folder: URL
    public let tokenizer: BertTokenizer
    public let split: String
    private var loaded: [String: Dataset] = [:]
    public init(folder: URL, tokenizer: BertTokenizer, split: String = "train") { self.folder = folder; self.tokenizer = tokenizer; self.split = split }
    public func dataset(_ task: String) throws -> Dataset {
        if let d = loaded[task] { return d }
        let d = try Datasets.task(task, split: split, folder: folder)
        loaded[task] = d
        return d
    }
    public func encoded(_ task: String, subset: Subset, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset {
        try EncodedDataset(try dataset(task).subset(subset), tokenizer: tokenizer, maxLength: maxLength, separatePairs: separatePairs)
    }
    public func dev(_ task: String, subset: Subset, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset {
        try EncodedDataset(try Datasets.task(task, split: "dev", folder: folder).subset(subset), tokenizer: tokenizer, maxLength: maxLength, separatePairs: separatePairs)
    }
}

public enum TrainingPipeline {
    /// Trains `request` on `model`: builds the network (adapters or full), a head per task, the
    /// trainer, and runs it. `shouldStop` is asked between steps (the run keeps what it learned).
    /// `start`: a trained network to continue from (its adaptation must be the request's, and
    /// `request.initialWeights` must name it); its adapters, and its heads of the same name and
    /// shape, are copied in before the first step.
    public static func run(_ request: TrainRequest, model: BertModel, data: TrainingData,
                           onEvent: (TrainingEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false },
                           start: Network? = nil) throws -> (network: Network, result: TrainResult) {
        try request.validate()
        if request.head == .pooled && !model.hasPooler {
            throw ModelError.invalidArgument(name: "head=pooled", reason: "the checkpoint \(model.folder.path) has no pooler weights (pooler.dense.*) for a pooled head to read; use head=cls")
        }
        let network = try Network(model: model, adaptation: request.adaptation, seed: request.seed)
        var bindings: [TaskBinding] = []
        var monitored: [(task: String, data: EncodedDataset, head: LinearHead)] = []
        let evaluation = request.evaluation
        for (i, task) in request.tasks.enumerated() {
            let spec = try data.dataset(task).spec
            let separate = request.similarity == .cosine && spec.kind == .regression
            let head = network.addHead(task, kind: separate ? .cosine : spec.kind, classes: spec.classes, pooled: request.head == .pooled)
            head.regressionLoss = request.regressionLoss ?? .mse
            var encoded: EncodedDataset
            if let evaluation, let fraction = evaluation.validation {
                // held out of this run's training rows: they never reach a training batch
                let (train, validation) = try data.dataset(task).subset(request.subset).split(holdout: fraction, seed: request.seed)
                encoded = try EncodedDataset(train, tokenizer: model.tokenizer, maxLength: request.maxLength, separatePairs: separate)
                if evaluation.tasks.contains(task) {
                    let rows = try EncodedDataset(validation.subset(Subset(limit: evaluation.limit, seed: 0)), tokenizer: model.tokenizer,
                                                  maxLength: request.maxLength, separatePairs: separate)
                    monitored.append((task, rows, head))
                }
            } else {
                encoded = try data.encoded(task, subset: request.subset, maxLength: request.maxLength, separatePairs: separate)
                if let evaluation, evaluation.tasks.contains(task) {
                    monitored.append((task, try data.dev(task, subset: Subset(limit: evaluation.limit, seed: 0), maxLength: request.maxLength, separatePairs: separate), head))
                }
            }
            bindings.append(TaskBinding(name: task, data: encoded, head: head, weight: request.weights?[i] ?? 1, learningRateScale: request.learningRateScales?[i] ?? 1))
        }
        if let start {
            guard request.initialWeights != nil else { throw ModelError.invalidArgument(name: "start", reason: "a run that starts from an adapter must name it (initialWeights)") }
            guard start.adaptation.mode == request.adaptation.mode, start.adaptation.rank == request.adaptation.rank,
                  start.adaptation.targets == request.adaptation.targets, start.adaptation.layers == request.adaptation.layers else {
                throw ModelError.invalidArgument(name: "adapter", reason: "it is \(start.adaptation.mode.rawValue) r=\(start.adaptation.rank) on \(start.adaptation.targets.map(\.rawValue).joined(separator: ",")); the run asks for \(request.adaptation.mode.rawValue) r=\(request.adaptation.rank) on \(request.adaptation.targets.map(\.rawValue).joined(separator: ","))")
            }
            let from = Dictionary(start.trainables.map { ($0.name, $0.parameter) }, uniquingKeysWith: { a, _ in a })
            for t in network.trainables {
                if let p = from[t.name], p.shape == t.parameter.shape { t.parameter.copy(from: p) }
                else if !t.name.hasPrefix("heads.") { throw ModelError.invalidArgument(name: "adapter", reason: "it has no tensor \(t.name) of shape \(t.parameter.shape)") }
            }
        }
        monitored.sort { a, b in evaluation!.tasks.firstIndex(of: a.task)! < evaluation!.tasks.firstIndex(of: b.task)! }
        let monitor = evaluation.map { e in
            TrainingMonitor(every: e.every, keepBest: e.keep == .best, patience: e.patience) {
                var metrics: [CurvePoint.Metric] = []
                var byTask: [String: Double] = [:]
                for m in monitored {
                    let result = TaskEvaluator.evaluate(network, head: m.head, data: m.data)
                    metrics.append(.init(name: monitored.count == 1 ? result.metricName : "\(m.task)_\(result.metricName)", value: result.score))
                    byTask[m.task] = result.score
                }
                var score = metrics.first?.value ?? 0
                if let sst = byTask["sst"], let para = byTask["quora"], let sts = byTask["sts"] {
                    score = Metrics.overallScore(sstAccuracy: sst, paraphraseAccuracy: para, stsPearson: sts)
                    metrics.append(.init(name: "overall", value: score))
                }
                return (metrics, score)
            }
        }
        let trainer = try Trainer(network: network, tasks: bindings, config: request.training)
        trainer.label = (request.name ?? request.defaultName) + " " + request.tasks.joined(separator: "+")
        ProcessMemory.resetPeak()
        let summary = trainer.run(onEvent: onEvent, shouldStop: shouldStop, monitor: monitor)
        var result = TrainResult(
            request: request, name: request.name ?? request.defaultName,
            examples: Dictionary(bindings.map { ($0.name, $0.data.count) }, uniquingKeysWith: { a, _ in a }),
            steps: summary.steps, totalSteps: trainer.totalSteps, loss: summary.meanLossPerEpoch.last.map(Double.init), stopped: summary.stopped,
            seconds: summary.seconds,
            secondsPerEpoch: summary.secondsPerEpoch.reduce(0, +) / Double(max(1, summary.secondsPerEpoch.count)),
            examplesPerSecond: summary.examplesPerSecond, trainableParameters: summary.trainableParameters, memory: summary.memory,
            curve: summary.curve, kept: summary.kept, stoppedEarly: summary.stoppedEarly)
        result.rankHistory = network.rankAllocator?.history
        return (network, result)
    }
}

extension Datasets {
    /// A task by name: the built-in files, or `sst2` (SST-5 without neutral, two classes).
    public static func task(_ name: String, split: String, folder: URL) throws -> Dataset {
        if name == "sst2" { return binarySentiment(from: try load("sst", split: split, folder: folder)) }
        return try load(name, split: split, folder: folder)
    }
}
