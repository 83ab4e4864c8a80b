// Backward of the encoder: each step inverts a forward line of BertModel.encoderLayer, in exact
// reverse order; layers run from the last to the lowest one that needs a gradient. Gradients
// accumulate (GEMMs with beta = 1, sums with +=): callers zero them once per optimizer step.
//
// What gets a gradient is decided by `GradientSinks`: base weights only in full fine-tuning (a
// BertParameters-shaped gradient buffer), adapters' A/B/m when they train, and the input gradient
// of a layer only when something below it trains. Frozen weights have no gradient buffers.
import Workers
import Foundation
import CCompute

/// Where backward writes.
public struct GradientSinks {
    /// Gradients of the base weights (full fine-tuning), same layout as the parameters.
    public var base: BertParameters?
    public var adapters: AdapterSet?

    /// The lowest encoder layer that needs gradients (numLayers when none does).
    func lowestLayer(_ c: BertConfig) -> Int {
        if base != nil { return 0 }
        guard let adapters else { return c.numLayers }
        return adapters.layers.firstIndex { !$0.isEmpty } ?? c.numLayers
    }
}

/// Scratch buffers of backward, grown to the largest batch and reused.
final class BackwardWorkspace {
    private(set) var arena: FloatBuffer
    private var halfArena = BF16Buffer(count: 0)
    var dX, dS, dT, dLn1, dQKV, dI, dP, scratch: UnsafeMutablePointer<Float>
    /// amp: an adapter's input widened back from bf16, (N, max(C, I)); only with adapters on the
    /// attention output or feed-forward layers (the qkv adapters' input is kept in fp32). The
    /// attention's qkv is widened into `scratch`, a LayerNorm's input into `dT` (both free then).
    var wide: UnsafeMutablePointer<Float>
    /// amp: the output gradient of a linear layer in bf16, (N, max(3C, I)).
    var dyHalf: UnsafeMutablePointer<UInt16>
    private var key: [Int] = []
    private var keyAmp = false, keyWide = false

    init() {
        arena = FloatBuffer(count: 0)
        let p = arena.base
        dX = p; dS = p; dT = p; dLn1 = p; dQKV = p; dI = p; dP = p; scratch = p; wide = p
        dyHalf = halfArena.base
    }

    /// Width of `scratch`: amp also widens qkv (3C) into it.
    static func scratchWidth(_ c: BertConfig, amp: Bool) -> Int { max(c.hiddenSize, c.intermediateSize, amp ? 3 * c.hiddenSize : 0) }

    /// Floats and halves the workspace needs for a batch of these lengths: the carving code itself,
    /// run without assigning, so the size and the layout cannot drift apart.
    func size(lengths: [Int], config c: BertConfig, amp: Bool, wideInputs: Bool) -> (floats: Int, halves: Int) {
        layout(lengths: lengths, config: c, amp: amp, wideInputs: wideInputs, assign: false)
    }

    /// Sizes the workspace for the largest of these batches up front.
    func reserve(_ batches: [[Int]], config c: BertConfig, amp: Bool, wideInputs: Bool) {
        var floats = 0, halves = 0
        for lengths in batches {
            let s = size(lengths: lengths, config: c, amp: amp, wideInputs: wideInputs)
            floats = max(floats, s.floats); halves = max(halves, s.halves)
        }
        if floats > arena.count { arena = FloatBuffer(count: floats); key = [] }
        if halves > halfArena.count { halfArena = BF16Buffer(count: halves); key = [] }
    }

    func prepare(lengths: [Int], config c: BertConfig, amp: Bool, wideInputs: Bool) {
        if lengths == key && amp == keyAmp && wideInputs == keyWide { return }
        key = lengths; keyAmp = amp; keyWide = wideInputs
        let need = size(lengths: lengths, config: c, amp: amp, wideInputs: wideInputs)
        if need.floats > arena.count { arena = FloatBuffer(count: need.floats) }
        if need.halves > halfArena.count { halfArena = BF16Buffer(count: need.halves) }
        layout(lengths: lengths, config: c, amp: amp, wideInputs: wideInputs, assign: true)
    }

