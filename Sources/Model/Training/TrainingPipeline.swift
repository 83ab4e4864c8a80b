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
    /// The first N training examples of each task (nil: all).
    public var limit: Int?
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
    public init(tasks: [String], adaptation: AdaptationConfig, seed: UInt64, limit: Int? = nil, maxLength: Int = TrainRequest.defaultMaxLength,
                similarity: Similarity = .cls, epochs: Int = 1, batchSize: Int = 32, learningRate: Float? = nil, warmup: Float = 0.06,
                schedule: ScheduleKind = .linear, weightDecay: Float = 0.01, clipNorm: Float? = nil, bucketing: Bool = false,
                sampling: TaskSampling = .proportional, weights: [Float]? = nil, name: String? = nil) {
        self.tasks = tasks; self.limit = limit; self.maxLength = maxLength; self.similarity = similarity
        self.adaptation = adaptation; self.weights = weights; self.name = name
        training = TrainingConfig(epochs: epochs, batchSize: batchSize, learningRate: learningRate ?? Self.defaultLearningRate(adaptation.mode),
                                  warmup: warmup, schedule: schedule, weightDecay: weightDecay, clipNorm: clipNorm, seed: seed,
                                  bucketing: bucketing, sampling: sampling)
    }

    public var seed: UInt64 { training.seed }

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
}

/// Where the pipeline gets its data: a task's dataset (for its kind and class count) and its
/// encoded training examples. The language's session caches both; the CLI reads the files.
public protocol TrainingData {
    func dataset(_ task: String) throws -> Dataset
    func encoded(_ task: String, limit: Int?, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset
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
    public func encoded(_ task: String, limit: Int?, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset {
        try EncodedDataset(try dataset(task).limited(limit), tokenizer: tokenizer, maxLength: maxLength, separatePairs: separatePairs)
    }
}

public enum TrainingPipeline {
    /// Trains `request` on `model`: builds the network (adapters or full), a head per task, the
    /// trainer, and runs it. `shouldStop` is asked between steps (the run keeps what it learned).
    public static func run(_ request: TrainRequest, model: BertModel, data: TrainingData,
                           onEvent: (TrainingEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> (network: Network, result: TrainResult) {
        try request.validate()
        let network = try Network(model: model, adaptation: request.adaptation, seed: request.seed)
        var bindings: [TaskBinding] = []
        for (i, task) in request.tasks.enumerated() {
            let spec = try data.dataset(task).spec
            let separate = request.similarity == .cosine && spec.kind == .regression
            let encoded = try data.encoded(task, limit: request.limit, maxLength: request.maxLength, separatePairs: separate)
            let head = network.addHead(task, kind: separate ? .cosine : spec.kind, classes: spec.classes)
            bindings.append(TaskBinding(name: task, data: encoded, head: head, weight: request.weights?[i] ?? 1))
        }
        let trainer = try Trainer(network: network, tasks: bindings, config: request.training)
        ProcessMemory.resetPeak()
        let summary = trainer.run(onEvent: onEvent, shouldStop: shouldStop)
        let result = TrainResult(
            request: request, name: request.name ?? request.defaultName,
            examples: Dictionary(bindings.map { ($0.name, $0.data.count) }, uniquingKeysWith: { a, _ in a }),
            steps: summary.steps, totalSteps: trainer.totalSteps, loss: summary.meanLossPerEpoch.last.map(Double.init), stopped: summary.stopped,
            seconds: summary.seconds,
            secondsPerEpoch: summary.secondsPerEpoch.reduce(0, +) / Double(max(1, summary.secondsPerEpoch.count)),
            examplesPerSecond: summary.examplesPerSecond, trainableParameters: summary.trainableParameters, memory: summary.memory)
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
