// Shared helpers: the default pretrained model (loaded once), golden files, tiny checkpoints.
import Foundation
import Project
import XCTest
@testable import Model

enum Fixtures {
    /// The pretrained MiniLM-L6 from scripts/setup.sh. Tests that need it fail (never skip) without it.
    static let model: Result<BertModel, Error> = Result {
        let folder = Locations.modelFolder().url
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path) else {
            throw ModelError.modelFolderNotFound(path: folder.path + " (run scripts/setup.sh first)")
        }
        return try BertModel.load(folder: folder)
    }

    static func golden(_ name: String) throws -> [String: Any] {
        let url = Bundle.module.url(forResource: "Fixtures/golden/\(name)", withExtension: "json")!
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// A safetensors file from a raw header string and data bytes (for malformed-file tests).
    static func rawSafetensors(_ header: String, data: [UInt8], in dir: URL, name: String) throws -> URL {
        var bytes: [UInt8] = []
        let h = Array(header.utf8)
        var n = UInt64(h.count).littleEndian
        withUnsafeBytes(of: &n) { bytes += $0 }
        bytes += h + data
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// A loaded tiny BERT (writeTinyCheckpoint's) with weights drawn from `seed`.
    static func tinyModel(seed: UInt64) -> BertModel {
        let dir = temporaryDirectory()
        try! writeTinyCheckpoint(to: dir, seed: seed)
        return try! BertModel.load(folder: dir)
    }

    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A tiny BERT (hidden 8, 2 heads, 2 layers) with random weights and a 20-token vocabulary,
    /// written as a checkpoint folder. `rename` maps our key names to the checkpoint's; `extra`
    /// tensors are added; `reshape` replaces one tensor's shape.
    static let tinyConfig = BertConfig(hiddenSize: 8, numLayers: 2, numHeads: 2, intermediateSize: 16,
                                       maxPositions: 16, typeVocabSize: 2, vocabSize: 20, name: "tiny")
    static let tinyVocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat",
                            "a", "dog", ".", ",", "##s", "run", "##ning", "is", "big", "small"]

    @discardableResult
    static func writeTinyCheckpoint(
        to folder: URL, rename: (String) -> String? = { $0 }, extra: [(String, Tensor)] = [],
        reshape: (String, [Int])? = nil, config: Bool = true, vocab: Bool = true, weights: Bool = true, seed: UInt64 = 1
    ) throws -> BertParameters {
        let c = tinyConfig
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if config {
            let json: [String: Any] = [
                "hidden_size": c.hiddenSize, "num_hidden_layers": c.numLayers, "num_attention_heads": c.numHeads,
                "intermediate_size": c.intermediateSize, "max_position_embeddings": c.maxPositions,
                "type_vocab_size": c.typeVocabSize, "vocab_size": c.vocabSize, "layer_norm_eps": 1e-12,
                "hidden_act": "gelu", "_name_or_path": "tiny",
            ]
            try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("config.json"))
        }
        if vocab {
            try (tinyVocab.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        }
        let params = BertParameters(config: c)
        var rng = SplitMix64(seed: seed)
        for i in 0..<params.count { params.storage.base[i] = Float(rng.nextUniform() * 0.4 - 0.2) }
        for (name, t) in params.named where name.hasSuffix("LayerNorm.weight") { t.fill(1) }
        if weights {
            var tensors: [(name: String, tensor: Tensor)] = []
            for (name, t) in params.named {
                guard let key = rename(name) else { continue }
                if let (r, shape) = reshape, r == name { tensors.append((key, Tensor(zeros: shape))) } else { tensors.append((key, t)) }
            }
            tensors += extra.map { (name: $0.0, tensor: $0.1) }
            try SafeTensorsWriter.write(tensors, to: folder.appendingPathComponent("model.safetensors"))
        }
        return params
    }
}

func XCTAssertClose(_ a: [Double], _ b: [Double], tolerance: Double, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(message): length", file: file, line: line)
    var worst = 0.0, at = -1
    for i in 0..<min(a.count, b.count) where abs(a[i] - b[i]) > worst { worst = abs(a[i] - b[i]); at = i }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(message): worst |diff| \(worst) at index \(at) (\(at >= 0 ? a[at] : 0) vs \(at >= 0 ? b[at] : 0))", file: file, line: line)
}

extension XCTestCase {
    /// A safetensors file from a raw header string and data bytes (for malformed-file tests).
    func rawFile(_ header: String, data: [UInt8], in dir: URL, name: String = "t.safetensors") throws -> URL {
        try Fixtures.rawSafetensors(header, data: data, in: dir, name: name)
    }
}
