// A pretrained BERT encoder: loading a checkpoint folder and the batched forward pass.
//
// Forward, per batch of B sequences of lengths L_b, packed (N = Σ L_b rows, no padding; C hidden,
// H heads, D = C/H):
//   embeddings  e = LN(word[id] + pos[t] + type[tt])                                 (N, C)
//   per layer   qkv = x Wqkvᵀ + b                                                     (N, 3C)
//               P[b,h] = softmax(Q Kᵀ/√D) within sequence b                          (H, L_b, L_b)
//               ctx[b,:,h] = P[b,h] V                                                 (N, C)
//               a = LN(ctx Woᵀ + bo + x)                                              (N, C)
//               y = LN(GELU(a W1ᵀ + b1) W2ᵀ + b2 + a)                                 (N, C)
//   pooler      tanh(Wp y[b, 0] + bp)                                                 (B, C)
// A sequence's values are therefore the same alone or in any batch.
import Workers
import Foundation
import CCompute

public struct BertOutput {
    public let batch: TokenBatch
    public let hiddenSize: Int
    /// (N, C) packed rows (sequence b at batch.offsets[b]), a view into the activation arena: valid
    /// until the next forward on it.
    public let lastHidden: UnsafeMutablePointer<Float>
    /// (B, C)
    public let pooled: UnsafeMutablePointer<Float>

    /// The last hidden state of sequence `b`, (length, C).
    public func hidden(_ b: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: lastHidden + batch.offsets[b] * hiddenSize, count: batch.lengths[b] * hiddenSize))
    }
    public func pooled(_ b: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: pooled + b * hiddenSize, count: hiddenSize))
    }
}

public final class BertModel: @unchecked Sendable {
    public let folder: URL
    public let config: BertConfig
    public let parameters: BertParameters
    public let tokenizer: BertTokenizer
    private var inferenceActivations: BertActivations?
    /// bf16 copies of the encoder's linear weights (amp), one slot per layer, made by the forward pass
    /// and reused by the backward pass of the same step.
    private var halfWeights = BF16Buffer(count: 0)
    /// The `parameterGeneration` each layer's bf16 copy was made from (-1: none yet).
    private var halfGenerations: [Int] = []
    /// Bumped by whatever changes the base weights outside an optimizer step (merging adapters into
    /// them, reverting that): frozen-weight training then converts the weights again.
    public private(set) var parameterGeneration = 0
    public func parametersChanged() { parameterGeneration &+= 1 }

    /// Whether the checkpoint had pooler weights (a pooled head needs them; nothing else does).
    public internal(set) var hasPooler = true
    /// A fine-tuned checkpoint's sequence-classification head (`classifier.weight` [K, C] and
    /// `classifier.bias`, BertForSequenceClassification's, on the pooled output), with config.json's
    /// labels (id2label) when it names them.
    public internal(set) var classifier: (weight: Tensor, bias: Tensor, labels: [String])?

    /// The SHA-256 of the checkpoint's weights file (nil when it has none): adapters record it, and
    /// refuse to load onto other weights.
    public var weightsDigest: String? { SHA256.remembered(folder.appendingPathComponent("model.safetensors").path) }

    public init(folder: URL, config: BertConfig, parameters: BertParameters, tokenizer: BertTokenizer) {
        self.folder = folder; self.config = config; self.parameters = parameters; self.tokenizer = tokenizer
    }

