// The activation arena of a forward pass: one buffer, carved into per-layer views for the current
// batch shape. In training mode every layer keeps its own activations for backward; in inference
// mode one set is reused by all layers (a layer's output overwrites its input, which is safe: the
// input's last reader, the first residual, runs before the output is written).
import Foundation

/// What one encoder layer keeps. N = B·T tokens, C hidden, I intermediate, H heads.
public struct LayerActivations {
    public let qkv: UnsafeMutablePointer<Float>      // (N, 3C)  x Wqkvᵀ + b
    public let probs: UnsafeMutablePointer<Float>    // (B, H, T, T) softmax(QKᵀ/√D) with masked keys = 0
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

    static func floats(B: Int, T: Int, config c: BertConfig) -> Int {
        let N = B * T, C = c.hiddenSize, I = c.intermediateSize
        return N * (3 * C + C + C + 2 + C + 2 * I + C + 2 + C) + B * c.numHeads * T * T
    }
}

public final class BertActivations {
    public let config: BertConfig
    public let keepsAllLayers: Bool
    private var arena: FloatBuffer
    public private(set) var batchSize = 0
    public private(set) var sequenceLength = 0

    public private(set) var embSum: UnsafeMutablePointer<Float>   // (N, C) word + position + type
    public private(set) var embMean: UnsafeMutablePointer<Float>  // (N)
    public private(set) var embRstd: UnsafeMutablePointer<Float>  // (N)
    public private(set) var embOut: UnsafeMutablePointer<Float>   // (N, C)
    public private(set) var layers: [LayerActivations] = []
    public private(set) var poolerIn: UnsafeMutablePointer<Float> // (B, C) [CLS] rows of the last layer
    public private(set) var pooled: UnsafeMutablePointer<Float>   // (B, C) tanh(Wp h + bp)

    public init(config: BertConfig, keepAllLayers: Bool) {
        self.config = config
        self.keepsAllLayers = keepAllLayers
        arena = FloatBuffer(count: 0)
        embSum = arena.base; embMean = arena.base; embRstd = arena.base; embOut = arena.base
        poolerIn = arena.base; pooled = arena.base
    }

    /// Bytes held by the arena (the activation memory of the largest batch seen).
    public var byteCount: Int { arena.byteCount }

    static func floats(B: Int, T: Int, config c: BertConfig, layers: Int) -> Int {
        let N = B * T, C = c.hiddenSize
        return N * (2 * C + 2) + layers * LayerActivations.floats(B: B, T: T, config: c) + 2 * B * C
    }

    /// Lays out views for a (B, T) batch, growing the arena only when it is too small.
    public func prepare(batchSize B: Int, sequenceLength T: Int) {
        if B == batchSize && T == sequenceLength { return }
        let L = keepsAllLayers ? config.numLayers : 1
        let need = Self.floats(B: B, T: T, config: config, layers: L)
        if need > arena.count { arena = FloatBuffer(count: need) }
        batchSize = B; sequenceLength = T
        let N = B * T, C = config.hiddenSize, I = config.intermediateSize, H = config.numHeads
        var p = arena.base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { p += n }; return p }
        embSum = take(N * C); embMean = take(N); embRstd = take(N); embOut = take(N * C)
        layers = (0..<L).map { _ in
            LayerActivations(
                qkv: take(N * 3 * C), probs: take(B * H * T * T), context: take(N * C), attnSum: take(N * C),
                ln1Mean: take(N), ln1Rstd: take(N), ln1Out: take(N * C), ffnPre: take(N * I), ffnAct: take(N * I),
                ffnSum: take(N * C), ln2Mean: take(N), ln2Rstd: take(N), out: take(N * C))
        }
        poolerIn = take(B * C); pooled = take(B * C)
    }

    /// Activations of layer `l` (in inference mode all layers share one set).
    public func layer(_ l: Int) -> LayerActivations { layers[keepsAllLayers ? l : 0] }
}
