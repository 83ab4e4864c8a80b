// A BERT encoder's shape, read from a HF `config.json`.
import Foundation

public struct BertConfig: Sendable, Equatable, Codable {
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var vocabSize: Int
    public var layerNormEps: Float
    public var hiddenAct: String
    public var name: String
    /// Dropout probabilities used while training (HF's hidden_dropout_prob, attention_probs_dropout_prob).
    public var hiddenDropout: Float = 0.1
    public var attentionDropout: Float = 0.1
    /// A fine-tuned classifier's label names, by id (config.json's id2label), when it has them.
    public var labels: [String]?

    public var headDim: Int { hiddenSize / numHeads }

    /// The largest value each config.json size may take (far above any BERT): a config from a file
    /// is bounded before anything is computed or allocated from it.
    static let limits: [String: Int] = ["hidden_size": 16_384, "num_hidden_layers": 256, "num_attention_heads": 1_024,
                                        "intermediate_size": 65_536, "max_position_embeddings": 65_536,
                                        "type_vocab_size": 1_024, "vocab_size": 1_000_000]
    /// The most parameters a model may have: 2^31 floats (8 GiB), about 70 times bert-large.
    public static let maxParameters = 1 << 31

    /// The number of floats the parameters take (computed from the bounded sizes: no overflow).
    public var parameterCount: Int {
        let C = hiddenSize, I = intermediateSize
        return (vocabSize + maxPositions + typeVocabSize + 2) * C + numLayers * (4 * C * C + 2 * C * I + I + 9 * C) + C * C + C
    }

    public init(hiddenSize: Int, numLayers: Int, numHeads: Int, intermediateSize: Int, maxPositions: Int = 512,
                typeVocabSize: Int = 2, vocabSize: Int, layerNormEps: Float = 1e-12, hiddenAct: String = "gelu",
                name: String = "bert") {
        self.hiddenSize = hiddenSize; self.numLayers = numLayers; self.numHeads = numHeads
        self.intermediateSize = intermediateSize; self.maxPositions = maxPositions
        self.typeVocabSize = typeVocabSize; self.vocabSize = vocabSize
        self.layerNormEps = layerNormEps; self.hiddenAct = hiddenAct; self.name = name
    }

    /// Reads and validates `config.json`; every problem names the file and the field.
    public init(contentsOf url: URL) throws {
        let path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.fileUnreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw ModelError.invalidConfig(path: path, reason: "not a JSON object")
        }
        func int(_ key: String, default d: Int? = nil) throws -> Int {
            let most = Self.limits[key] ?? 1 << 20
            if let v = json[key] as? NSNumber {
                let x = v.doubleValue
                guard x == x.rounded(), x >= 1, x <= Double(most) else {
                    throw ModelError.invalidConfig(path: path, reason: "'\(key)' is \(v); expected an integer 1…\(most)")
                }
                return Int(x)
            }
            if json[key] == nil, let d { return d }
            throw ModelError.invalidConfig(path: path, reason: json[key] == nil ? "missing '\(key)' (expected a positive integer)" : "'\(key)' must be a positive integer")
        }
        let act = (json["hidden_act"] as? String) ?? "gelu"
        guard act == "gelu" || act == "gelu_python" else {
            throw ModelError.invalidConfig(path: path, reason: "'hidden_act' is '\(act)'; only the exact erf 'gelu' is supported")
        }
        if let pe = json["position_embedding_type"] as? String, pe != "absolute" {
            throw ModelError.invalidConfig(path: path, reason: "'position_embedding_type' is '\(pe)'; only 'absolute' is supported")
        }
        self.init(
            hiddenSize: try int("hidden_size"), numLayers: try int("num_hidden_layers"),
            numHeads: try int("num_attention_heads"), intermediateSize: try int("intermediate_size"),
            maxPositions: try int("max_position_embeddings", default: 512),
            typeVocabSize: try int("type_vocab_size", default: 2), vocabSize: try int("vocab_size"),
            layerNormEps: (json["layer_norm_eps"] as? NSNumber)?.floatValue ?? 1e-12, hiddenAct: act,
            name: (json["_name_or_path"] as? String) ?? url.deletingLastPathComponent().lastPathComponent)
        hiddenDropout = (json["hidden_dropout_prob"] as? NSNumber)?.floatValue ?? 0.1
        attentionDropout = (json["attention_probs_dropout_prob"] as? NSNumber)?.floatValue ?? 0.1
        if let map = json["id2label"] as? [String: Any], map.count <= TaskSpec.maxClasses {
            let pairs = map.compactMap { k, v in Int(k).map { ($0, v as? String ?? "\(v)") } }
            if pairs.count == map.count, Set(pairs.map(\.0)) == Set(0..<map.count) { labels = pairs.sorted { $0.0 < $1.0 }.map(\.1) }
        }
        guard hiddenSize % numHeads == 0 else {
            throw ModelError.invalidConfig(path: path, reason: "'hidden_size' \(hiddenSize) is not a multiple of 'num_attention_heads' \(numHeads)")
        }
        let floats = parameterCount
        guard floats <= Self.maxParameters else {
            throw ModelError.invalidConfig(path: path, reason: "it describes \(floats) parameters (\(floats * 4 >> 20) MB), more than lorabook loads (\(Self.maxParameters >> 20) M parameters)")
        }
    }
}
