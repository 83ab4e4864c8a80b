// The training benchmark: timed optimizer steps (forward, backward, AdamW) on real SST batches, per
// configuration: median and spread of ms per step, sequences/s, the GEMMs' rate and share of the
// step, where the step's time goes (products by kind, everything else), peak resident memory and
// trainable parameters.
import Foundation

public struct TrainBenchmark {
    public struct Configuration: Sendable, CustomStringConvertible {
        public var adaptation: AdaptationConfig
        public init(_ adaptation: AdaptationConfig) { self.adaptation = adaptation }
        public var targetsName: String {
            let t = adaptation.targets
            return AdapterTarget.sets.first { $0.value == t }?.key ?? t.map(\.rawValue).joined(separator: ",")
        }
        public var description: String {
            (adaptation.usesAdapters ? "\(adaptation.mode.rawValue) r=\(adaptation.rank) \(targetsName)" : adaptation.mode.rawValue)
                + (adaptation.amp ? " amp" : "")
        }
        /// The anchor's configurations (../shared/anchors/README.md).
        public static let standard: [Configuration] = [
            .init(AdaptationConfig(mode: .full)), .init(AdaptationConfig(mode: .head)),
            .init(AdaptationConfig(mode: .lora, rank: 1)), .init(AdaptationConfig(mode: .lora, rank: 8)),
            .init(AdaptationConfig(mode: .lora, rank: 8, targets: AdapterTarget.encoder)),
            .init(AdaptationConfig(mode: .dora, rank: 1)), .init(AdaptationConfig(mode: .dora, rank: 8)),
        ]
    }

    public struct Result: Sendable {
        public let configuration: String
        public let mode: String, rank: Int, targets: String, amp: Bool
        public let batch: Int, steps: Int
        public let msPerStep: Double, msMin: Double, msMax: Double
        public let gemmShare: Double, gemmGflops: Double
        /// The step's matrix-product FLOPs (almost all of its FLOPs) over the whole step's time.
        public let achievedGflops: Double
        public let peakRSS: Int, trainable: Int, trainingMemory: Int
        /// amp: oneDNN primitives created during the timed steps, and the ms per step their creation took.
        public let primitivesCreated: Int, primitiveMsPerStep: Double
        /// Heap in use after the last timed step minus after the first one (steady state: about 0).
        public let heapGrowth: Int
        /// Mean ms per timed step in each kind of matrix product, with its GFLOP/s, and in everything else.
        public let breakdown: [(kind: ProductKind, ms: Double, gflops: Double)]
        public let otherMs: Double
        /// AdaLoRA: mean ms per step of the orthogonal regularisation and the rank allocation (part of msPerStep).
        public let allocationMs: Double
        public var sequencesPerSecond: Double { Double(batch) / (msPerStep / 1000) }
    }

    /// What a matrix product of a step is, told from its shape (the profiler sees shapes only).
    public enum ProductKind: String, CaseIterable, Sendable {
        /// The encoder's linear layers (forward, dX, dW) and the head: in bf16 under amp.
        case linear
        /// Scaled dot-product attention, per sequence and head: (L, L, D) and (L, D, L) products.
        case attention
        /// LoRA/DoRA's rank-r products: one dimension is the rank (lorabook's kernel or a GEMM).
        case lowRank = "rank-r"

        static func of(_ s: GemmShape, headDim D: Int, rank: Int?) -> ProductKind {
            if s.bf16 { return .linear }
            if let rank, s.m == rank || s.n == rank || s.k == rank { return .lowRank }
            if (s.k == D && s.m == s.n) || (s.n == D && s.m == s.k) { return .attention }
            return .linear
        }
    }

    public let model: BertModel
    public let data: EncodedDataset

    public init(model: BertModel, data: EncodedDataset) { self.model = model; self.data = data }

