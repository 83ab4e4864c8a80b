// Loading checkpoint folders: both key layouts, and every bad folder or tensor as a one-line error
// naming what and where.
import XCTest
@testable import Model

final class CheckpointLoadingTests: XCTestCase {
    func testUnprefixedLayoutLoadsExactly() throws {
        let dir = Fixtures.temporaryDirectory()
        let written = try Fixtures.writeTinyCheckpoint(to: dir)
        let model = try BertModel.load(folder: dir)
        XCTAssertEqual(model.config, BertConfig(contentsOrFail: dir))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: model.parameters.storage.base, count: model.parameters.count)),
                       Array(UnsafeBufferPointer(start: written.storage.base, count: written.count)))
    }

    /// bert-base-uncased style: "bert." prefix, TF-era gamma/beta names, pretraining heads and the
    /// position_ids buffer present; the same weights load and give the same outputs.
    func testBertPrefixedLayoutWithPretrainingHeadsLoads() throws {
        let plain = Fixtures.temporaryDirectory(), prefixed = Fixtures.temporaryDirectory()
        try Fixtures.writeTinyCheckpoint(to: plain)
        try Fixtures.writeTinyCheckpoint(
            to: prefixed,
            rename: { name in
                var k = "bert." + name
                if k.hasSuffix("LayerNorm.weight") { k = String(k.dropLast(6)) + "gamma" }
                if k.hasSuffix("LayerNorm.bias") { k = String(k.dropLast(4)) + "beta" }
                return k
            },
            extra: [("cls.predictions.bias", Tensor(zeros: [20])), ("cls.seq_relationship.weight", Tensor(zeros: [2, 8])),
                    ("bert.embeddings.position_ids", Tensor(zeros: [1, 16]))])
        let a = try BertModel.load(folder: plain), b = try BertModel.load(folder: prefixed)
        let batch = try a.batch([("the cat sat on a mat", nil), ("a dog is running", "the cat is small")])
        let oa = a.forward(batch), ob = b.forward(batch)
        XCTAssertEqual(oa.hidden(1), ob.hidden(1))
        XCTAssertEqual(oa.pooled(0), ob.pooled(0))
    }

    func testBadFoldersAndTensorsGiveNamedErrors() throws {
        let missing = "/nonexistent/lorabook-model"
        XCTAssertThrowsError(try BertModel.load(folder: URL(fileURLWithPath: missing))) {
            XCTAssertTrue("\($0)".hasPrefix("model folder '\(missing)' does not exist"), "\($0)")
        }
        for (file, flags) in [("config.json", (false, true, true)), ("vocab.txt", (true, false, true)), ("model.safetensors", (true, true, false))] {
            let dir = Fixtures.temporaryDirectory()
            try Fixtures.writeTinyCheckpoint(to: dir, config: flags.0, vocab: flags.1, weights: flags.2)
            XCTAssertThrowsError(try BertModel.load(folder: dir)) {
                XCTAssertTrue("\($0)".hasPrefix("\(dir.path): no \(file) in the model folder"), "\($0)")
            }
        }
        let table: [(String, (URL) throws -> Void, String)] = [
            ("wrong shape", { try Fixtures.writeTinyCheckpoint(to: $0, reshape: ("encoder.layer.1.attention.self.key.weight", [8, 4])) },
             "tensor 'encoder.layer.1.attention.self.key.weight' has shape [8, 4], expected [8, 8] from config.json"),
            ("missing key", { try Fixtures.writeTinyCheckpoint(to: $0, rename: { $0 == "pooler.dense.bias" ? nil : $0 }) },
             "missing tensor 'pooler.dense.bias' (expected shape [8])"),
            ("unused key", { try Fixtures.writeTinyCheckpoint(to: $0, extra: [("encoder.layer.7.output.dense.weight", Tensor(zeros: [2]))]) },
             "unexpected tensor 'encoder.layer.7.output.dense.weight' is not part of a BERT encoder"),
        ]
        for (label, make, expect) in table {
            let dir = Fixtures.temporaryDirectory()
            try make(dir)
            XCTAssertThrowsError(try BertModel.load(folder: dir), label) { error in
                XCTAssertEqual("\(error)".components(separatedBy: ": ").first, dir.appendingPathComponent("model.safetensors").path, label)
                XCTAssertTrue("\(error)".contains(expect), "\(label): \(error)")
            }
        }
    }

    func testInvalidConfigsNameTheField() throws {
        let dir = Fixtures.temporaryDirectory()
        let url = dir.appendingPathComponent("config.json")
        let table: [(String, String)] = [
            (#"{"hidden_size": 384}"#, "missing 'num_hidden_layers' (expected a positive integer)"),
            (#"{"hidden_size": 384, "num_hidden_layers": 2, "num_attention_heads": 5, "intermediate_size": 8, "vocab_size": 9}"#, "'hidden_size' 384 is not a multiple of 'num_attention_heads' 5"),
            (#"{"hidden_size": "big"}"#, "'hidden_size' must be a positive integer"),
            (#"{"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8, "vocab_size": 9, "hidden_act": "relu"}"#, "'hidden_act' is 'relu'"),
            ("not json", "not a JSON object"),
        ]
        for (json, expect) in table {
            try json.write(to: url, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try BertConfig(contentsOf: url)) { error in
                XCTAssertEqual("\(error)", "\(url.path): invalid BERT config: \(expect)" + ("\(error)".hasSuffix("only the exact erf 'gelu' is supported") ? "; only the exact erf 'gelu' is supported" : ""))
            }
        }
    }

    func testKeyMappingIsOnePlace() {
        let p = BertParameters(config: Fixtures.tinyConfig)
        XCTAssertEqual(p.map(checkpointKey: "bert.encoder.layer.0.output.LayerNorm.gamma"), .parameter("encoder.layer.0.output.LayerNorm.weight"))
        XCTAssertEqual(p.map(checkpointKey: "embeddings.word_embeddings.weight"), .parameter("embeddings.word_embeddings.weight"))
        XCTAssertEqual(p.map(checkpointKey: "cls.predictions.transform.dense.weight"), .ignored(reason: "pretraining head"))
        XCTAssertEqual(p.map(checkpointKey: "encoder.layer.2.output.dense.weight"), .unknown, "the tiny model has 2 layers")
    }

    /// Query, key and value are adjacent in the buffer, so one [3C, C] view multiplies all three.
    func testQKVViewsAreTheSeparateWeights() throws {
        let p = BertParameters(config: Fixtures.tinyConfig)
        for i in 0..<p.count { p.storage.base[i] = Float(i) }
        let l = p.layers[1]
        let C = 8
        XCTAssertEqual(l.qkvWeight.data[0], p["encoder.layer.1.attention.self.query.weight"]!.data[0])
        XCTAssertEqual(l.qkvWeight.data[C * C], p["encoder.layer.1.attention.self.key.weight"]!.data[0])
        XCTAssertEqual(l.qkvWeight.data[2 * C * C], p["encoder.layer.1.attention.self.value.weight"]!.data[0])
        XCTAssertEqual(l.qkvBias.data[2 * C], p["encoder.layer.1.attention.self.value.bias"]!.data[0])
    }
}

extension BertConfig {
    init(contentsOrFail dir: URL) { self = try! BertConfig(contentsOf: dir.appendingPathComponent("config.json")) }
}
