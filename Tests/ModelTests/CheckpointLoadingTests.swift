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

    /// The tokenizer follows the checkpoint: a cased vocabulary with do_lower_case false keeps the
    /// case and the accents, and gives HF's ids (Fixtures/tokenizers/README.md, recorded with
    /// transformers 5.25); the same vocabulary read from tokenizer.json alone (as transformers 5
    /// saves it) gives the same; do_lower_case true gives HF's uncased ids.
    func testTokenizersFollowTheCheckpoint() throws {
        let texts = ["Hello World!", "hello world", "Café Über the Worlds", "CAFÉ, The world"]
        let cased: [[Int32]] = [[2, 5, 7, 12, 3], [2, 6, 8, 3], [2, 9, 17, 14, 7, 13, 3], [2, 1, 16, 15, 8, 3]]
        let uncased: [[Int32]] = [[2, 6, 8, 12, 3], [2, 6, 8, 3], [2, 10, 18, 14, 8, 13, 3], [2, 10, 16, 14, 8, 3]]
        let saved = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tokenizers/cased-transformers5", withExtension: nil))
        let fromJSON = try BertTokenizer.load(folder: saved)
        XCTAssertFalse(fromJSON.lowercase)
        XCTAssertEqual(try texts.map { try fromJSON.encode($0).ids }, cased)

        let tokens = fromJSON.vocabulary.tokens
        for (lower, expected) in [(false, cased), (true, uncased)] {
            let dir = Fixtures.temporaryDirectory()
            try (tokens.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
            try JSONSerialization.data(withJSONObject: ["do_lower_case": lower]).write(to: dir.appendingPathComponent("tokenizer_config.json"))
            let t = try BertTokenizer.load(folder: dir)
            XCTAssertEqual(try texts.map { try t.encode($0).ids }, expected, "do_lower_case \(lower)")
        }
        // no tokenizer_config.json: uncased, as BERT's default
        let bare = Fixtures.temporaryDirectory()
        try (tokens.joined(separator: "\n") + "\n").write(to: bare.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try texts.map { try BertTokenizer.load(folder: bare).encode($0).ids }, uncased)
        // neither vocab.txt nor tokenizer.json: named
        XCTAssertThrowsError(try BertTokenizer.load(folder: Fixtures.temporaryDirectory())) {
            XCTAssertTrue("\($0)".contains("vocab.txt") && "\($0)".contains("tokenizer.json"), "\($0)")
        }
    }

    /// Checkpoints as they come: a fine-tuned classifier is kept (with its labels), an MLM
    /// checkpoint without a pooler loads (a pooled head then says why it cannot), a .bin-only
    /// folder gets the conversion recipe.
    func testFineTunedAndMaskedLMCheckpointsLoad() throws {
        let dir = Fixtures.temporaryDirectory()
        let w = Tensor(zeros: [3, 8]), b = Tensor(zeros: [3])
        for i in 0..<w.count { w.data[i] = Float(i) / 10 }
        try Fixtures.writeTinyCheckpoint(to: dir, rename: { "bert." + $0 }, extra: [("classifier.weight", w), ("classifier.bias", b)])
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        config["id2label"] = ["0": "negative", "1": "neutral", "2": "positive"]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        let model = try BertModel.load(folder: dir)
        let classifier = try XCTUnwrap(model.classifier)
        XCTAssertEqual(classifier.weight.toArray(), w.toArray())
        XCTAssertEqual(classifier.labels, ["negative", "neutral", "positive"])
        XCTAssertTrue(model.hasPooler)

        let mlm = Fixtures.temporaryDirectory()
        try Fixtures.writeTinyCheckpoint(to: mlm, rename: { $0.hasPrefix("pooler.") ? nil : "bert." + $0 },
                                         extra: [("cls.predictions.bias", Tensor(zeros: [20])), ("cls.predictions.transform.dense.weight", Tensor(zeros: [8, 8]))])
        let masked = try BertModel.load(folder: mlm)
        XCTAssertFalse(masked.hasPooler)
        XCTAssertNil(masked.classifier)
        let request = { var r = TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .head), seed: 0); r.head = .pooled; return r }()
        XCTAssertThrowsError(try TrainingPipeline.run(request, model: masked, data: DataFolder(folder: dir, tokenizer: masked.tokenizer))) {
            XCTAssertTrue("\($0)".contains("no pooler weights"), "\($0)")
        }

        let bin = Fixtures.temporaryDirectory()
        try Fixtures.writeTinyCheckpoint(to: bin, weights: false)
        try Data([0]).write(to: bin.appendingPathComponent("pytorch_model.bin"))
        XCTAssertThrowsError(try BertModel.load(folder: bin)) {
            XCTAssertTrue("\($0)".contains("pytorch_model.bin") && "\($0)".contains("safe_serialization=True"), "\($0)")
        }
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
