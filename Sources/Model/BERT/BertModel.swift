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
import Foundation

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

    public init(folder: URL, config: BertConfig, parameters: BertParameters, tokenizer: BertTokenizer) {
        self.folder = folder; self.config = config; self.parameters = parameters; self.tokenizer = tokenizer
    }

    /// Loads `config.json`, `vocab.txt` and `model.safetensors` from a checkpoint folder.
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
        let config = try BertConfig(contentsOf: try file("config.json", "the HF BERT config with hidden_size, num_hidden_layers, …"))
        let vocabURL = try file("vocab.txt", "the WordPiece vocabulary, one token per line")
        let weightsURL = try file("model.safetensors", "the weights in safetensors format; PyTorch .bin checkpoints are not read")
        let tokenizer = try BertTokenizer(vocabularyFile: vocabURL)
        guard tokenizer.vocabulary.count <= config.vocabSize else {
            throw ModelError.invalidVocabulary(path: vocabURL.path, reason: "\(tokenizer.vocabulary.count) tokens but config.json's vocab_size is \(config.vocabSize)")
        }
        let parameters = BertParameters(config: config)
        try parameters.load(from: try SafeTensorsFile(contentsOf: weightsURL))
        return BertModel(folder: folder, config: config, parameters: parameters, tokenizer: tokenizer)
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
        let acts: BertActivations
        if let activations { acts = activations } else {
            if inferenceActivations == nil { inferenceActivations = BertActivations(config: config, keepAllLayers: false) }
            acts = inferenceActivations!
        }
        let B = batch.batchSize
        let C = config.hiddenSize
        precondition(batch.sequenceLength <= config.maxPositions, "sequence longer than the model's positions")
        acts.prepare(lengths: batch.lengths)
        embed(batch, acts)
        var x = acts.embOut
        for l in 0..<config.numLayers {
            let a = acts.layer(l)
            encoderLayer(parameters.layers[l], input: x, a, probsOffsets: acts.probsOffsets, batch: batch)
            x = a.out
        }
        // pooler: tanh(Wp h_cls + bp) on the [CLS] row of each sequence
        for b in 0..<B { (acts.poolerIn + b * C).update(from: x + batch.offsets[b] * C, count: C) }
        BLAS.gemm(transB: true, m: B, n: C, k: C, a: acts.poolerIn, lda: C, b: parameters.poolerWeight.data, ldb: C,
                  c: acts.pooled, ldc: C)
        Kernels.addBias(acts.pooled, bias: parameters.poolerBias.data, rows: B, cols: C)
        Kernels.tanh(acts.pooled, into: acts.pooled, count: B * C)
        return BertOutput(batch: batch, hiddenSize: C, lastHidden: x, pooled: acts.pooled)
    }

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
        Kernels.layerNorm(x: acts.embSum, residual: nil, bias: nil, gamma: parameters.embLnGamma.data,
                          beta: parameters.embLnBeta.data, into: acts.embOut, mean: acts.embMean, rstd: acts.embRstd,
                          rows: N, width: C, eps: config.layerNormEps)
    }

    func encoderLayer(_ w: LayerParameters, input x: UnsafeMutablePointer<Float>, _ a: LayerActivations,
                      probsOffsets: [Int], batch: TokenBatch) {
        let B = batch.batchSize, N = batch.tokenCount
        let C = config.hiddenSize, I = config.intermediateSize, H = config.numHeads, D = config.headDim
        let eps = config.layerNormEps
        // qkv = x Wqkvᵀ + b                                                  (N, 3C)
        BLAS.gemm(transB: true, m: N, n: 3 * C, k: C, a: x, lda: C, b: w.qkvWeight.data, ldb: C, c: a.qkv, ldc: 3 * C)
        Kernels.addBias(a.qkv, bias: w.qkvBias.data, rows: N, cols: 3 * C)
        // attention per sequence and head, over the sequence's L tokens
        let scale = 1 / Float(D).squareRoot()
        Parallel.chunks(B, minChunk: 1) { range in for b in range {
            let L = batch.lengths[b]
            let rows = a.qkv + batch.offsets[b] * 3 * C
            let ctx = a.context + batch.offsets[b] * C
            for h in 0..<H {
                let S = a.probs + probsOffsets[b] + h * L * L
                BLAS.gemm(transB: true, m: L, n: L, k: D, alpha: scale, a: rows + h * D, lda: 3 * C,
                          b: rows + C + h * D, ldb: 3 * C, c: S, ldc: L)
                Kernels.softmaxRows(S, rows: L, cols: L, ld: L, valid: L)
                BLAS.gemm(m: L, n: D, k: L, a: S, lda: L, b: rows + 2 * C + h * D, ldb: 3 * C, c: ctx + h * D, ldc: C)
            }
        } }
        // a = LN(ctx Woᵀ + bo + x)
        BLAS.gemm(transB: true, m: N, n: C, k: C, a: a.context, lda: C, b: w.attnOutWeight.data, ldb: C, c: a.attnSum, ldc: C)
        Kernels.layerNorm(x: a.attnSum, residual: x, bias: w.attnOutBias.data, gamma: w.ln1Gamma.data, beta: w.ln1Beta.data,
                          into: a.ln1Out, mean: a.ln1Mean, rstd: a.ln1Rstd, rows: N, width: C, eps: eps)
        // y = LN(GELU(a W1ᵀ + b1) W2ᵀ + b2 + a)
        BLAS.gemm(transB: true, m: N, n: I, k: C, a: a.ln1Out, lda: C, b: w.ffnUpWeight.data, ldb: C, c: a.ffnPre, ldc: I)
        Kernels.biasGelu(a.ffnPre, a.ffnAct, bias: w.ffnUpBias.data, rows: N, cols: I)
        BLAS.gemm(transB: true, m: N, n: C, k: I, a: a.ffnAct, lda: I, b: w.ffnDownWeight.data, ldb: I, c: a.ffnSum, ldc: C)
        Kernels.layerNorm(x: a.ffnSum, residual: a.ln1Out, bias: w.ffnDownBias.data, gamma: w.ln2Gamma.data, beta: w.ln2Beta.data,
                          into: a.out, mean: a.ln2Mean, rstd: a.ln2Rstd, rows: N, width: C, eps: eps)
    }
}
