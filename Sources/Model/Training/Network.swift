// A trainable configuration: the (frozen or trainable) BERT, its adapters, its task heads, the
// gradient buffers of exactly what trains, and the activation arenas. One training step is
// forward → head → loss → head backward → encoder backward; the optimizer is separate (AdamW).
import Foundation

/// What a batch should produce, per task kind.
public enum Targets {
    case classes([Int])
    case values([Float])
}

public final class Network: @unchecked Sendable {
    public let model: BertModel
    public let adaptation: AdaptationConfig
    public let adapters: AdapterSet?
    /// Gradients of the base weights (full fine-tuning only).
    public let baseGradients: BertParameters?
    public private(set) var heads: [LinearHead] = []
    public var hiddenDropout: Float
    public var attentionDropout: Float
    private var rng: SplitMix64
    let trainingActivations: BertActivations
    let workspace = BackwardWorkspace()
    private var dOut = FloatBuffer(count: 0)
    private var cls = FloatBuffer(count: 0)
    private var dh = FloatBuffer(count: 0)

    /// Builds the configuration on a loaded model. Full fine-tuning works on a private copy of the
    /// weights; the other modes share the model's frozen weights.
    public init(model: BertModel, adaptation: AdaptationConfig, seed: UInt64 = 0) throws {
        try adaptation.validate(for: model.config)
        self.adaptation = adaptation
        self.model = adaptation.mode == .full ? model.cloned() : model
        rng = SplitMix64(seed: seed)
        hiddenDropout = model.config.hiddenDropout
        attentionDropout = model.config.attentionDropout
        baseGradients = adaptation.mode == .full ? BertParameters(config: model.config) : nil
        if adaptation.usesAdapters {
            var layers: [[AdapterTarget: LowRankAdapter]] = []
            for l in 0..<model.config.numLayers {
                var set: [AdapterTarget: LowRankAdapter] = [:]
                if adaptation.adapts(layer: l) {
                    for t in adaptation.targets {
                        let a = LowRankAdapter(layer: l, target: t, config: adaptation, shape: t.shape(model.config))
                        a.initialize(base: Self.baseWeight(self.model.parameters, layer: l, target: t), rng: &rng)
                        a.dA = Tensor(zeros: a.A.shape); a.dB = Tensor(zeros: a.B.shape)
                        if let m = a.magnitude { a.dMagnitude = Tensor(zeros: m.shape) }
                        set[t] = a
                    }
                }
                layers.append(set)
            }
            adapters = AdapterSet(config: adaptation, layers: layers)
        } else {
            adapters = nil
        }
        trainingActivations = BertActivations(config: model.config, keepAllLayers: adaptation.mode != .head)
    }

    /// The rows of the base weight an adapter on (layer, target) modifies, [out, in].
    static func baseWeight(_ p: BertParameters, layer l: Int, target: AdapterTarget) -> UnsafeMutablePointer<Float> {
        let w = p.layers[l], C = p.config.hiddenSize
        switch target {
        case .query: return w.qkvWeight.data
        case .key: return w.qkvWeight.data + C * C
        case .value: return w.qkvWeight.data + 2 * C * C
        case .attentionOutput: return w.attnOutWeight.data
        case .intermediate: return w.ffnUpWeight.data
        case .output: return w.ffnDownWeight.data
        }
    }

    @discardableResult
    public func addHead(_ name: String, kind: HeadKind, classes: Int = 1) -> LinearHead {
        let h = LinearHead(name: name, kind: kind, classes: classes, inFeatures: model.config.hiddenSize, rng: &rng)
        heads.append(h)
        return h
    }

    public func head(_ name: String) -> LinearHead? { heads.first { $0.name == name } }

    /// Every tensor that trains, with its gradient, in a fixed order (the optimizer's layout). The
    /// pooler is not trained: heads read the raw [CLS] vector.
    public var trainables: [TrainableTensor] {
        var list: [TrainableTensor] = []
        if let g = baseGradients {
            for (i, entry) in model.parameters.named.enumerated() where !entry.name.hasPrefix("pooler.") {
                list.append(TrainableTensor(name: entry.name, parameter: entry.tensor, gradient: g.named[i].tensor))
            }
        }
        for a in adapters?.all ?? [] {
            list.append(TrainableTensor(name: a.name + ".lora_A", parameter: a.A, gradient: a.dA!))
            list.append(TrainableTensor(name: a.name + ".lora_B", parameter: a.B, gradient: a.dB!))
            if let m = a.magnitude { list.append(TrainableTensor(name: a.name + ".magnitude", parameter: m, gradient: a.dMagnitude!)) }
        }
        for h in heads {
            list.append(TrainableTensor(name: "heads.\(h.name).weight", parameter: h.weight, gradient: h.dWeight))
            list.append(TrainableTensor(name: "heads.\(h.name).bias", parameter: h.bias, gradient: h.dBias))
        }
        return list
    }

