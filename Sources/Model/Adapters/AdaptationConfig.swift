// How a model is adapted: which weights train (full, head) or which linear layers get low-rank
// adapters (LoRA, DoRA), with rank, alpha, dropout, targets and layers.
import Foundation

public enum AdaptationMode: String, Codable, Sendable, CaseIterable {
    /// LoRA, DoRA and AdaLoRA train adapters; full and head do not.
    public var usesAdapters: Bool { self == .lora || self == .dora || self == .adalora }
    /// Every encoder weight and the heads train.
    case full
    /// The encoder is frozen; only the task heads train.
    case head
    /// LoRA: y = W0 x + b + (alpha/r) · B A dropout(x).
    case lora
    /// DoRA (PEFT semantics): y = m ⊙ (W0 + s·BA) x / ‖W0 + s·BA‖_row + b, the norm detached.
    case dora
    /// AdaLoRA (PEFT semantics): y = W0 x + b + alpha/(r0 + 1e-5) · B (A ⊙ E) dropout(x), with the
    /// budget of singular values E cut during training by importance (AdaLoRASettings).
    case adalora
}

/// A linear layer that can carry an adapter: one of an encoder layer's six (HF module names), or
/// the pooler's dense layer (which only a pooled head reads).
public enum AdapterTarget: String, Codable, Sendable, CaseIterable {
    case query, key, value
    case attentionOutput = "attention-output"
    case intermediate
    case output
    case pooler

    /// The six linear layers of every encoder layer.
    public static let encoder: [AdapterTarget] = [.query, .key, .value, .attentionOutput, .intermediate, .output]

    /// Named sets: `attention` (query, value: LoRA's and PEFT's default), `qkv`, `attention-all`
    /// (q, k, v, attention output), `all-linear` (those and both feed-forward layers).
    public static let sets: [String: [AdapterTarget]] = [
        "attention": [.query, .value],
        "qkv": [.query, .key, .value],
        "attention-all": [.query, .key, .value, .attentionOutput],
        "all-linear": AdapterTarget.encoder,
    ]

    /// Parses a set name or a comma-separated list of target names.
    public static func parse(_ text: String) throws -> [AdapterTarget] {
        if let set = sets[text] { return set }
        var result: [AdapterTarget] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let t = AdapterTarget(rawValue: part) else {
                let known = sets.keys.sorted() + AdapterTarget.allCases.map(\.rawValue)
                throw ModelError.invalidArgument(name: "target '\(part)'", reason: "expected one of \(known.joined(separator: ", "))")
            }
            if !result.contains(t) { result.append(t) }
        }
        guard !result.isEmpty else { throw ModelError.invalidArgument(name: "targets", reason: "expected at least one target") }
        return result
    }

    /// (input features, output features) of this linear layer.
    public func shape(_ c: BertConfig) -> (inFeatures: Int, outFeatures: Int) {
        switch self {
        case .query, .key, .value, .attentionOutput, .pooler: return (c.hiddenSize, c.hiddenSize)
        case .intermediate: return (c.hiddenSize, c.intermediateSize)
        case .output: return (c.intermediateSize, c.hiddenSize)
        }
    }
}

public struct AdaptationConfig: Codable, Sendable, Equatable {
    public var mode: AdaptationMode
    public var rank: Int
    public var alpha: Float
    /// Dropout on the adapter's input (LoRA's `lora_dropout`).
    public var dropout: Float
    public var targets: [AdapterTarget]
    /// Encoder layers that get adapters (nil: all).
    public var layers: [Int]?
    /// rsLoRA: scale alpha/√r instead of alpha/r.
    public var rsLoRA: Bool
    /// Mixed precision: bf16 products of the linear layers, fp32 master weights (EncoderOptions.amp).
    public var amp: Bool
    /// Ranks and alphas of particular adapters, by adapter name (`encoder.layer.3.query`, `pooler`),
    /// where they differ from `rank` and `alpha` (PEFT's rank_pattern and alpha_pattern; a
    /// truncated run's per-layer ranks). nil: every adapter has `rank` and `alpha`.
    public var rankPattern: [String: Int]?
    public var alphaPattern: [String: Float]?
    /// AdaLoRA's schedule and importance settings (mode adalora; `rank` is the initial rank r0).
    public var adaLoRA: AdaLoRASettings?

    public init(mode: AdaptationMode, rank: Int = 8, alpha: Float? = nil, dropout: Float = 0,
                targets: [AdapterTarget] = [.query, .value], layers: [Int]? = nil, rsLoRA: Bool = false, amp: Bool = false) {
        self.mode = mode; self.rank = rank; self.alpha = alpha ?? Float(2 * rank); self.dropout = dropout
        self.targets = targets; self.layers = layers; self.rsLoRA = rsLoRA; self.amp = amp
        if mode == .adalora { self.alpha = alpha ?? AdaLoRASettings.defaultAlpha; adaLoRA = AdaLoRASettings(targetRank: min(8, rank)) }
    }

    private enum CodingKeys: String, CodingKey { case mode, rank, alpha, dropout, targets, layers, rsLoRA, amp, rankPattern, alphaPattern, adaLoRA }