    /// Carves the views out of the arenas in order and returns how much it took; with `assign: false`
    /// it only counts.
    @discardableResult
    private func layout(lengths: [Int], config c: BertConfig, amp: Bool, wideInputs: Bool, assign: Bool) -> (floats: Int, halves: Int) {
        let N = lengths.reduce(0, +), C = c.hiddenSize, I = c.intermediateSize
        let attention = lengths.reduce(0) { $0 + c.numHeads * $1 * $1 }
        var floats = 0, halves = 0
        let floatBase = arena.base, halfBase = halfArena.base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { floats += n }; return assign ? floatBase + floats : floatBase }
        func half(_ n: Int) -> UnsafeMutablePointer<UInt16> { defer { halves += n }; return assign ? halfBase + halves : halfBase }
        let dX = take(N * C), dS = take(N * C), dT = take(N * C), dLn1 = take(N * C), dQKV = take(3 * N * C)
        let dI = take(N * I), dP = take(attention), scratch = take(N * Self.scratchWidth(c, amp: amp))
        let wide = amp && wideInputs ? take(N * max(C, I)) : scratch
        let dyHalf = amp ? half(N * max(3 * C, I)) : halfBase   // the bf16 copy of an output gradient
        if assign {
            self.dX = dX; self.dS = dS; self.dT = dT; self.dLn1 = dLn1; self.dQKV = dQKV
            self.dI = dI; self.dP = dP; self.scratch = scratch; self.wide = wide; self.dyHalf = dyHalf
        }
        return (floats, halves)
    }

    var byteCount: Int { arena.byteCount + halfArena.byteCount }
}

extension BertModel {
    /// Backpropagates dOut = ∂L/∂(last layer output) (N, C), packed like the batch. `dOut` is
    /// consumed (used as scratch). Requires the forward's activations (training mode: all layers kept).
    func backward(_ batch: TokenBatch, activations acts: BertActivations, options: EncoderOptions,
                  dOut: UnsafeMutablePointer<Float>, sinks: GradientSinks, workspace ws: BackwardWorkspace) {
        precondition(acts.keepsAllLayers, "backward needs the activations of every layer (training mode)")
        let lowest = sinks.lowestLayer(config)
        guard lowest < config.numLayers else { return }
        let N = batch.tokenCount, C = config.hiddenSize
        ws.prepare(lengths: batch.lengths, config: config, amp: options.amp, wideInputs: options.adapters?.adaptsLinearInputsKeptInBF16 ?? false)
        let dY = dOut
        for l in stride(from: config.numLayers - 1, through: lowest, by: -1) {
            let input = l == 0 ? acts.embDropped : acts.layer(l - 1).out
            let needInput = l > lowest || sinks.base != nil
            layerBackward(l, batch: batch, acts: acts, input: input, dOut: dY, needInputGrad: needInput, options: options, sinks: sinks, ws: ws)
            if needInput { dY.update(from: ws.dX, count: N * C) }
        }
        if let g = sinks.base { embeddingsBackward(batch, acts: acts, dEmb: dY, grads: g, options: options, scratch: ws.dS) }
    }

    /// db[c] += Σ rows dy[r, c] (row stride ld), columns split across threads.
    func biasGrad(_ db: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int) {
        Parallel.chunks(cols, minChunk: 32, (db, dy, rows, ld)) { a, r in lb_column_sums(a.0, a.1, a.2, a.3, r.lowerBound, r.upperBound) }
    }