    public var trainableParameterCount: Int { trainables.reduce(0) { $0 + $1.parameter.count } }

    public func zeroGradients() {
        for t in trainables { t.gradient.fill(0) }
    }

    func options(training: Bool, stepSeed: UInt64) -> EncoderOptions {
        EncoderOptions(adapters: adapters, training: training, hiddenDropout: hiddenDropout, attentionDropout: attentionDropout,
                       stepSeed: stepSeed, pooler: false)
    }

    /// The head's outputs for a batch, without dropout (evaluation). (B, K) row-major.
    public func predict(_ batch: TokenBatch, head: LinearHead) -> [Float] {
        let out = model.forward(batch, activations: nil, options: options(training: false, stepSeed: 0))
        return head.forward(clsRows(out), rows: batch.batchSize)
    }

    /// The [CLS] row of every sequence, (B, C), copied into a buffer reused across calls.
    func clsRows(_ out: BertOutput) -> UnsafeMutablePointer<Float> {
        let B = out.batch.batchSize, C = model.config.hiddenSize
        if cls.count < B * C { cls = FloatBuffer(count: B * C) }
        for b in 0..<B { (cls.base + b * C).update(from: out.lastHidden + out.batch.offsets[b] * C, count: C) }
        return cls.base
    }

    /// Forward with dropout, loss, and backward into the gradients (which accumulate).
    /// Returns the batch's mean loss and the head's outputs.
    public func lossAndGradients(_ batch: TokenBatch, head: LinearHead, targets: Targets, stepSeed: UInt64,
                                 weight: Float = 1) -> (loss: Float, outputs: [Float]) {
        let opts = options(training: true, stepSeed: stepSeed)
        let out = model.forward(batch, activations: trainingActivations, options: opts)
        let B = batch.batchSize, C = model.config.hiddenSize
        let h = clsRows(out)
        let outputs = head.forward(h, rows: B)
        let (loss, dOutputs): (Float, [Float])
        switch (head.kind, targets) {
        case (.classification, .classes(let labels)): (loss, dOutputs) = Loss.crossEntropy(outputs, labels: labels, classes: head.outputs)
        case (.binary, .values(let y)): (loss, dOutputs) = Loss.binaryCrossEntropy(outputs, targets: y)
        case (.regression, .values(let y)): (loss, dOutputs) = Loss.meanSquaredError(outputs, targets: y)
        default: preconditionFailure("targets do not fit a \(head.kind) head")
        }
        let dScaled = weight == 1 ? dOutputs : dOutputs.map { $0 * weight }
        let N = batch.tokenCount
        if dOut.count < N * C { dOut = FloatBuffer(count: N * C) }
        if dh.count < B * C { dh = FloatBuffer(count: B * C) }
        head.backward(h, rows: B, dLogits: dScaled, dh: dh.base)
        if adaptation.mode != .head {
            dOut.base.update(repeating: 0, count: N * C)
            for b in 0..<B { (dOut.base + batch.offsets[b] * C).update(from: dh.base + b * C, count: C) }
            model.backward(batch, activations: trainingActivations, options: opts, dOut: dOut.base,
                           sinks: GradientSinks(base: baseGradients, adapters: adapters), workspace: workspace)
        }
        return (loss, outputs)
    }

    // MARK: memory

    /// Bytes of parameters (the base, shared or private, plus adapters and heads), of gradients
    /// (only for what trains), and of activations and backward workspace at their largest so far.
    public func memory(optimizer: AdamW?) -> MemoryReport {
        let adapterBytes = (adapters?.parameterCount ?? 0) * 4
        let headBytes = heads.reduce(0) { $0 + $1.parameterCount } * 4
        let gradientBytes = (baseGradients?.storage.byteCount ?? 0) + adapterBytes + headBytes
        let caches = (adapters?.all ?? []).reduce(0) { $0 + $1.cacheBytes }
        return MemoryReport(parameters: model.parameters.storage.byteCount + adapterBytes + headBytes,
                            gradients: gradientBytes, optimizer: optimizer?.byteCount ?? 0,
                            activations: trainingActivations.byteCount + caches + (cls.byteCount + dh.byteCount + dOut.byteCount),
                            workspace: workspace.byteCount, peakResident: ProcessMemory.peakResident)
    }

    // MARK: merging

    /// Folds every adapter into the base weights (inference at base speed); `unmerge` restores them.
    public func merge() {
        guard let adapters, !adapters.isMerged else { return }
        for a in adapters.all { a.merge(into: Self.baseWeight(model.parameters, layer: a.layer, target: a.target)) }
        adapters.setMerged(true)
    }

    public func unmerge() {
        guard let adapters, adapters.isMerged else { return }
        for a in adapters.all { a.unmerge(into: Self.baseWeight(model.parameters, layer: a.layer, target: a.target)) }
        adapters.setMerged(false)
    }
}