    /// Files written before `amp` existed decode with amp = false.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mode = try c.decode(AdaptationMode.self, forKey: .mode)
        rank = try c.decode(Int.self, forKey: .rank)
        alpha = try c.decode(Float.self, forKey: .alpha)
        dropout = try c.decode(Float.self, forKey: .dropout)
        targets = try c.decode([AdapterTarget].self, forKey: .targets)
        layers = try c.decodeIfPresent([Int].self, forKey: .layers)
        rsLoRA = try c.decode(Bool.self, forKey: .rsLoRA)
        amp = try c.decodeIfPresent(Bool.self, forKey: .amp) ?? false
        rankPattern = try c.decodeIfPresent([String: Int].self, forKey: .rankPattern)
        alphaPattern = try c.decodeIfPresent([String: Float].self, forKey: .alphaPattern)
        adaLoRA = try c.decodeIfPresent(AdaLoRASettings.self, forKey: .adaLoRA)
        if mode == .adalora && adaLoRA == nil { adaLoRA = AdaLoRASettings() }
    }

    /// The rank of the adapter named `name` (LowRankAdapter.name).
    public func rank(for name: String) -> Int { rankPattern?[name] ?? rank }
    public func alpha(for name: String) -> Float { alphaPattern?[name] ?? alpha }
    /// s = alpha / r (or alpha / √r with rsLoRA) of the adapter named `name`; AdaLoRA: alpha / (r0 + 1e-5).
    public func scaling(for name: String) -> Float {
        let r = Float(rank(for: name)), a = alpha(for: name)
        if mode == .adalora { return a / (r + 1e-5) }
        return rsLoRA ? a / r.squareRoot() : a / r
    }

    /// The name of the adapter on (layer, target): `encoder.layer.L.TARGET`, or `pooler`.
    public static func adapterName(layer: Int, target: AdapterTarget) -> String {
        target == .pooler ? "pooler" : "encoder.layer.\(layer).\(target.rawValue)"
    }

    public var usesAdapters: Bool { mode.usesAdapters }

    /// s = alpha / r (or alpha / √r with rsLoRA; AdaLoRA: alpha / (r0 + 1e-5)).
    public var scaling: Float {
        if mode == .adalora { return alpha / (Float(rank) + 1e-5) }
        return rsLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
    }

    /// Checks the configuration against a model; errors name the argument and what was expected.
    public func validate(for c: BertConfig) throws {
        guard usesAdapters else { return }
        guard rank >= 1 else { throw ModelError.invalidArgument(name: "rank \(rank)", reason: "expected a rank of at least 1") }
        for t in targets {
            let (i, o) = t.shape(c)
            guard rank <= min(i, o) else {
                throw ModelError.invalidArgument(name: "rank \(rank)", reason: "larger than the \(t.rawValue) layer allows (at most \(min(i, o)) for its [\(o), \(i)] weight)")
            }
        }
        let names = Set((0..<c.numLayers).flatMap { l in AdapterTarget.encoder.map { Self.adapterName(layer: l, target: $0) } } + ["pooler"])
        for (name, r) in rankPattern ?? [:] {
            guard names.contains(name) else { throw ModelError.invalidArgument(name: "rank pattern '\(name)'", reason: "not an adapter name (encoder.layer.N.TARGET or pooler)") }
            let target = name == "pooler" ? AdapterTarget.pooler : AdapterTarget(rawValue: String(name.split(separator: ".").last!))!
            let (i, o) = target.shape(c)
            guard r >= 1 && r <= min(i, o) else { throw ModelError.invalidArgument(name: "rank \(r) of \(name)", reason: "expected 1…\(min(i, o))") }
        }
        for name in (alphaPattern ?? [:]).keys where !names.contains(name) {
            throw ModelError.invalidArgument(name: "alpha pattern '\(name)'", reason: "not an adapter name (encoder.layer.N.TARGET or pooler)")
        }
        guard dropout >= 0 && dropout < 1 else { throw ModelError.invalidArgument(name: "dropout \(dropout)", reason: "expected 0 ≤ dropout < 1") }
        if mode == .dora && dropout > 0 {
            throw ModelError.invalidArgument(name: "dropout \(dropout)", reason: "adapter dropout with DoRA is not supported; use dropout 0 (the model's own dropout still applies)")
        }
        if mode == .adalora {
            if rankPattern != nil { throw ModelError.invalidArgument(name: "rank pattern", reason: "AdaLoRA allocates its ranks; give init_rank and target_rank instead") }
            if rsLoRA { throw ModelError.invalidArgument(name: "rslora", reason: "AdaLoRA scales by alpha / r0, not rsLoRA's alpha / √r") }
            try (adaLoRA ?? AdaLoRASettings()).validate(initialRank: rank)
        }
        for l in layers ?? [] where !(0..<c.numLayers).contains(l) {
            throw ModelError.invalidArgument(name: "layer \(l)", reason: "the model has layers 0…\(c.numLayers - 1)")
        }
    }

    public func adapts(layer: Int) -> Bool { usesAdapters && (layers?.contains(layer) ?? true) }
}