    func layerBackward(_ l: Int, batch: TokenBatch, acts: BertActivations, input x: UnsafePointer<Float>,
                       dOut: UnsafeMutablePointer<Float>, needInputGrad: Bool, options: EncoderOptions,
                       sinks: GradientSinks, ws: BackwardWorkspace) {
        let w = parameters.layers[l], a = acts.layer(l), g = sinks.base?.layers[l]
        let N = batch.tokenCount, C = config.hiddenSize, I = config.intermediateSize, H = config.numHeads, D = config.headDim
        let adapters = options.adapters?.active(layer: l) ?? [:]
        let half = a.bf16.map { ($0, halfWeights(layer: l, convert: false)) }   // the forward's copies

        /// A linear site y = x Wᵀ (+ adapter) + b, given dy: weight/bias grads, DoRA scaling, then
        /// dx = dy W (beta 0, or added with `accumulate`) plus the adapter's path. With amp, `xHalf`
        /// and `WHalf` are the bf16 operands: dy is rounded to bf16 for both products, and the
        /// adapter gets x widened back from bf16 when its fp32 version was not kept (`xKept`).
        func linearBackward(_ t: AdapterTarget?, dy: UnsafeMutablePointer<Float>, ldy: Int, dyIsScratch: Bool,
                            x: UnsafePointer<Float>, ldx: Int, W: UnsafePointer<Float>, outF: Int, inF: Int,
                            dW: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?,
                            dx: UnsafeMutablePointer<Float>?, accumulate: Bool,
                            xHalf: UnsafePointer<UInt16>? = nil, WHalf: UnsafePointer<UInt16>? = nil, xKept: Bool = true) {
            if let db { biasGrad(db, dy, rows: N, cols: outF, ld: ldy) }
            let amp = xHalf != nil
            if amp && (dW != nil || dx != nil) { BF16.convert(dy, ldx: ldy, to: ws.dyHalf, ldy: outF, rows: N, cols: outF) }
            let linear = Linear(W: W, halfW: WHalf, outputs: outF, inputs: inF)
            // dW += dyᵀ x                                                          (out, in)
            if let dW { linear.weightGradient(dy: dy, ldy: ldy, dyHalf: ws.dyHalf, x: x, ldx: ldx, xHalf: xHalf, into: dW, rows: N) }
            var dyAdapted = dy, ld = ldy
            let adapter = t.flatMap { adapters[$0] }
            if let adapter, adapter.scalesGradient {
                if !dyIsScratch {   // dy is also the residual gradient: scale a copy
                    for r in 0..<N { (ws.scratch + r * outF).update(from: dy + r * ldy, count: outF) }
                    dyAdapted = ws.scratch; ld = outF
                }
                adapter.scaleGradient(dy: dyAdapted, ldy: ld, rows: N)
                if amp && dx != nil { BF16.convert(dyAdapted, ldx: ld, to: ws.dyHalf, ldy: outF, rows: N, cols: outF) }
            }
            // dx = dz W                                                              (N, in)
            if let dx { linear.inputGradient(dy: dyAdapted, ldy: ld, dyHalf: ws.dyHalf, into: dx, accumulate: accumulate, rows: N) }
            if let adapter {
                var xa = x, ldxa = ldx
                if !xKept, let xHalf {
                    BF16.widen(xHalf, to: ws.wide, count: N * inF)
                    xa = UnsafePointer(ws.wide); ldxa = inF
                }
                adapter.lowRankBackward(dy: dyAdapted, ldy: ld, x: xa, ldx: ldxa, rows: N, dx: dx, lddx: inF)
            }
        }

        // out = LN(ffnSum)                                                        → dS = ∂L/∂ffnSum
        var ffnSum = UnsafePointer(a.ffnSum), attnSum = UnsafePointer(a.attnSum)
        if let h = half?.0 { BF16.widen(h.ffnSum, to: ws.dT, count: N * C); ffnSum = UnsafePointer(ws.dT) }
        layerNormBackward(dx: ws.dS, dy: dOut, x: ffnSum, mean: a.ln2Mean, rstd: a.ln2Rstd, gamma: w.ln2Gamma.data,
                          dGamma: g?.ln2Gamma.data, dBeta: g?.ln2Beta.data, rows: N)
        // ffnSum = dropout(ffnAct W2ᵀ + b2) + ln1Out                              → residual: dLn1 = dS
        ws.dLn1.update(from: ws.dS, count: N * C)
        let dFfnOut = dropoutBackward(ws.dS, into: ws.dT, rows: N, p: options.hiddenDropout, seed: options.seed(layer: l, site: .output))
        // ffnAct W2ᵀ + b2                                                         → dI = ∂L/∂ffnAct
        linearBackward(.output, dy: dFfnOut, ldy: C, dyIsScratch: true, x: a.ffnAct, ldx: I, W: w.ffnDownWeight.data, outF: C, inF: I,
                       dW: g?.ffnDownWeight.data, db: g?.ffnDownBias.data, dx: ws.dI, accumulate: false,
                       xHalf: half?.0.ffnAct, WHalf: half?.1.ffnDown, xKept: half == nil)
        // ffnAct = GELU(ffnPre)                                                   → dI = ∂L/∂ffnPre
        Parallel.chunks(N, minChunk: 16, (dI: ws.dI, pre: a.ffnPre, preHalf: half?.0.ffnPre, I: I)) { a, r in
            let o = r.lowerBound * a.I
            if let h = a.preHalf { lb_gelu_backward_bf16(a.dI + o, a.dI + o, h + o, r.count * a.I) }
            else { lb_gelu_backward(a.dI + o, a.dI + o, a.pre + o, r.count * a.I) }
        }
        // ffnPre = ln1Out W1ᵀ + b1                                                → dLn1 += dI W1
        linearBackward(.intermediate, dy: ws.dI, ldy: I, dyIsScratch: true, x: a.ln1Out, ldx: C, W: w.ffnUpWeight.data, outF: I, inF: C,
                       dW: g?.ffnUpWeight.data, db: g?.ffnUpBias.data, dx: ws.dLn1, accumulate: true,
                       xHalf: half?.0.ln1Out, WHalf: half?.1.ffnUp, xKept: half == nil)
        // ln1Out = LN(attnSum)                                                    → dS = ∂L/∂attnSum
        if let h = half?.0 { BF16.widen(h.attnSum, to: ws.dT, count: N * C); attnSum = UnsafePointer(ws.dT) }
        layerNormBackward(dx: ws.dS, dy: ws.dLn1, x: attnSum, mean: a.ln1Mean, rstd: a.ln1Rstd, gamma: w.ln1Gamma.data,
                          dGamma: g?.ln1Gamma.data, dBeta: g?.ln1Beta.data, rows: N)
        // attnSum = dropout(ctx Woᵀ + bo) + x                                     → residual: dX = dS
        if needInputGrad { ws.dX.update(from: ws.dS, count: N * C) }
        let dAttnOut = dropoutBackward(ws.dS, into: ws.dT, rows: N, p: options.hiddenDropout, seed: options.seed(layer: l, site: .attentionOutput))
        // ctx Woᵀ + bo                                                            → dLn1 (reused) = ∂L/∂ctx
        let dCtx = ws.dLn1
        linearBackward(.attentionOutput, dy: dAttnOut, ldy: C, dyIsScratch: options.hiddenDropout > 0, x: a.context, ldx: C,
                       W: w.attnOutWeight.data, outF: C, inF: C, dW: g?.attnOutWeight.data, db: g?.attnOutBias.data, dx: dCtx, accumulate: false,
                       xHalf: half?.0.context, WHalf: half?.1.attnOut, xKept: half == nil)
        // ctx[b,:,h] = Pd V_h; P = softmax(scale Q Kᵀ)                            → dQKV
        let offsets = acts.probsOffsets
        var qkvAll = UnsafePointer(a.qkv)
        if let h = half?.0 { BF16.widen(h.qkv, to: ws.scratch, count: N * 3 * C); qkvAll = UnsafePointer(ws.scratch) }
        batch.lengths.withUnsafeBufferPointer { lengths in batch.offsets.withUnsafeBufferPointer { rows in
            offsets.withUnsafeBufferPointer { po in
                let att = Attention(qkv: qkvAll, lengths: lengths.baseAddress!, rows: rows.baseAddress!, probsOffsets: po.baseAddress!,
                                    probs: a.probs, probsDropped: a.probsDropped, C: C, H: H, D: D,
                                    dropout: options.attentionDropout, seed: options.seed(layer: l, site: .attentionProbs))
                Parallel.chunks(batch.batchSize, minChunk: 1, (att, UnsafePointer(dCtx), ws.dQKV, ws.dP)) { a, r in
                    a.0.backward(r, dContext: a.1, dQKV: a.2, dP: a.3)
                }
            }
        } }
        // qkv = x Wqkvᵀ + b (query, key, value adapters on column slices)        → dX += dQKV Wqkv
        if let db = g?.qkvBias.data { biasGrad(db, ws.dQKV, rows: N, cols: 3 * C, ld: 3 * C) }
        if half != nil, g != nil || needInputGrad { BF16.convert(ws.dQKV, to: ws.dyHalf, count: N * 3 * C) }
        let qkv = Linear(W: w.qkvWeight.data, halfW: half.map { UnsafePointer($0.1.qkv) }, outputs: 3 * C, inputs: C)
        if let dW = g?.qkvWeight.data {
            qkv.weightGradient(dy: ws.dQKV, ldy: 3 * C, dyHalf: ws.dyHalf, x: x, ldx: C, xHalf: half.map { UnsafePointer($0.0.input) }, into: dW, rows: N)
        }
        let qkvTargets: [AdapterTarget] = [.query, .key, .value]
        for (i, t) in qkvTargets.enumerated() { adapters[t]?.scaleGradient(dy: ws.dQKV + i * C, ldy: 3 * C, rows: N) }
        if needInputGrad {
            if half != nil, qkvTargets.contains(where: { adapters[$0]?.scalesGradient == true }) { BF16.convert(ws.dQKV, to: ws.dyHalf, count: N * 3 * C) }
            qkv.inputGradient(dy: ws.dQKV, ldy: 3 * C, dyHalf: ws.dyHalf, into: ws.dX, accumulate: true, rows: N)
        }
        for (i, t) in qkvTargets.enumerated() {
            adapters[t]?.lowRankBackward(dy: ws.dQKV + i * C, ldy: 3 * C, x: x, ldx: C, rows: N, dx: needInputGrad ? ws.dX : nil, lddx: C)
        }
    }

