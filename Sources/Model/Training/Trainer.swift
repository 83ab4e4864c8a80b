// The training loop: epochs over one or more tasks (a shared encoder with one head per task),
// AdamW with a warm-up/decay schedule and optional gradient clipping, progress reported as typed
// events to a callback (the Model never prints), and a stop check between steps.
//
// Multitask: every epoch takes every batch of every task once; `proportional` interleaves them at
// random (so tasks are sampled in proportion to their size), `roundRobin` alternates tasks until
// each is exhausted. A task's loss is multiplied by its weight.
// Same seed and thread count → the same batches, dropout masks and results.
import Foundation

public enum TaskSampling: String, Codable, Sendable { case proportional, roundRobin = "round-robin" }

public struct TrainingConfig: Sendable, Codable, Equatable {
    public var epochs: Int = 1
    public var batchSize: Int = 32
    public var learningRate: Float = 5e-4
    /// Warm-up as a fraction of all steps.
    public var warmup: Float = 0.06
    public var schedule: ScheduleKind = .linear
    public var weightDecay: Float = 0.01
    /// Clip the global gradient norm to this value (nil: no clipping).
    public var clipNorm: Float? = nil
    public var seed: UInt64 = 0
    public var bucketing = false
    public var sampling: TaskSampling = .proportional

    public init(epochs: Int = 1, batchSize: Int = 32, learningRate: Float = 5e-4, warmup: Float = 0.06,
                schedule: ScheduleKind = .linear, weightDecay: Float = 0.01, clipNorm: Float? = nil, seed: UInt64 = 0,
                bucketing: Bool = false, sampling: TaskSampling = .proportional) {
        self.epochs = epochs; self.batchSize = batchSize; self.learningRate = learningRate; self.warmup = warmup
        self.schedule = schedule; self.weightDecay = weightDecay; self.clipNorm = clipNorm; self.seed = seed
        self.bucketing = bucketing; self.sampling = sampling
    }

    public func validate() throws {
        guard epochs >= 1 else { throw ModelError.invalidArgument(name: "epochs \(epochs)", reason: "expected at least 1") }
        guard batchSize >= 1 else { throw ModelError.invalidArgument(name: "batch \(batchSize)", reason: "expected at least 1") }
        guard learningRate > 0 && learningRate.isFinite else { throw ModelError.invalidArgument(name: "lr \(learningRate)", reason: "expected a positive learning rate") }
        guard warmup >= 0 && warmup < 1 else { throw ModelError.invalidArgument(name: "warmup \(warmup)", reason: "expected a fraction 0 ≤ warmup < 1") }
        if let c = clipNorm, !(c > 0) { throw ModelError.invalidArgument(name: "clip \(c)", reason: "expected a positive norm") }
    }
}

/// A task in a training run: its encoded training data, its head, and its loss weight.
public struct TaskBinding {
    public let name: String
    public let data: EncodedDataset
    public let head: LinearHead
    public let weight: Float
    /// This task's steps use the schedule's learning rate times this.
    public let learningRateScale: Float
    public init(name: String, data: EncodedDataset, head: LinearHead, weight: Float = 1, learningRateScale: Float = 1) {
        self.name = name; self.data = data; self.head = head; self.weight = weight; self.learningRateScale = learningRateScale
    }
}

public struct TrainingProgress: Sendable {
    public let step: Int, totalSteps: Int, epoch: Int, epochs: Int
    public let task: String
    public let loss: Float
    /// Mean loss over the epoch so far.
    public let meanLoss: Float
    public let learningRate: Float
    public let examplesPerSecond: Double
    public let elapsed: Double
    /// Which run this is (`lora-r8-s0 sst`), for progress lines.
    public var label = ""
    public var eta: Double { examplesPerSecond > 0 && step > 0 ? elapsed / Double(step) * Double(totalSteps - step) : 0 }
}

