// A trainable configuration: the (frozen or trainable) BERT, its adapters, its task heads, the
// gradient buffers of exactly what trains, and the activation arenas. One training step is
// forward → head → loss → head backward → encoder backward; the optimizer is separate (AdamW).
import Foundation

public final class Network: @unchecked Sendable {
    public let model: BertModel
    public let adaptation: AdaptationConfig
    public let adapters: AdapterSet?
    /// AdaLoRA's budget, importance and orthogonal regularisation (mode adalora).
    public let rankAllocator: RankAllocator?
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
    /// A pooled head's input p (B, C) and its gradient.
    private var pooledRows = FloatBuffer(count: 0)
    private var dPooled = FloatBuffer(count: 0)
    /// The head's outputs and their gradient for the current step, (B, K).
    private var headOutputs = FloatBuffer(count: 0)
    private var dHeadOutputs = FloatBuffer(count: 0)

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
            var generator = rng
            let parameters = self.model.parameters
            func adapter(layer l: Int, _ t: AdapterTarget) -> LowRankAdapter {
                let a = LowRankAdapter.make(layer: l, target: t, config: adaptation, shape: t.shape(model.config))
                a.initialize(base: parameters.linearWeight(t, layer: l), rng: &generator)
                a.allocateGradients()
                return a
            }
            for l in 0..<model.config.numLayers {
                var set: [AdapterTarget: LowRankAdapter] = [:]
                if adaptation.adapts(layer: l) {
                    for t in adaptation.targets where t != .pooler { set[t] = adapter(layer: l, t) }
                }
                layers.append(set)
            }
            let pooler = adaptation.targets.contains(.pooler) ? adapter(layer: model.config.numLayers, .pooler) : nil
            rng = generator
            adapters = AdapterSet(config: adaptation, layers: layers, pooler: pooler)
        } else {
            adapters = nil
        }
        let adaptive = (adapters?.all ?? []).compactMap { $0 as? AdaLoRAAdapter }
        rankAllocator = adaptive.isEmpty ? nil : RankAllocator(adapters: adaptive, settings: adaptation.adaLoRA ?? AdaLoRASettings())
        trainingActivations = BertActivations(config: model.config, keepAllLayers: adaptation.mode != .head)
    }

    @discardableResult
    public func addHead(_ name: String, kind: HeadKind, classes: Int = 1, pooled: Bool = false) -> LinearHead {
        let h = LinearHead(name: name, kind: kind, classes: classes, inFeatures: model.config.hiddenSize, pooled: pooled, rng: &rng)
        heads.append(h)
        trainableCache = nil
        return h
    }

    public func head(_ name: String) -> LinearHead? { heads.first { $0.name == name } }

    /// Every tensor that trains, with its gradient, in a fixed order (the optimizer's layout). In full
    /// fine-tuning the pooler trains only when a pooled head reads it. Built once per set of heads,
    /// not per step.
    public var trainables: [TrainableTensor] {
        if let cached = trainableCache { return cached }
        let list = collectTrainables()
        trainableCache = list
        return list
    }
    private var trainableCache: [TrainableTensor]?

    private func collectTrainables() -> [TrainableTensor] {
        var list: [TrainableTensor] = []
        if let g = baseGradients {
            let pooled = heads.contains { $0.pooled }
            for (i, entry) in model.parameters.named.enumerated() where pooled || !entry.name.hasPrefix("pooler.") {
                list.append(TrainableTensor(name: entry.name, parameter: entry.tensor, gradient: g.named[i].tensor))
            }
        }
        for a in adapters?.all ?? [] {
            for t in a.trainableTensors { list.append(TrainableTensor(name: a.name + "." + t.name, parameter: t.parameter, gradient: t.gradient!)) }
        }
        for h in heads where h.parameterCount > 0 {
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
        var o = EncoderOptions(adapters: adapters, training: training, hiddenDropout: hiddenDropout, attentionDropout: attentionDropout,
                               stepSeed: stepSeed, pooler: false, amp: adaptation.amp)
        o.baseWeightsFrozen = adaptation.mode != .full
        return o
    }

    /// The head's outputs for a batch, without dropout (evaluation). (B, K) row-major.
    public func predict(_ batch: TokenBatch, head: LinearHead) -> [Float] {
        let opts = options(training: false, stepSeed: 0)
        let out = model.forward(batch, activations: nil, options: opts)
        if head.kind == .cosine { return cosine(out).scores }
        return head.forward(features(out, head: head, options: opts), rows: batch.batchSize)
    }

    /// What a head reads for each sequence, (B, C): the raw [CLS] rows, or for a pooled head the
    /// pooler's output on them, p = tanh(h Wpᵀ (+ its adapter) + bp).
    func features(_ out: BertOutput, head: LinearHead, options opts: EncoderOptions) -> UnsafeMutablePointer<Float> {
        let h = clsRows(out)
        guard head.pooled else { return h }
        let B = out.batch.batchSize, C = model.config.hiddenSize
        if pooledRows.count < B * C { pooledRows = FloatBuffer(count: B * C) }
        let p = pooledRows.base, W = model.parameters.poolerWeight.data
        BLAS.gemm(transB: true, m: B, n: C, k: C, a: h, lda: C, b: W, ldb: C, c: p, ldc: C)
        if let adapters, !adapters.isMerged, let a = adapters.pooler {
            a.forward(x: h, ldx: C, y: p, ldy: C, rows: B, base: W, training: opts.training,
                      seed: opts.seed(layer: model.config.numLayers, site: .adapter(.pooler)))
        }
        Compute.addBias(p, bias: model.parameters.poolerBias.data, rows: B, cols: C)
        Compute.tanh(p, into: p, count: B * C)
        return p
    }

    /// Backward through the pooler, from dp (B, C) (overwritten) to the [CLS] rows' gradient dh:
    /// dz = dp ⊙ (1 − p²); its adapter (DoRA: dm, then dz ← g ⊙ dz) and, in full fine-tuning, Wp
    /// and bp accumulate; dh = dz Wp (+ the adapter's path).
    func poolerBackward(h: UnsafePointer<Float>, p: UnsafePointer<Float>, dp: UnsafeMutablePointer<Float>, rows B: Int, dh: UnsafeMutablePointer<Float>) {
        let C = model.config.hiddenSize, W = model.parameters.poolerWeight.data
        for i in 0..<(B * C) { dp[i] *= 1 - p[i] * p[i] }
        let adapter = adapters.flatMap { $0.isMerged ? nil : $0.pooler }
        if let g = baseGradients {
            BLAS.gemm(transA: true, m: C, n: C, k: B, a: dp, lda: C, b: h, ldb: C, beta: 1, c: g.poolerWeight.data, ldc: C)
            for r in 0..<B { for c in 0..<C { g.poolerBias.data[c] += dp[r * C + c] } }
        }
        adapter?.scaleGradient(dy: dp, ldy: C, rows: B)
        BLAS.gemm(m: B, n: C, k: C, a: dp, lda: C, b: W, ldb: C, c: dh, ldc: C)
        adapter?.lowRankBackward(dy: dp, ldy: C, x: h, ldx: C, rows: B, dx: dh, lddx: C)
    }

    /// A cosine head over a batch of 2P sequences (P first texts, then P second texts): mean-pooled
    /// embeddings u, v (P, C) and scores 5 · cos(u, v).
    func cosine(_ out: BertOutput) -> (u: [Double], v: [Double], scores: [Float]) {
        let P = out.batch.batchSize / 2, C = model.config.hiddenSize
        var pooled = [Double](repeating: 0, count: 2 * P * C)
        for s in 0..<(2 * P) {
            let L = out.batch.lengths[s], base = out.lastHidden + out.batch.offsets[s] * C
            for t in 0..<L { for c in 0..<C { pooled[s * C + c] += Double(base[t * C + c]) } }
            for c in 0..<C { pooled[s * C + c] /= Double(L) }
        }
        let u = Array(pooled[0..<(P * C)]), v = Array(pooled[(P * C)...])
        let scores = (0..<P).map { p -> Float in
            var uv = 0.0, uu = 0.0, vv = 0.0
            for c in 0..<C { uv += u[p * C + c] * v[p * C + c]; uu += u[p * C + c] * u[p * C + c]; vv += v[p * C + c] * v[p * C + c] }
            return Float(5 * uv / max((uu * vv).squareRoot(), 1e-12))
        }
        return (u, v, scores)
    }

    /// The [CLS] row of every sequence, (B, C), copied into a buffer reused across calls.
    func clsRows(_ out: BertOutput) -> UnsafeMutablePointer<Float> {
        let B = out.batch.batchSize, C = model.config.hiddenSize
        if cls.count < B * C { cls = FloatBuffer(count: B * C) }
        for b in 0..<B { (cls.base + b * C).update(from: out.lastHidden + out.batch.offsets[b] * C, count: C) }
        return cls.base
    }

    /// Forward with dropout, loss, and backward into the gradients (which accumulate).
    /// Returns the batch's mean loss and the head's outputs (B, K), a view of a buffer the network
    /// reuses: valid until its next step. A step with a linear head allocates nothing once
    /// `reserve` has sized the buffers (AllocationTests).
    public func lossAndGradients(_ batch: TokenBatch, head: LinearHead, labels: BatchLabels, stepSeed: UInt64,
                                 weight: Float = 1) -> (loss: Float, outputs: UnsafeBufferPointer<Float>) {
        let opts = options(training: true, stepSeed: stepSeed)
        let out = model.forward(batch, activations: trainingActivations, options: opts)
        let B = batch.batchSize, C = model.config.hiddenSize, K = head.outputs
        if headOutputs.count < B * K { headOutputs = FloatBuffer(count: B * K) }
        if dHeadOutputs.count < B * K { dHeadOutputs = FloatBuffer(count: B * K) }
        if head.kind == .cosine {
            let loss = cosineLossAndGradients(out, labels: labels, options: opts, weight: weight, pearson: head.regressionLoss == .pearson)
            return (loss, UnsafeBufferPointer(start: headOutputs.base, count: B / 2))
        }
        let h = clsRows(out), features = self.features(out, head: head, options: opts)
        let outputs = headOutputs.base, dOutputs = dHeadOutputs.base
        head.forward(features, rows: B, into: outputs)
        let loss: Float
        switch (head.kind, labels) {
        case (.classification, .classes(let labels)): loss = Loss.crossEntropy(outputs, labels: labels, classes: K, gradient: dOutputs)
        case (.binary, .values(let y)): loss = Loss.binaryCrossEntropy(outputs, targets: y, gradient: dOutputs)
        case (.regression, .values(let y)):
            loss = head.regressionLoss == .pearson ? Loss.pearson(outputs, targets: y, gradient: dOutputs) : Loss.meanSquaredError(outputs, targets: y, gradient: dOutputs)
        default: preconditionFailure("labels do not fit a \(head.kind) head")
        }
        if weight != 1 { for i in 0..<(B * K) { dOutputs[i] *= weight } }
        let N = batch.tokenCount
        if dOut.count < N * C { dOut = FloatBuffer(count: N * C) }
        if dh.count < B * C { dh = FloatBuffer(count: B * C) }
        if head.pooled {
            if dPooled.count < B * C { dPooled = FloatBuffer(count: B * C) }
            head.backward(features, rows: B, dLogits: dOutputs, dh: dPooled.base)
            if adaptation.mode != .head { poolerBackward(h: h, p: features, dp: dPooled.base, rows: B, dh: dh.base) }
        } else {
            head.backward(h, rows: B, dLogits: dOutputs, dh: dh.base)
        }
        if adaptation.mode != .head {
            dOut.base.update(repeating: 0, count: N * C)
            for b in 0..<B { (dOut.base + batch.offsets[b] * C).update(from: dh.base + b * C, count: C) }
            model.backward(batch, activations: trainingActivations, options: opts, dOut: dOut.base,
                           sinks: GradientSinks(base: baseGradients, adapters: adapters), workspace: workspace)
        }
        return (loss, UnsafeBufferPointer(start: outputs, count: B * K))
    }

    /// score = 5 cos(u, v), loss = mean (score − y)²; ∂cos/∂u = v/(|u||v|) − cos · u/|u|², and each
    /// token of a sequence gets 1/L of its pooled vector's gradient.
    /// The scores go into `headOutputs`. (This head's step still allocates its pooled vectors.)
    func cosineLossAndGradients(_ out: BertOutput, labels: BatchLabels, options opts: EncoderOptions, weight: Float, pearson: Bool = false) -> Float {
        guard case .values(let y) = labels else { preconditionFailure("a cosine head needs values") }
        let batch = out.batch
        let (u, v, scores) = cosine(out)
        let (loss, dScores) = pearson ? Loss.pearson(scores, targets: y) : Loss.meanSquaredError(scores, targets: y)
        headOutputs.base.update(from: scores, count: scores.count)
        guard adaptation.mode != .head else { return loss }
        let P = batch.batchSize / 2, C = model.config.hiddenSize, N = batch.tokenCount
        if dOut.count < N * C { dOut = FloatBuffer(count: N * C) }
        for p in 0..<P {
            var uv = 0.0, uu = 0.0, vv = 0.0
            for c in 0..<C { uv += u[p * C + c] * v[p * C + c]; uu += u[p * C + c] * u[p * C + c]; vv += v[p * C + c] * v[p * C + c] }
            let nu = max(uu.squareRoot(), 1e-12), nv = max(vv.squareRoot(), 1e-12), cos = uv / (nu * nv)
            let g = Double(dScores[p] * weight) * 5
            for (s, own, other, nOwn) in [(p, u, v, nu), (P + p, v, u, nv)] {
                let L = batch.lengths[s], rows = dOut.base + batch.offsets[s] * C
                for c in 0..<C {
                    let d = g * (other[p * C + c] / (nu * nv) - cos * own[p * C + c] / (nOwn * nOwn)) / Double(L)
                    for t in 0..<L { rows[t * C + c] = Float(d) }
                }
            }
        }
        model.backward(batch, activations: trainingActivations, options: opts, dOut: dOut.base,
                       sinks: GradientSinks(base: baseGradients, adapters: adapters), workspace: workspace)
        return loss
    }

    // MARK: memory

    /// Sizes every buffer a training step uses (activations, backward workspace, adapter caches,
    /// head buffers) for the largest of these batches (their sequence lengths), so that steps in
    /// the steady state allocate none of them.
    public func reserve(sequenceLengths batches: [[Int]]) {
        guard !batches.isEmpty else { return }
        let opts = options(training: true, stepSeed: 0)
        trainingActivations.reserve(batches, dropout: opts.usesDropout, amp: adaptation.amp)
        workspace.reserve(batches, config: model.config, amp: adaptation.amp, wideInputs: adapters?.adaptsLinearInputsKeptInBF16 ?? false)
        let C = model.config.hiddenSize
        let maxN = batches.map { $0.reduce(0, +) }.max()!, maxB = batches.map(\.count).max()!
        for a in adapters?.all ?? [] { a.reserve(rows: maxN) }
        if dOut.count < maxN * C { dOut = FloatBuffer(count: maxN * C) }
        if cls.count < maxB * C { cls = FloatBuffer(count: maxB * C) }
        if dh.count < maxB * C { dh = FloatBuffer(count: maxB * C) }
        if heads.contains(where: \.pooled) {
            if pooledRows.count < maxB * C { pooledRows = FloatBuffer(count: maxB * C) }
            if dPooled.count < maxB * C { dPooled = FloatBuffer(count: maxB * C) }
        }
        let maxK = heads.map(\.outputs).max() ?? 1
        if headOutputs.count < maxB * maxK { headOutputs = FloatBuffer(count: maxB * maxK) }
        if dHeadOutputs.count < maxB * maxK { dHeadOutputs = FloatBuffer(count: maxB * maxK) }
    }

    /// Bytes of parameters (the base, shared or private, plus adapters and heads), of gradients
    /// (only for what trains), and of activations and backward workspace at their largest so far.
    public func memory(optimizer: AdamW?) -> MemoryReport {
        let adapterBytes = (adapters?.parameterCount ?? 0) * 4
        let headBytes = heads.reduce(0) { $0 + $1.parameterCount } * 4
        let gradientBytes = (baseGradients?.storage.byteCount ?? 0) + adapterBytes + headBytes
        let caches = (adapters?.all ?? []).reduce(0) { $0 + $1.cacheBytes }
        return MemoryReport(parameters: model.parameters.storage.byteCount + adapterBytes + headBytes + (adaptation.amp ? model.halfWeightBytes : 0),
                            gradients: gradientBytes, optimizer: optimizer?.byteCount ?? 0,
                            activations: trainingActivations.byteCount + caches + (cls.byteCount + dh.byteCount + dOut.byteCount + pooledRows.byteCount + dPooled.byteCount),
                            workspace: workspace.byteCount, peakResident: ProcessMemory.peakResident)
    }

    // MARK: merging

    /// Folds every adapter into the base weights (inference at base speed); `unmerge` restores them.
    public func merge() {
        guard let adapters, !adapters.isMerged else { return }
        for a in adapters.all { a.merge(into: model.parameters.linearWeight(a.target, layer: a.layer)) }
        adapters.setMerged(true)
        model.parametersChanged()
    }

    public func unmerge() {
        guard let adapters, adapters.isMerged else { return }
        for a in adapters.all { a.unmerge(into: model.parameters.linearWeight(a.target, layer: a.layer)) }
        adapters.setMerged(false)
        model.parametersChanged()
    }
}