    /// e = LN(word[id] + pos[t] + type[tt]), dropped: gradients of the embedding tables and LayerNorm.
    func embeddingsBackward(_ batch: TokenBatch, acts: BertActivations, dEmb: UnsafeMutablePointer<Float>,
                            grads g: BertParameters, options: EncoderOptions, scratch: UnsafeMutablePointer<Float>) {
        let N = batch.tokenCount, C = config.hiddenSize
        let d = dropoutBackward(dEmb, into: dEmb, rows: N, p: options.hiddenDropout, seed: options.seed(layer: -1, site: .embeddings))
        let dSum = scratch   // (N, C) of the workspace, free once every layer is done
        layerNormBackward(dx: dSum, dy: d, x: acts.embSum, mean: acts.embMean, rstd: acts.embRstd, gamma: parameters.embLnGamma.data,
                          dGamma: g.embLnGamma.data, dBeta: g.embLnBeta.data, rows: N)
        for n in 0..<N {
            let src = dSum + n * C
            let w = g.wordEmbeddings.data + Int(batch.packedIDs[n]) * C
            let p = g.positionEmbeddings.data + Int(batch.positions[n]) * C
            let t = g.typeEmbeddings.data + Int(batch.packedTypes[n]) * C
            for c in 0..<C { w[c] += src[c]; p[c] += src[c]; t[c] += src[c] }
        }
    }
}
