// Saving and loading what a run trained: adapters (A, B, m) or, for full fine-tuning, the encoder's
// weights, plus the task heads, as safetensors with the configuration as metadata. Written
// atomically (temporary file, then rename): a killed run never leaves a corrupt file behind.
import Foundation

public enum AdapterFile {
    public static let formatVersion = "1"

    public static func save(_ network: Network, to url: URL) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for t in network.trainables { tensors.append((t.name, t.parameter)) }
        let c = network.model.config
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let heads = network.heads.map { h -> [String: String] in
            var d = ["name": h.name, "kind": h.kind.rawValue, "classes": String(h.outputs)]
            if h.pooled { d["input"] = "pooled" }
            return d
        }
        let metadata: [String: String] = [
            "format": "lorabook-adapter", "format_version": formatVersion, "lorabook_version": LorabookVersion.current,
            "adaptation": String(decoding: try encoder.encode(network.adaptation), as: UTF8.self),
            "heads": String(decoding: try JSONSerialization.data(withJSONObject: heads, options: [.sortedKeys]), as: UTF8.self),
            "model_name": c.name,
            "base_weights_sha256": network.model.weightsDigest ?? "",
            "model_shape": "hidden=\(c.hiddenSize) layers=\(c.numLayers) heads=\(c.numHeads) intermediate=\(c.intermediateSize) vocab=\(c.vocabSize)",
        ]
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: url)
    }

    /// What a user names as an adapter: a lorabook file, or a PEFT adapter folder (PeftFolder; its
    /// classifier becomes a pooled head named `peftHead`).
    public static func open(_ url: URL, model: BertModel, peftHead: String = "classifier", force: Bool = false) throws -> Network {
        var directory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &directory) else {
            throw ModelError.fileUnreadable(path: url.path, reason: "no such file or folder")
        }
        return directory.boolValue ? try PeftFolder.load(url, model: model, head: peftHead, force: force) : try load(url, model: model, force: force)
    }

    /// The SHA-256 of what a user names as an adapter (a lorabook file, or a PEFT folder's
    /// configuration and weights): a run that starts from it carries it in its request.
    public static func digest(_ url: URL) -> String? {
        guard PeftFolder.isAdapterFolder(url) else { return SHA256.file(url.path) }
        guard let config = SHA256.file(url.appendingPathComponent(PeftFolder.configName).path),
              let weights = SHA256.file(url.appendingPathComponent(PeftFolder.weightsName).path) else { return nil }
        return SHA256.hex(Data((config + weights).utf8))
    }

    /// Refuses an adapter trained on other base weights than `model`'s (by the weights file's
    /// SHA-256), unless forced: an adapter on the wrong base computes without error and means nothing.
    static func checkBase(_ recorded: String?, model: BertModel, path: String, force: Bool) throws {
        guard !force, let recorded, !recorded.isEmpty, let ours = model.weightsDigest, ours != recorded else { return }
        throw ModelError.invalidArgument(name: "adapter \(path)", reason: "it was trained on other base weights (sha256 \(recorded.prefix(12))…) than this model's \(model.folder.path) (sha256 \(ours.prefix(12))…); load the model it was trained on, or force it (load … force=true, --force)")
    }

    /// Rebuilds the saved configuration on `model` and loads its tensors. Fails, naming the file,
    /// when it is not a lorabook adapter file or was trained for a model of another shape.
    public static func load(_ url: URL, model: BertModel, force: Bool = false) throws -> Network {
        let file = try SafeTensorsFile(contentsOf: url)
        if file.metadata["format"] == "pt", file.names.contains(where: { $0.hasPrefix("base_model.model.") }) {
            throw ModelError.invalidSafetensors(path: url.path, reason: "this is PEFT's adapter_model.safetensors: load its folder (with adapter_config.json) instead")
        }
        guard file.metadata["format"] == "lorabook-adapter", let adaptationJSON = file.metadata["adaptation"],
              let headsJSON = file.metadata["heads"] else {
            throw ModelError.invalidSafetensors(path: url.path, reason: "no lorabook adapter metadata (expected a file written by lorabook's save)")
        }
        let c = model.config
        let shape = "hidden=\(c.hiddenSize) layers=\(c.numLayers) heads=\(c.numHeads) intermediate=\(c.intermediateSize) vocab=\(c.vocabSize)"
        if let saved = file.metadata["model_shape"], saved != shape {
            throw ModelError.invalidArgument(name: "adapter file \(url.path)", reason: "it was trained for a model with \(saved), this model has \(shape)")
        }
        try checkBase(file.metadata["base_weights_sha256"], model: model, path: url.path, force: force)
        let adaptation: AdaptationConfig
        do { adaptation = try JSONDecoder().decode(AdaptationConfig.self, from: Data(adaptationJSON.utf8)) } catch {
            throw ModelError.invalidSafetensors(path: url.path, reason: "its adaptation metadata cannot be read")
        }
        let network = try Network(model: model, adaptation: adaptation)
        let heads = (try? JSONSerialization.jsonObject(with: Data(headsJSON.utf8))) as? [[String: String]] ?? []
        for h in heads {
            guard let name = h["name"], let kind = h["kind"].flatMap(HeadKind.init), let classes = h["classes"].flatMap(Int.init) else {
                throw ModelError.invalidSafetensors(path: url.path, reason: "its heads metadata cannot be read")
            }
            guard (1...TaskSpec.maxClasses).contains(classes) else {
                throw ModelError.invalidSafetensors(path: url.path, reason: "its head '\(name)' has \(classes) classes (expected 1…\(TaskSpec.maxClasses))")
            }
            network.addHead(name, kind: kind, classes: classes, pooled: h["input"] == "pooled")
        }
        let expected = network.trainables
        for t in expected {
            guard let e = file.entries[t.name] else {
                throw ModelError.missingTensor(path: url.path, key: t.name, expectedShape: t.parameter.shape)
            }
            guard e.shape == t.parameter.shape else {
                throw ModelError.shapeMismatch(path: url.path, key: t.name, expected: t.parameter.shape, actual: e.shape)
            }
            try file.read(t.name, into: t.parameter.data)
        }
        if let extra = file.names.first(where: { n in !expected.contains { $0.name == n } }) {
            throw ModelError.unusedTensor(path: url.path, key: extra)
        }
        return network
    }
}
