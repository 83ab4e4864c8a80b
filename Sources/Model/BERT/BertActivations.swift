// The activation arena of a forward pass: one buffer, carved into per-layer views for the current
// batch. Rows are packed real tokens (N = Σ lengths, no padding). In training mode every layer keeps
// its own activations for backward; in inference mode one set is reused by all layers (a layer's
// output overwrites its input, which is safe: the input's last reader, the first residual, runs
// before the output is written).
//
// With mixed precision (amp) a layer keeps for backward only bf16 copies (of its input, qkv, context,
// both LayerNorm inputs, ln1Out, the GELU input and output) plus its fp32 output and LayerNorm
// statistics: the fp32 versions live in one scratch set shared by all layers, valid only while the
// layer's forward runs; backward widens what it needs.
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
    /// amp only (nil in fp32): bf16 copies kept for backward, the fp32 ones above are then scratch.
    public let bf16: AmpActivations?
}

/// What an encoder layer keeps in bf16 under mixed precision.
public struct AmpActivations {
    public let input: UnsafeMutablePointer<UInt16>    // (N, C)  the layer input x (qkv GEMM operand)
    public let qkv: UnsafeMutablePointer<UInt16>      // (N, 3C) after the bias (attention backward)
    public let context: UnsafeMutablePointer<UInt16>  // (N, C)
    public let attnSum: UnsafeMutablePointer<UInt16>  // (N, C)  LayerNorm 1 input
    public let ln1Out: UnsafeMutablePointer<UInt16>   // (N, C)
    public let ffnPre: UnsafeMutablePointer<UInt16>   // (N, I)  GELU input
    public let ffnAct: UnsafeMutablePointer<UInt16>   // (N, I)
    public let ffnSum: UnsafeMutablePointer<UInt16>   // (N, C)  LayerNorm 2 input
}

public final class BertActivations {
    public let config: BertConfig
    public let keepsAllLayers: Bool
    private var arena: FloatBuffer
    private var halfArena = BF16Buffer(count: 0)
    private var lengths: [Int] = []
    private var hasDropoutBuffers = false
    public private(set) var amp = false
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
    public var byteCount: Int { arena.byteCount + halfArena.byteCount }

    /// Floats and bf16 halves the arena needs for a batch of these sequence lengths: the carving code
    /// itself, run without assigning, so the size and the layout cannot drift apart.
    func size(lengths: [Int], dropout: Bool, amp: Bool) -> (floats: Int, halves: Int) {
        layout(lengths: lengths, dropout: dropout, amp: amp, assign: false)
    }

    /// Sizes the arena for the largest of these batches up front, so that no later `prepare` grows it.
    public func reserve(_ batches: [[Int]], dropout: Bool, amp: Bool) {
        var floats = 0, halves = 0
        for lengths in batches {
            let s = size(lengths: lengths, dropout: dropout, amp: amp)
            floats = max(floats, s.floats); halves = max(halves, s.halves)
        }
        if floats > arena.count { arena = FloatBuffer(count: floats); self.lengths = [] }
        if halves > halfArena.count { halfArena = BF16Buffer(count: halves); self.lengths = [] }
    }

    /// Lays out views for a batch with these sequence lengths, growing the arena only when needed.
    /// With `dropout`, separate buffers hold the dropped embeddings and attention probabilities.
    public func prepare(lengths: [Int], dropout: Bool = false, amp: Bool = false) {
        if lengths == self.lengths && dropout == hasDropoutBuffers && amp == self.amp { return }
        let need = size(lengths: lengths, dropout: dropout, amp: amp)
        if need.floats > arena.count { arena = FloatBuffer(count: need.floats) }
        if need.halves > halfArena.count { halfArena = BF16Buffer(count: need.halves) }
        hasDropoutBuffers = dropout
        self.amp = amp
        self.lengths = lengths
        layout(lengths: lengths, dropout: dropout, amp: amp, assign: true)
    }

    /// Carves the batch's views out of the arenas in order and returns how many floats and halves it
    /// took. With `assign: false` it only counts (every view points at the arena's start, unused).
    @discardableResult
    private func layout(lengths: [Int], dropout: Bool, amp: Bool, assign: Bool) -> (floats: Int, halves: Int) {
        let B = lengths.count, N = lengths.reduce(0, +)
        let C = config.hiddenSize, H = config.numHeads, I = config.intermediateSize
        var probsOffsets: [Int] = []
        var attention = 0
        for l in lengths { probsOffsets.append(attention); attention += H * l * l }
        let L = keepsAllLayers ? config.numLayers : 1
        var floats = 0, halves = 0
        let floatBase = arena.base, halfBase = halfArena.base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { floats += n }; return assign ? floatBase + floats : floatBase }
        func half(_ n: Int) -> UnsafeMutablePointer<UInt16> { defer { halves += n }; return assign ? halfBase + halves : halfBase }
        let embSum = take(N * C), embMean = take(N), embRstd = take(N), embOut = take(N * C)
        let embDropped = dropout ? take(N * C) : embOut
        // amp: the fp32 buffers below are one scratch set shared by all layers (context = ffnPre =
        // ffnAct, attnSum = ffnSum); what backward needs is kept per layer in bf16
        let shared = amp ? (qkv: take(N * 3 * C), context: take(N * max(C, I)), sum: take(N * C), ln1Out: take(N * C)) : nil
        let layers = (0..<L).map { _ in
            let probs = take(attention)
            let context = shared?.context ?? take(N * C)
            return LayerActivations(
                qkv: shared?.qkv ?? take(N * 3 * C), probs: probs, probsDropped: dropout ? take(attention) : probs,
                context: context, attnSum: shared?.sum ?? take(N * C),
                ln1Mean: take(N), ln1Rstd: take(N), ln1Out: shared?.ln1Out ?? take(N * C),
                ffnPre: shared?.context ?? take(N * I), ffnAct: shared?.context ?? take(N * I),
                ffnSum: shared?.sum ?? take(N * C), ln2Mean: take(N), ln2Rstd: take(N), out: take(N * C),
                bf16: amp ? AmpActivations(input: half(N * C), qkv: half(N * 3 * C), context: half(N * C), attnSum: half(N * C),
                                           ln1Out: half(N * C), ffnPre: half(N * I), ffnAct: half(N * I), ffnSum: half(N * C)) : nil)
        }
        let poolerIn = take(B * C), pooled = take(B * C)
        if assign {
            self.probsOffsets = probsOffsets
            self.embSum = embSum; self.embMean = embMean; self.embRstd = embRstd; self.embOut = embOut; self.embDropped = embDropped
            self.layers = layers
            self.poolerIn = poolerIn; self.pooled = pooled
        }
        return (floats, halves)
    }

    /// Activations of layer `l` (in inference mode all layers share one set).
    public func layer(_ l: Int) -> LayerActivations { layers[keepsAllLayers ? l : 0] }
}