    /// Loads `config.json`, the tokenizer (BertTokenizer.load: vocab.txt or tokenizer.json, with
    /// tokenizer_config.json's settings) and `model.safetensors` from a checkpoint folder: a BertModel,
    /// or the encoder of a BertForMaskedLM (its `cls.*` head ignored) or of a
    /// BertForSequenceClassification (its `classifier.*` head kept as `classifier`). Pooler weights
    /// may be missing (MLM checkpoints have none); then `hasPooler` is false.
    public static func load(folder: URL) throws -> BertModel {
        BLAS.initialize()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
            throw ModelError.modelFolderNotFound(path: folder.path)
        }
        func file(_ name: String, _ expected: String) throws -> URL {
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ModelError.missingModelFile(folder: folder.path, file: name, expected: expected)
            }
            return url
        }
        let configURL = try file("config.json", "the HF BERT config with hidden_size, num_hidden_layers, …")
        let config = try BertConfig(contentsOf: configURL)
        let bin = ["pytorch_model.bin", "model.bin", "tf_model.h5"].first { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
        let weightsURL = try file("model.safetensors", bin.map {
            "safetensors weights; this folder has only \($0): convert it once with transformers, `AutoModel.from_pretrained(\"DIR\").save_pretrained(\"DIR\", safe_serialization=True)` (a fine-tuned classifier: AutoModelForSequenceClassification)"
        } ?? "the weights in safetensors format")
        let tokenizer = try BertTokenizer.load(folder: folder)
        guard tokenizer.vocabulary.count <= config.vocabSize else {
            throw ModelError.invalidVocabulary(path: folder.appendingPathComponent("vocab.txt").path, reason: "\(tokenizer.vocabulary.count) tokens but config.json's vocab_size is \(config.vocabSize)")
        }
        let weights = try SafeTensorsFile(contentsOf: weightsURL)   // mapped, not read
        try BertParameters.check(weights, against: config)
        let parameters = BertParameters(config: config)
        try parameters.load(from: weights)
        let model = BertModel(folder: folder, config: config, parameters: parameters, tokenizer: tokenizer)
        model.hasPooler = weights.names.contains { BertParameters.map(checkpointKey: $0, isParameter: { _ in true }) == .parameter("pooler.dense.weight") }
        if let w = weights.entries["classifier.weight"], let b = weights.entries["classifier.bias"] {
            let C = config.hiddenSize
            guard w.shape.count == 2, w.shape[1] == C, (1...TaskSpec.maxClasses).contains(w.shape[0]), b.shape == [w.shape[0]] else {
                throw ModelError.shapeMismatch(path: weightsURL.path, key: "classifier.weight", expected: [-1, C], actual: w.shape)
            }
            let weight = Tensor(zeros: w.shape), bias = Tensor(zeros: b.shape)
            try weights.read("classifier.weight", into: weight.data)
            try weights.read("classifier.bias", into: bias.data)
            model.classifier = (weight, bias, config.labels ?? [])
        }
        return model
    }

    /// A copy with its own parameters (full fine-tuning changes them; the original stays intact).
    public func cloned() -> BertModel {
        let p = BertParameters(config: config)
        p.storage.base.update(from: parameters.storage.base, count: parameters.count)
        return BertModel(folder: folder, config: config, parameters: p, tokenizer: tokenizer)
    }

    /// Tokenizes texts (or pairs) into one padded batch.
    /// `maxLength` defaults to min(128, the model's positions).
    public func batch(_ texts: [(String, String?)], maxLength: Int? = nil) throws -> TokenBatch {
        let maxLength = maxLength ?? min(128, config.maxPositions)
        guard maxLength <= config.maxPositions else {
            throw ModelError.invalidArgument(name: "max length \(maxLength)", reason: "the model has \(config.maxPositions) positions")
        }
        return TokenBatch(try texts.map { try tokenizer.encode($0.0, $0.1, maxLength: maxLength) }, padID: tokenizer.padID)
    }

    /// Runs the encoder and pooler. Without `activations`, an inference arena owned by the model is
    /// reused, so the output is valid until the next call.
    public func forward(_ batch: TokenBatch, activations: BertActivations? = nil) -> BertOutput {
        forward(batch, activations: activations, options: EncoderOptions())
    }

    /// The forward pass with adapters and dropout (training).
    public func forward(_ batch: TokenBatch, activations: BertActivations?, options: EncoderOptions) -> BertOutput {
        let acts: BertActivations
        if let activations { acts = activations } else {
            if inferenceActivations == nil { inferenceActivations = BertActivations(config: config, keepAllLayers: false) }
            acts = inferenceActivations!
        }
        let B = batch.batchSize
        let C = config.hiddenSize
        precondition(batch.sequenceLength <= config.maxPositions, "sequence longer than the model's positions")
        acts.prepare(lengths: batch.lengths, dropout: options.usesDropout, amp: options.amp)
        embed(batch, acts)
        if options.hiddenDropout > 0 {
            let N = batch.tokenCount, seed = options.seed(layer: -1, site: .embeddings)
            Parallel.chunks(N, minChunk: 64, (acts.embDropped, acts.embOut, C, options.hiddenDropout, seed)) { a, r in
                lb_dropout(a.0 + r.lowerBound * a.2, a.1 + r.lowerBound * a.2, r.count * a.2, r.lowerBound * a.2, a.3, a.4)
            }
        }
        var x = acts.embDropped
        for l in 0..<config.numLayers {
            let a = acts.layer(l)
            encoderLayer(l, input: x, a, probsOffsets: acts.probsOffsets, batch: batch, options: options)
            x = a.out
        }
        // pooler: tanh(Wp h_cls + bp) on the [CLS] row of each sequence
        for b in 0..<B { (acts.poolerIn + b * C).update(from: x + batch.offsets[b] * C, count: C) }
        if options.pooler {
            BLAS.gemm(transB: true, m: B, n: C, k: C, a: acts.poolerIn, lda: C, b: parameters.poolerWeight.data, ldb: C,
                      c: acts.pooled, ldc: C)
            Compute.addBias(acts.pooled, bias: parameters.poolerBias.data, rows: B, cols: C)
            Compute.tanh(acts.pooled, into: acts.pooled, count: B * C)
        }
        return BertOutput(batch: batch, hiddenSize: C, lastHidden: x, pooled: acts.pooled)
    }

    /// Layer `l`'s linear weights in bf16: [3C, C], [C, C], [I, C], [C, I]. The forward pass calls it
    /// with `convert` true unless the base weights are frozen (`EncoderOptions.baseWeightsFrozen`);
    /// a copy is also made when it is of an older `parameterGeneration`. LoRA, DoRA and head training
    /// thus convert the weights once, full fine-tuning once a step (its weights change every step);
    /// the backward pass uses the copy its forward made.
    func halfWeights(layer l: Int, convert: Bool) -> (qkv: UnsafePointer<UInt16>, attnOut: UnsafePointer<UInt16>, ffnUp: UnsafePointer<UInt16>, ffnDown: UnsafePointer<UInt16>) {
        let C = config.hiddenSize, I = config.intermediateSize, per = 4 * C * C + 2 * I * C
        if halfWeights.count < per * config.numLayers {
            halfWeights = BF16Buffer(count: per * config.numLayers)
            halfGenerations = Array(repeating: -1, count: config.numLayers)
        }
        let w = parameters.layers[l], h = halfWeights.base + l * per
        if convert || halfGenerations[l] != parameterGeneration {
            BF16.convert(w.qkvWeight.data, to: h, count: 3 * C * C)
            BF16.convert(w.attnOutWeight.data, to: h + 3 * C * C, count: C * C)
            BF16.convert(w.ffnUpWeight.data, to: h + 4 * C * C, count: I * C)
            BF16.convert(w.ffnDownWeight.data, to: h + 4 * C * C + I * C, count: C * I)
            halfGenerations[l] = parameterGeneration
        }
        let base = UnsafePointer(h)
        return (base, base + 3 * C * C, base + 4 * C * C, base + 4 * C * C + I * C)
    }

    /// Bytes of the bf16 weight copies (amp).
    public var halfWeightBytes: Int { halfWeights.byteCount }

    /// e = LN(word[id] + pos[t] + type[tt]), (N, C).
    func embed(_ batch: TokenBatch, _ acts: BertActivations) {
        let N = batch.tokenCount, C = config.hiddenSize
        let word = parameters.wordEmbeddings.data, pos = parameters.positionEmbeddings.data
        let type = parameters.typeEmbeddings.data
        for n in 0..<N {
            let w = word + Int(batch.packedIDs[n]) * C, p = pos + Int(batch.positions[n]) * C
            let ty = type + Int(batch.packedTypes[n]) * C
            let o = acts.embSum + n * C
            for c in 0..<C { o[c] = w[c] + p[c] + ty[c] }
        }
        Compute.layerNorm(x: acts.embSum, residual: nil, bias: nil, gamma: parameters.embLnGamma.data,
                          beta: parameters.embLnBeta.data, into: acts.embOut, mean: acts.embMean, rstd: acts.embRstd,
                          rows: N, width: C, eps: config.layerNormEps)
    }

    func encoderLayer(_ l: Int, input x: UnsafeMutablePointer<Float>, _ a: LayerActivations,
                      probsOffsets: [Int], batch: TokenBatch, options: EncoderOptions) {
        let w = parameters.layers[l]
        let B = batch.batchSize, N = batch.tokenCount
        let C = config.hiddenSize, I = config.intermediateSize, H = config.numHeads, D = config.headDim
        let eps = config.layerNormEps
        let adapters = options.adapters?.active(layer: l) ?? [:]
        func adapt(_ t: AdapterTarget, x: UnsafePointer<Float>, ldx: Int, y: UnsafeMutablePointer<Float>, ldy: Int, base: UnsafePointer<Float>) {
            adapters[t]?.forward(x: x, ldx: ldx, y: y, ldy: ldy, rows: N, base: base, training: options.training,
                                 seed: options.seed(layer: l, site: .adapter(t)))
        }
        let half = a.bf16.map { ($0, halfWeights(layer: l, convert: !options.baseWeightsFrozen)) }
        /// y = x Wᵀ for one linear layer (n outputs, k inputs; fp32 or amp: `Linear`), then each
        /// target's adapter adds its update to its n / targets.count columns.
        func linearForward(x: UnsafePointer<Float>, halfX: UnsafeMutablePointer<UInt16>?, xIsHalf: Bool = false,
                           W: UnsafePointer<Float>, halfW: UnsafePointer<UInt16>?, y: UnsafeMutablePointer<Float>, n: Int, k: Int,
                           targets: [AdapterTarget]) {
            Linear(W: W, halfW: halfW, outputs: n, inputs: k).forward(x: x, halfX: halfX, xIsHalf: xIsHalf, y: y, rows: N)
            let width = n / targets.count
            for (i, t) in targets.enumerated() { adapt(t, x: x, ldx: k, y: y + i * width, ldy: n, base: W + i * width * k) }
        }
        // qkv = x Wqkvᵀ (+ adapters) + b                                     (N, 3C)
        linearForward(x: x, halfX: half?.0.input, W: w.qkvWeight.data, halfW: half?.1.qkv, y: a.qkv, n: 3 * C, k: C, targets: [.query, .key, .value])
        Compute.addBias(a.qkv, bias: w.qkvBias.data, rows: N, cols: 3 * C)
        if let h = a.bf16 { BF16.convert(a.qkv, to: h.qkv, count: N * 3 * C) }
        // attention per sequence and head, over the sequence's L tokens
        batch.lengths.withUnsafeBufferPointer { lengths in batch.offsets.withUnsafeBufferPointer { rows in
            probsOffsets.withUnsafeBufferPointer { po in
                let att = Attention(qkv: a.qkv, lengths: lengths.baseAddress!, rows: rows.baseAddress!, probsOffsets: po.baseAddress!,
                                    probs: a.probs, probsDropped: a.probsDropped, C: C, H: H, D: D,
                                    dropout: options.attentionDropout, seed: options.seed(layer: l, site: .attentionProbs))
                Parallel.chunks(B, minChunk: 1, (att, a.context)) { a, r in a.0.forward(r, context: a.1) }
            }
        } }
        // a = LN(dropout(ctx Woᵀ + bo) + x)
        linearForward(x: a.context, halfX: half?.0.context, W: w.attnOutWeight.data, halfW: half?.1.attnOut, y: a.attnSum, n: C, k: C, targets: [.attentionOutput])
        residualLayerNorm(a.attnSum, bias: w.attnOutBias.data, residual: x, gamma: w.ln1Gamma.data, beta: w.ln1Beta.data,
                          out: a.ln1Out, mean: a.ln1Mean, rstd: a.ln1Rstd, rows: N, eps: eps,
                          dropout: options.hiddenDropout, seed: options.seed(layer: l, site: .attentionOutput))
        if let h = a.bf16 { BF16.convert(a.attnSum, to: h.attnSum, count: N * C) }   // before ffnSum reuses the scratch
        // y = LN(dropout(GELU(a W1ᵀ + b1) W2ᵀ + b2) + a)
        linearForward(x: a.ln1Out, halfX: half?.0.ln1Out, W: w.ffnUpWeight.data, halfW: half?.1.ffnUp, y: a.ffnPre, n: I, k: C, targets: [.intermediate])
        if let h = a.bf16 {   // GELU in place (ffnPre and ffnAct share the fp32 scratch); both kept as bf16
            Parallel.chunks(N, minChunk: 16, (a.ffnPre, h.ffnPre, h.ffnAct, w.ffnUpBias.data, I)) { a, r in
                lb_bias_gelu_bf16(a.0 + r.lowerBound * a.4, a.1 + r.lowerBound * a.4, a.2 + r.lowerBound * a.4, a.3, r.count, a.4)
            }
        } else {
            Compute.biasGelu(a.ffnPre, a.ffnAct, bias: w.ffnUpBias.data, rows: N, cols: I)
        }
        linearForward(x: a.ffnAct, halfX: half?.0.ffnAct, xIsHalf: true, W: w.ffnDownWeight.data, halfW: half?.1.ffnDown, y: a.ffnSum, n: C, k: I, targets: [.output])
        residualLayerNorm(a.ffnSum, bias: w.ffnDownBias.data, residual: a.ln1Out, gamma: w.ln2Gamma.data, beta: w.ln2Beta.data,
                          out: a.out, mean: a.ln2Mean, rstd: a.ln2Rstd, rows: N, eps: eps,
                          dropout: options.hiddenDropout, seed: options.seed(layer: l, site: .output))
        if let h = a.bf16 { BF16.convert(a.ffnSum, to: h.ffnSum, count: N * C) }
    }
}