public struct TrainingSummary: Sendable {
    public let steps: Int
    public let examples: Int
    public let seconds: Double
    public let secondsPerEpoch: [Double]
    public let meanLossPerEpoch: [Float]
    public let stopped: Bool
    public let trainableParameters: Int
    public let memory: MemoryReport
    /// The evaluations during training (empty without a monitor), the one whose weights were kept
    /// (keep=best), and whether patience ran out.
    public var curve: [CurvePoint] = []
    public var kept: Int? = nil
    public var stoppedEarly = false
    public var examplesPerSecond: Double { seconds > 0 ? Double(examples) / seconds : 0 }
}

public enum TrainingEvent: Sendable {
    case started(totalSteps: Int, examples: Int)
    case step(TrainingProgress)
    case epochFinished(epoch: Int, meanLoss: Float, seconds: Double)
    case evaluated(CurvePoint)
    case stopped(step: Int)
    case finished(TrainingSummary)
}

public final class Trainer {
    public let network: Network
    public let tasks: [TaskBinding]
    public let config: TrainingConfig
    public let optimizer: AdamW
    private let trainables: [TrainableTensor]
    /// Names the run in progress events.
    public var label = ""

    public init(network: Network, tasks: [TaskBinding], config: TrainingConfig) throws {
        try config.validate()
        guard !tasks.isEmpty else { throw ModelError.invalidArgument(name: "tasks", reason: "expected at least one task to train") }
        self.network = network; self.tasks = tasks; self.config = config
        trainables = network.trainables
        optimizer = AdamW(trainables, weightDecay: config.weightDecay)
        if network.rankAllocator != nil { try network.rankAllocator!.settings.validate(totalSteps: totalSteps) }
    }

    /// Optimizer steps of the whole run.
    public var totalSteps: Int { plan(epoch: 0).count * config.epochs }

    /// (task index, example indices) for every step of one epoch.
    func plan(epoch: Int) -> [(Int, [Int])] {
        let perTask = tasks.enumerated().map { i, t in
            t.data.epochBatches(batchSize: config.batchSize, shuffle: true, seed: config.seed &+ UInt64(i) &* 7919,
                                epoch: epoch, bucketing: config.bucketing)
        }
        var steps: [(Int, [Int])] = []
        switch config.sampling {
        case .proportional:
            for (i, batches) in perTask.enumerated() { steps += batches.map { (i, $0) } }
            if tasks.count > 1 {
                var rng = SplitMix64(seed: config.seed ^ 0xA5A5 &+ UInt64(epoch))
                steps.shuffle(using: &rng)
            }
        case .roundRobin:
            let longest = perTask.map(\.count).max() ?? 0
            for j in 0..<longest { for (i, batches) in perTask.enumerated() where j < batches.count { steps.append((i, batches[j])) } }
        }
        return steps
    }

