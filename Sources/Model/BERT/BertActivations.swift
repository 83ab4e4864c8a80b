// The activation arena of a forward pass: one buffer, carved into per-layer views for the current
// batch. Rows are packed real tokens (N = Σ lengths, no padding). In training mode every layer keeps
// its own activations for backward; in inference mode one set is reused by all layers (a layer's
// output overwrites its input, which is safe: the input's last reader, the first residual, runs
// before the output is written).
import Foundation

/// What one encoder layer keeps. N packed tokens, C hidden, I intermediate, H heads, L_b lengths.
public struct LayerActivations {
    public let qkv: UnsafeMutablePointer<Float>      // (N, 3C)  x Wqkvᵀ + b
    public let probs: UnsafeMutablePointer<Float>    // Σ_b (H, L_b, L_b)  softmax(QKᵀ/√D) per sequence and head
    public let probsDropped: UnsafeMutablePointer<Float> // same, after attention dropout (= probs without it)
    public let context: UnsafeMutablePointer<Float>  // (N, C)  heads' P·V, concatenated
    public let attnSum: UnsafeMutablePointer<Float>  // (N, C)  context Woᵀ + bo + x (LayerNorm 1 input)
    public let ln1Mean: UnsafeMutablePointer<Float>  // (N)
    public let ln1Rstd: UnsafeMutablePointer<Float>  // (N)
    public let ln1Out: UnsafeMutablePointer<Float>   // (N, C)
    public let ffnPre: UnsafeMutablePointer<Float>   // (N, I)  ln1Out W1ᵀ + b1 (GELU input)
    public let ffnAct: UnsafeMutablePointer<Float>   // (N, I)  GELU(ffnPre)
    public let ffnSum: UnsafeMutablePointer<Float>   // (N, C)  ffnAct W2ᵀ + b2 + ln1Out (LayerNorm 2 input)
    public let ln2Mean: UnsafeMutablePointer<Float>  // (N)
    public let ln2Rstd: UnsafeMutablePointer<Float>  // (N)
    public let out: UnsafeMutablePointer<Float>      // (N, C)  layer output

    static func floats(tokens N: Int, attention: Int, config c: BertConfig) -> Int {
        let C = c.hiddenSize, I = c.intermediateSize
        return N * (3 * C + C + C + 2 + C + 2 * I + C + 2 + C) + attention
    }
}

public final class BertActivations {
    public let config: BertConfig
    public let keepsAllLayers: Bool
    private var arena: FloatBuffer
    private var lengths: [Int] = []
    private var hasDropoutBuffers = false
    /// Start of each sequence's (H, L_b, L_b) attention block within `probs`.
    public private(set) var probsOffsets: [Int] = []

    public private(set) var embSum: UnsafeMutablePointer<Float>   // (N, C) word + position + type
    public private(set) var embMean: UnsafeMutablePointer<Float>  // (N)
    public private(set) var embRstd: UnsafeMutablePointer<Float>  // (N)
    public private(set) var embOut: UnsafeMutablePointer<Float>   // (N, C)
    public private(set) var embDropped: UnsafeMutablePointer<Float> // (N, C) dropout(embOut): layer 0's input (= embOut without dropout)
    public private(set) var layers: [LayerActivations] = []
    public private(set) var poolerIn: UnsafeMutablePointer<Float> // (B, C) [CLS] rows of the last layer
    public private(set) var pooled: UnsafeMutablePointer<Float>   // (B, C) tanh(Wp h + bp)

    public init(config: BertConfig, keepAllLayers: Bool) {
        self.config = config
        self.keepsAllLayers = keepAllLayers
        arena = FloatBuffer(count: 0)
        embSum = arena.base; embMean = arena.base; embRstd = arena.base; embOut = arena.base; embDropped = arena.base
        poolerIn = arena.base; pooled = arena.base
    }

    /// Bytes held by the arena (the activation memory of the largest batch seen).
    public var byteCount: Int { arena.byteCount }

    /// Lays out views for a batch with these sequence lengths, growing the arena only when needed.
    /// With `dropout`, separate buffers hold the dropped embeddings and attention probabilities.
    public func prepare(lengths: [Int], dropout: Bool = false) {
        if lengths == self.lengths && dropout == hasDropoutBuffers { return }
        hasDropoutBuffers = dropout
        let B = lengths.count, N = lengths.reduce(0, +)
        let C = config.hiddenSize, H = config.numHeads
        var probsOffsets: [Int] = []
        var attention = 0
        for l in lengths { probsOffsets.append(attention); attention += H * l * l }
        let L = keepsAllLayers ? config.numLayers : 1
        let extra = dropout ? N * C + L * attention : 0
        let need = N * (2 * C + 2) + L * LayerActivations.floats(tokens: N, attention: attention, config: config) + 2 * B * C + extra
        if need > arena.count { arena = FloatBuffer(count: need) }
        self.lengths = lengths
        self.probsOffsets = probsOffsets
        let I = config.intermediateSize
        var p = arena.base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { p += n }; return p }
        embSum = take(N * C); embMean = take(N); embRstd = take(N); embOut = take(N * C)
        embDropped = dropout ? take(N * C) : embOut
        layers = (0..<L).map { _ in
            let probs = take(attention)
            return LayerActivations(
                qkv: take(N * 3 * C), probs: probs, probsDropped: dropout ? take(attention) : probs,
                context: take(N * C), attnSum: take(N * C),
                ln1Mean: take(N), ln1Rstd: take(N), ln1Out: take(N * C), ffnPre: take(N * I), ffnAct: take(N * I),
                ffnSum: take(N * C), ln2Mean: take(N), ln2Rstd: take(N), out: take(N * C))
        }
        poolerIn = take(B * C); pooled = take(B * C)
    }

    /// Activations of layer `l` (in inference mode all layers share one set).
    public func layer(_ l: Int) -> LayerActivations { layers[keepsAllLayers ? l : 0] }
}
