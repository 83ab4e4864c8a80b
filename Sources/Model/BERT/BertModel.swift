// A pretrained BERT encoder: loading a checkpoint folder and the batched forward pass.
//
// Forward, per batch of B sequences padded to T (N = B·T rows, C hidden, H heads, D = C/H):
//   embeddings  e = LN(word[id] + pos[t] + type[tt])                                 (N, C)
//   per layer   qkv = x Wqkvᵀ + b                                                     (N, 3C)
//               P[b,h] = softmax(Q Kᵀ/√D) over the sequence's real keys               (B, H, T, T)
//               ctx[b,:,h] = P[b,h] V                                                 (N, C)
//               a = LN(ctx Woᵀ + bo + x)                                              (N, C)
//               y = LN(GELU(a W1ᵀ + b1) W2ᵀ + b2 + a)                                 (N, C)
//   pooler      tanh(Wp y[b, 0] + bp)                                                 (B, C)
// Rows of padded positions are computed (finite, never read by real rows); their attention rows
// and context are zero.
import Foundation

public struct BertOutput {
    public let batch: TokenBatch
    public let hiddenSize: Int
    /// (B, T, C), a view into the activation arena: valid until the next forward on it.
    public let lastHidden: UnsafeMutablePointer<Float>
    /// (B, C)
    public let pooled: UnsafeMutablePointer<Float>

    /// The last hidden state of sequence `b` without padding, (length, C).
    public func hidden(_ b: Int) -> [Float] {
        let T = batch.sequenceLength, L = batch.lengths[b]
        return Array(UnsafeBufferPointer(start: lastHidden + b * T * hiddenSize, count: L * hiddenSize))
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
        let B = batch.batchSize, T = batch.sequenceLength, N = B * T
        let C = config.hiddenSize
        precondition(T <= config.maxPositions, "sequence longer than the model's positions")
        acts.prepare(batchSize: B, sequenceLength: T)
        embed(batch, acts)
        var x = acts.embOut
        for l in 0..<config.numLayers {
            let a = acts.layer(l)
            encoderLayer(parameters.layers[l], input: x, a, batch: batch)
            x = a.out
        }
        // pooler: tanh(Wp h_cls + bp) on the [CLS] row of each sequence
        for b in 0..<B { (acts.poolerIn + b * C).update(from: x + b * T * C, count: C) }
        BLAS.gemm(transB: true, m: B, n: C, k: C, a: acts.poolerIn, lda: C, b: parameters.poolerWeight.data, ldb: C,
                  c: acts.pooled, ldc: C)
        Kernels.addBias(acts.pooled, bias: parameters.poolerBias.data, rows: B, cols: C)
        Kernels.tanh(acts.pooled, into: acts.pooled, count: B * C)
        _ = N
        return BertOutput(batch: batch, hiddenSize: C, lastHidden: x, pooled: acts.pooled)
    }

    /// e = LN(word[id] + pos[t] + type[tt]), (N, C).
    func embed(_ batch: TokenBatch, _ acts: BertActivations) {
        let B = batch.batchSize, T = batch.sequenceLength, C = config.hiddenSize
        let word = parameters.wordEmbeddings.data, pos = parameters.positionEmbeddings.data
        let type = parameters.typeEmbeddings.data
        for b in 0..<B {
            for t in 0..<T {
                let n = b * T + t
                let w = word + Int(batch.ids[n]) * C, p = pos + t * C, ty = type + Int(batch.tokenTypes[n]) * C
                let o = acts.embSum + n * C
                for c in 0..<C { o[c] = w[c] + p[c] + ty[c] }
            }
        }
        Kernels.layerNorm(x: acts.embSum, residual: nil, bias: nil, gamma: parameters.embLnGamma.data,
                          beta: parameters.embLnBeta.data, into: acts.embOut, mean: acts.embMean, rstd: acts.embRstd,
                          rows: B * T, width: C, eps: config.layerNormEps)
    }

    func encoderLayer(_ w: LayerParameters, input x: UnsafeMutablePointer<Float>, _ a: LayerActivations, batch: TokenBatch) {
        let B = batch.batchSize, T = batch.sequenceLength, N = B * T
        let C = config.hiddenSize, I = config.intermediateSize, H = config.numHeads, D = config.headDim
        let eps = config.layerNormEps
        // qkv = x Wqkvᵀ + b                                                  (N, 3C)
        BLAS.gemm(transB: true, m: N, n: 3 * C, k: C, a: x, lda: C, b: w.qkvWeight.data, ldb: C, c: a.qkv, ldc: 3 * C)
        Kernels.addBias(a.qkv, bias: w.qkvBias.data, rows: N, cols: 3 * C)
        // attention per sequence and head, over the sequence's L real tokens
        let scale = 1 / Float(D).squareRoot()
        Parallel.chunks(B, minChunk: 1) { range in for b in range {
            let L = batch.lengths[b]
            let rows = a.qkv + b * T * 3 * C
            let ctx = a.context + b * T * C
            for h in 0..<H {
                let S = a.probs + (b * H + h) * T * T
                BLAS.gemm(transB: true, m: L, n: L, k: D, alpha: scale, a: rows + h * D, lda: 3 * C,
                          b: rows + C + h * D, ldb: 3 * C, c: S, ldc: T)
                Kernels.softmaxRows(S, rows: L, cols: T, ld: T, valid: L)
                if L < T { (S + L * T).update(repeating: 0, count: (T - L) * T) }
                BLAS.gemm(m: L, n: D, k: L, a: S, lda: T, b: rows + 2 * C + h * D, ldb: 3 * C, c: ctx + h * D, ldc: C)
            }
            if L < T { (ctx + L * C).update(repeating: 0, count: (T - L) * C) }
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