    /// Runs every epoch; `shouldStop` is asked between steps (a stopped run keeps what it learned).
    public func run(onEvent: (TrainingEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false }, monitor: TrainingMonitor? = nil) -> TrainingSummary {
        let stepsPerEpoch = plan(epoch: 0).count
        let total = stepsPerEpoch * config.epochs
        let schedule = LearningRateSchedule(kind: config.schedule, peak: config.learningRate,
                                            warmupSteps: Int(config.warmup * Float(total)), totalSteps: total)
        let examplesPerEpoch = tasks.reduce(0) { $0 + $1.data.count }
        // buffers sized once for the largest batch of the run: steps allocate none of them
        network.reserve(sequenceLengths: (0..<config.epochs).flatMap { e in plan(epoch: e).map { tasks[$0.0].data.sequenceLengths($0.1) } })
        onEvent(.started(totalSteps: total, examples: examplesPerEpoch * config.epochs))
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        var step = 0, examples = 0
        var epochSeconds: [Double] = [], epochLosses: [Float] = []
        var stopped = false, stoppedEarly = false
        let monitoring = monitor.map { Monitoring($0, trainables: trainables) }
        func evaluateNow(epoch: Double, lr: Float) -> Bool {
            monitoring?.evaluate(epoch: epoch, step: step, learningRate: lr, seconds: elapsed(), trainables: trainables, onEvent: onEvent) ?? true
        }
        epochs: for epoch in 0..<config.epochs {
            let epochStart = elapsed()
            var lossSum: Float = 0, lossCount = 0
            for (taskIndex, indices) in plan(epoch: epoch) {
                if shouldStop() {
                    stopped = true
                    onEvent(.stopped(step: step))
                    // the partial epoch's mean loss, so that a stopped run records a finite loss
                    if lossCount > 0 { epochSeconds.append(elapsed() - epochStart); epochLosses.append(lossSum / Float(lossCount)) }
                    break epochs
                }
                let task = tasks[taskIndex]
                let lr = schedule.rate(at: step) * task.learningRateScale
                let loss = self.step(task, indices, step: step, totalSteps: total, learningRate: lr)
                step += 1; examples += indices.count
                lossSum += loss; lossCount += 1
                monitoring?.note(loss)
                let t = elapsed()
                var progress = TrainingProgress(step: step, totalSteps: total, epoch: epoch + 1, epochs: config.epochs, task: task.name,
                                                loss: loss, meanLoss: lossSum / Float(lossCount), learningRate: lr,
                                                examplesPerSecond: Double(examples) / max(t, 1e-9), elapsed: t)
                progress.label = label
                onEvent(.step(progress))
                if case .steps(let k)? = monitor?.every, step % k == 0, step < total {
                    if !evaluateNow(epoch: Double(step) / Double(stepsPerEpoch), lr: lr) { stoppedEarly = true; break epochs }
                }
            }
            epochSeconds.append(elapsed() - epochStart)
            epochLosses.append(lossCount > 0 ? lossSum / Float(lossCount) : 0)
            onEvent(.epochFinished(epoch: epoch + 1, meanLoss: epochLosses.last!, seconds: epochSeconds.last!))
            let evaluateHere: Bool = { if case .epoch? = monitor?.every { return true }; return monitor != nil && epoch == config.epochs - 1 }()
            if evaluateHere, !evaluateNow(epoch: Double(epoch + 1), lr: schedule.rate(at: max(0, step - 1))) { stoppedEarly = true; break epochs }
        }
        var summary = TrainingSummary(steps: step, examples: examples, seconds: elapsed(), secondsPerEpoch: epochSeconds,
                                      meanLossPerEpoch: epochLosses, stopped: stopped,
                                      trainableParameters: network.trainableParameterCount, memory: network.memory(optimizer: optimizer))
        summary.curve = monitoring?.curve ?? []
        summary.kept = stopped ? nil : monitoring?.keep(trainables, model: network.model)
        summary.stoppedEarly = stoppedEarly
        onEvent(.finished(summary))
        return summary
    }

    /// One optimizer step on a batch of `task`: the loss (with AdaLoRA's orthogonal term).
    func step(_ task: TaskBinding, _ indices: [Int], step: Int, totalSteps: Int, learningRate lr: Float) -> Float {
        let (batch, labels) = task.data.batch(indices, padID: network.model.tokenizer.padID)
        network.zeroGradients()
        let stepSeed = config.seed &* 0x100000001B3 &+ UInt64(step)
        var (loss, _) = network.lossAndGradients(batch, head: task.head, labels: labels, stepSeed: stepSeed, weight: task.weight)
        if let allocator = network.rankAllocator { loss += allocator.addOrthogonality() }
        if let clip = config.clipNorm { _ = clipGradientNorm(trainables, maxNorm: clip) }
        optimizer.update(trainables, learningRate: lr)
        network.rankAllocator?.update(step: step, totalSteps: totalSteps)
        return loss
    }
}
