// All BERT weights in one contiguous Float buffer, with named views, and the one place where
// checkpoint keys are mapped to ours.
//
// Our names are HF's un-prefixed BertModel names ("encoder.layer.3.attention.self.query.weight").
// Linear weights are [out, in] (y = x Wᵀ + b). Per layer, query/key/value weights are laid out
// back to back, and so are their biases, so that one [3C, C] GEMM computes all three projections.
import Foundation

public struct LayerParameters: Sendable {
    /// [3C, C]: query, key, value weights stacked (views `query`, `key`, `value` below).
    public let qkvWeight: Tensor
    public let qkvBias: Tensor
    public let attnOutWeight: Tensor, attnOutBias: Tensor
    public let ln1Gamma: Tensor, ln1Beta: Tensor
    public let ffnUpWeight: Tensor, ffnUpBias: Tensor
    public let ffnDownWeight: Tensor, ffnDownBias: Tensor
    public let ln2Gamma: Tensor, ln2Beta: Tensor
}

public final class BertParameters: @unchecked Sendable {
    public let config: BertConfig
    public let storage: FloatBuffer
    /// Every parameter by our name, in buffer order.
    public let named: [(name: String, tensor: Tensor)]
    let index: [String: Int]

    public let wordEmbeddings: Tensor, positionEmbeddings: Tensor, typeEmbeddings: Tensor
    public let embLnGamma: Tensor, embLnBeta: Tensor
    public let layers: [LayerParameters]
    public let poolerWeight: Tensor, poolerBias: Tensor

    /// Zero-filled parameters of the shape `config` gives.
    public init(config: BertConfig) {
        self.config = config
        let C = config.hiddenSize
        let layout = Self.layout(config)
        let total = layout.reduce(0) { $0 + $1.1.reduce(1, *) }
        storage = FloatBuffer(count: total)
        var named: [(String, Tensor)] = []
        var offset = 0
        for (name, shape) in layout {
            named.append((name, Tensor(storage: storage, offset: offset, shape: shape)))
            offset += shape.reduce(1, *)
        }
        self.named = named
        var index: [String: Int] = [:]
        for (i, n) in named.enumerated() { index[n.0] = i }
        self.index = index
        let store = storage
        func t(_ n: String) -> Tensor { named[index[n]!].1 }
        func span(_ first: String, _ shape: [Int]) -> Tensor { Tensor(storage: store, offset: t(first).offset, shape: shape) }
        wordEmbeddings = t("embeddings.word_embeddings.weight")
        positionEmbeddings = t("embeddings.position_embeddings.weight")
        typeEmbeddings = t("embeddings.token_type_embeddings.weight")
        embLnGamma = t("embeddings.LayerNorm.weight")
        embLnBeta = t("embeddings.LayerNorm.bias")
        layers = (0..<config.numLayers).map { l in
            let p = "encoder.layer.\(l)."
            return LayerParameters(
                qkvWeight: span(p + "attention.self.query.weight", [3 * C, C]),
                qkvBias: span(p + "attention.self.query.bias", [3 * C]),
                attnOutWeight: t(p + "attention.output.dense.weight"), attnOutBias: t(p + "attention.output.dense.bias"),
                ln1Gamma: t(p + "attention.output.LayerNorm.weight"), ln1Beta: t(p + "attention.output.LayerNorm.bias"),
                ffnUpWeight: t(p + "intermediate.dense.weight"), ffnUpBias: t(p + "intermediate.dense.bias"),
                ffnDownWeight: t(p + "output.dense.weight"), ffnDownBias: t(p + "output.dense.bias"),
                ln2Gamma: t(p + "output.LayerNorm.weight"), ln2Beta: t(p + "output.LayerNorm.bias"))
        }
        poolerWeight = t("pooler.dense.weight")
        poolerBias = t("pooler.dense.bias")
    }