    public func run(_ c: Configuration, batch: Int, steps: Int, warmup: Int, progress: (String) -> Void = { _ in }) throws -> Result {
        let network = try Network(model: model, adaptation: c.adaptation, seed: 0)
        let head = network.addHead("sst", kind: .classification, classes: 5)
        let trainables = network.trainables
        let optimizer = AdamW(trainables)
        let batches = data.epochBatches(batchSize: batch, shuffle: true, seed: 0, epoch: 0)
        network.reserve(sequenceLengths: (0..<(warmup + steps)).map { data.sequenceLengths(batches[$0 % batches.count]) })
        ProcessMemory.resetPeak()
        var times: [Double] = []
        var gemmSeconds = 0.0, gemmFlops = 0.0
        var created0 = BF16.creationStats
        var heap0 = 0, heap1 = 0
        var byKind: [ProductKind: (flops: Double, seconds: Double)] = [:]
        var allocationSeconds = 0.0
        let rank = c.adaptation.usesAdapters ? c.adaptation.rank : nil
        for s in 0..<(warmup + steps) {
            let (b, labels) = data.batch(batches[s % batches.count], padID: model.tokenizer.padID)
            let profiler = GemmProfiler()
            if s >= warmup { BLAS.profiler = profiler }
            if s == warmup { created0 = BF16.creationStats }
            let t0 = DispatchTime.now().uptimeNanoseconds
            network.zeroGradients()
            _ = network.lossAndGradients(b, head: head, labels: labels, stepSeed: UInt64(s))
            let a0 = DispatchTime.now().uptimeNanoseconds
            if let allocator = network.rankAllocator { _ = allocator.addOrthogonality() }
            var allocating = DispatchTime.now().uptimeNanoseconds - a0
            optimizer.update(trainables, learningRate: 1e-4)
            let a1 = DispatchTime.now().uptimeNanoseconds
            network.rankAllocator?.update(step: s, totalSteps: warmup + steps)
            allocating += DispatchTime.now().uptimeNanoseconds - a1
            let t = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            if s >= warmup { allocationSeconds += Double(allocating) / 1e9 }
            if s == warmup { heap0 = ProcessMemory.heapInUse }
            if s == warmup + steps - 1 { heap1 = ProcessMemory.heapInUse }
            BLAS.profiler = nil
            if s >= warmup {
                times.append(t); gemmSeconds += profiler.totalSeconds; gemmFlops += profiler.totalFlops
                for (shape, e) in profiler.entries {
                    let kind = ProductKind.of(shape, headDim: model.config.headDim, rank: rank)
                    let sum = byKind[kind] ?? (0, 0)
                    byKind[kind] = (sum.flops + shape.flops * Double(e.calls), sum.seconds + Double(e.nanoseconds) / 1e9)
                }
            }
            progress("\(c): step \(s + 1)/\(warmup + steps) \(String(format: "%.1f", t)) ms\(s < warmup ? " (warm-up)" : "")")
        }
        let m = Measurement(times: times, gemmSeconds: gemmSeconds, gemmFlops: gemmFlops, byKind: byKind, allocationSeconds: allocationSeconds,
                            created0: created0, created1: BF16.creationStats, heapGrowth: heap1 - heap0)
        return result(c, network: network, optimizer: optimizer, batch: batch, steps: steps, m)
    }

    /// What the timed steps measured.
    struct Measurement {
        var times: [Double], gemmSeconds: Double, gemmFlops: Double
        var byKind: [ProductKind: (flops: Double, seconds: Double)], allocationSeconds: Double
        var created0: (primitives: Int, seconds: Double), created1: (primitives: Int, seconds: Double), heapGrowth: Int
    }

    func result(_ c: Configuration, network: Network, optimizer: AdamW, batch: Int, steps: Int, _ m: Measurement) -> Result {
        let sorted = m.times.sorted()
        let total = m.times.reduce(0, +) / 1000
        return Result(configuration: c.description, mode: c.adaptation.mode.rawValue, rank: c.adaptation.usesAdapters ? c.adaptation.rank : 0,
                      targets: c.adaptation.usesAdapters ? c.targetsName : "-", amp: c.adaptation.amp, batch: batch, steps: steps,
                      msPerStep: sorted[sorted.count / 2], msMin: sorted.first!, msMax: sorted.last!,
                      gemmShare: m.gemmSeconds / total, gemmGflops: m.gemmFlops / m.gemmSeconds / 1e9,
                      achievedGflops: m.gemmFlops / total / 1e9,
                      peakRSS: ProcessMemory.peakResident, trainable: network.trainableParameterCount,
                      trainingMemory: network.memory(optimizer: optimizer).training,
                      primitivesCreated: m.created1.primitives - m.created0.primitives,
                      primitiveMsPerStep: (m.created1.seconds - m.created0.seconds) * 1000 / Double(steps),
                      heapGrowth: m.heapGrowth,
                      breakdown: ProductKind.allCases.map { k in
                          let e = m.byKind[k] ?? (0, 0)
                          return (k, e.seconds * 1000 / Double(steps), e.seconds > 0 ? e.flops / e.seconds / 1e9 : 0)
                      },
                      otherMs: (total - m.gemmSeconds) * 1000 / Double(steps), allocationMs: m.allocationSeconds * 1000 / Double(steps))
    }
}