    /// Every parameter's name and shape, in storage order: what a config means, computed without
    /// allocating anything (the loader checks a checkpoint's header against it first).
    public static func layout(_ config: BertConfig) -> [(String, [Int])] {
        let C = config.hiddenSize, I = config.intermediateSize
        var layout: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [config.vocabSize, C]),
            ("embeddings.position_embeddings.weight", [config.maxPositions, C]),
            ("embeddings.token_type_embeddings.weight", [config.typeVocabSize, C]),
            ("embeddings.LayerNorm.weight", [C]),
            ("embeddings.LayerNorm.bias", [C]),
        ]
        for l in 0..<config.numLayers {
            let p = "encoder.layer.\(l)."
            layout += [
                (p + "attention.self.query.weight", [C, C]), (p + "attention.self.key.weight", [C, C]),
                (p + "attention.self.value.weight", [C, C]),
                (p + "attention.self.query.bias", [C]), (p + "attention.self.key.bias", [C]),
                (p + "attention.self.value.bias", [C]),
                (p + "attention.output.dense.weight", [C, C]), (p + "attention.output.dense.bias", [C]),
                (p + "attention.output.LayerNorm.weight", [C]), (p + "attention.output.LayerNorm.bias", [C]),
                (p + "intermediate.dense.weight", [I, C]), (p + "intermediate.dense.bias", [I]),
                (p + "output.dense.weight", [C, I]), (p + "output.dense.bias", [C]),
                (p + "output.LayerNorm.weight", [C]), (p + "output.LayerNorm.bias", [C]),
            ]
        }
        layout += [("pooler.dense.weight", [C, C]), ("pooler.dense.bias", [C])]
        return layout
    }

    public subscript(name: String) -> Tensor? { index[name].map { named[$0].tensor } }
    public var count: Int { storage.count }

    // MARK: checkpoint keys

    /// What a checkpoint key means to us.
    public enum KeyMapping: Equatable {
        case parameter(String)
        /// Known and deliberately not loaded (pretraining heads, buffers).
        case ignored(reason: String)
        case unknown
    }

    /// The one place where checkpoint keys become our names. Accepts HF BertModel names with or
    /// without the `bert.` prefix (bert-base-uncased vs sentence-transformers), TF-era
    /// `LayerNorm.gamma/beta`, and ignores the pretraining heads (`cls.*`) and `position_ids`.
    public func map(checkpointKey key: String) -> KeyMapping {
        Self.map(checkpointKey: key) { index[$0] != nil }
    }

    static func map(checkpointKey key: String, isParameter: (String) -> Bool) -> KeyMapping {
        var k = key
        if k.hasPrefix("bert.") { k.removeFirst(5) }
        if k.hasPrefix("cls.") { return .ignored(reason: "pretraining head") }
        if k == "classifier.weight" || k == "classifier.bias" { return .ignored(reason: "sequence-classification head (BertModel.classifier)") }
        if k == "embeddings.position_ids" { return .ignored(reason: "position id buffer") }
        if k.hasSuffix(".gamma") { k = String(k.dropLast(6)) + ".weight" }
        if k.hasSuffix(".beta") { k = String(k.dropLast(5)) + ".bias" }
        return isParameter(k) ? .parameter(k) : .unknown
    }

    /// The pooler's weights: optional in a checkpoint (masked-LM checkpoints have none; only pooled
    /// heads read them).
    static func isPooler(_ name: String) -> Bool { name.hasPrefix("pooler.") }

    /// Checks a checkpoint's header against the config before anything is allocated: every
    /// parameter present once with the config's shape, no unknown tensor. A config that says
    /// hidden_size 3840 against 384-wide weights fails here, not after allocating gigabytes.
    public static func check(_ file: SafeTensorsFile, against config: BertConfig) throws {
        let expected = Dictionary(layout(config), uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        for key in file.names {
            let entry = file.entries[key]!
            switch map(checkpointKey: key, isParameter: { expected[$0] != nil }) {
            case .ignored: continue
            case .unknown: throw ModelError.unusedTensor(path: file.path, key: key)
            case .parameter(let name):
                guard entry.shape == expected[name]! else {
                    throw ModelError.shapeMismatch(path: file.path, key: key, expected: expected[name]!, actual: entry.shape)
                }
                guard seen.insert(name).inserted else {
                    throw ModelError.invalidSafetensors(path: file.path, reason: "tensor '\(name)' appears twice (as '\(key)' and with another prefix)")
                }
            }
        }
        if let missing = layout(config).first(where: { !seen.contains($0.0) && !isPooler($0.0) }) {
            throw ModelError.missingTensor(path: file.path, key: missing.0, expectedShape: missing.1)
        }
        if seen.contains("pooler.dense.weight") != seen.contains("pooler.dense.bias") {
            let missing = seen.contains("pooler.dense.weight") ? "pooler.dense.bias" : "pooler.dense.weight"
            throw ModelError.missingTensor(path: file.path, key: missing, expectedShape: missing.hasSuffix("weight") ? [config.hiddenSize, config.hiddenSize] : [config.hiddenSize])
        }
    }

    /// Loads every parameter from a safetensors checkpoint; fails on a missing, unused or
    /// mis-shaped tensor, naming it and the file.
    public func load(from file: SafeTensorsFile) throws {
        var loaded = Set<String>()
        for key in file.names {
            let entry = file.entries[key]!
            switch map(checkpointKey: key) {
            case .ignored: continue
            case .unknown: throw ModelError.unusedTensor(path: file.path, key: key)
            case .parameter(let name):
                let t = self[name]!
                guard entry.shape == t.shape else {
                    throw ModelError.shapeMismatch(path: file.path, key: key, expected: t.shape, actual: entry.shape)
                }
                guard loaded.insert(name).inserted else {
                    throw ModelError.invalidSafetensors(path: file.path, reason: "tensor '\(name)' appears twice (as '\(key)' and with another prefix)")
                }
                try file.read(key, into: t.data)
            }
        }
        if let missing = named.first(where: { !loaded.contains($0.name) && !Self.isPooler($0.name) }) {
            throw ModelError.missingTensor(path: file.path, key: missing.name, expectedShape: missing.tensor.shape)
        }
    }
}

extension BertParameters {
    /// Where the weight [out, in] of one linear layer lives: an encoder layer's query, key, value
    /// (rows of the fused QKV weight), attention output, intermediate, output, or the pooler's dense
    /// layer (`layer` is not read). Adapters modify these rows and name no layer themselves.
    public func linearWeight(_ target: AdapterTarget, layer l: Int) -> UnsafeMutablePointer<Float> {
        let C = config.hiddenSize
        switch target {
        case .query: return layers[l].qkvWeight.data
        case .key: return layers[l].qkvWeight.data + C * C
        case .value: return layers[l].qkvWeight.data + 2 * C * C
        case .attentionOutput: return layers[l].attnOutWeight.data
        case .intermediate: return layers[l].ffnUpWeight.data
        case .output: return layers[l].ffnDownWeight.data
        case .pooler: return poolerWeight.data
        }
    }
}
