// PEFT adapter folders in and out: the two adapters PEFT 0.21.2 saved on the shared MiniLM weights
// (Fixtures/golden/peft, copied from ../shared/golden/peft) give PEFT's logits; an exported folder
// has the golden layout key for key and loads back exactly; what lorabook cannot represent is
// refused naming the configuration key.
import XCTest
@testable import Model

final class PeftFolderTests: XCTestCase {
    func golden(_ name: String) throws -> (folder: URL, texts: [String], logits: [[Double]]) {
        let base = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/golden/peft", withExtension: nil))
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: base.appendingPathComponent(name + ".expected.json"))) as! [String: Any]
        return (base.appendingPathComponent(name), expected["texts"] as! [String], expected["logits"] as! [[Double]])
    }

    func logits(_ network: Network, _ texts: [String]) throws -> [[Double]] {
        let head = try XCTUnwrap(network.heads.first)
        let out = network.predict(try network.model.batch(texts.map { ($0, nil) }), head: head)
        return (0..<texts.count).map { i in (0..<head.outputs).map { Double(out[i * head.outputs + $0]) } }
    }

    func testTheSharedPEFTAdaptersGivePEFTsLogits() throws {
        let model = try Fixtures.model.get()
        for (name, mode, targets) in [("lora-r4-qv", AdaptationMode.lora, [AdapterTarget.query, .value]),
                                      ("dora-r2-all", .dora, AdapterTarget.encoder + [.pooler])] {
            let g = try golden(name)
            let network = try PeftFolder.load(g.folder, model: model, head: "sst")
            XCTAssertEqual(network.adaptation.mode, mode, name)
            XCTAssertEqual(network.adaptation.targets, targets, name)
            XCTAssertEqual(network.heads.map(\.name), ["sst"])
            XCTAssertTrue(network.heads[0].pooled, "PEFT's classifier reads the pooled output")
            let got = try logits(network, g.texts)
            for (row, (a, b)) in zip(got, g.logits).enumerated() {
                XCTAssertClose(a, b, tolerance: 1e-4, "\(name) text \(row)")
            }
            // the raw-[CLS] reading differs: the check above could fail
            let raw = network.addHead("raw", kind: .classification, classes: 5)
            raw.weight.copy(from: network.heads[0].weight); raw.bias.copy(from: network.heads[0].bias)
            let rawLogits = network.predict(try model.batch([(g.texts[0], nil)]), head: raw)
            XCTAssertGreaterThan(zip(rawLogits, g.logits[0]).map { abs(Double($0) - $1) }.max()!, 1e-3)
        }
    }

    /// An AdaLoRA folder PEFT trained (budget cut from 4 to 2 triplets per module, so only the kept
    /// ones are saved, with a rank_pattern) gives PEFT's logits; exported again it has PEFT's layout.
    func testPEFTsAdaLoRAFolderGivesPEFTsLogitsAndRoundTrips() throws {
        let model = try Fixtures.model.get()
        let g = try golden("adalora-r4-t2-all-linear")
        let network = try PeftFolder.load(g.folder, model: model, head: "sst")
        XCTAssertEqual(network.adaptation.mode, .adalora)
        XCTAssertEqual(network.adaptation.rank, 4)
        XCTAssertEqual(network.adaptation.adaLoRA?.targetRank, 2)
        XCTAssertEqual(network.adaptation.targets, AdapterTarget.encoder)
        XCTAssertEqual(network.adapters?.all.reduce(0) { $0 + $1.activeRank }, 72, "PEFT kept 2 × 36 triplets")
        for (row, (a, b)) in zip(try logits(network, g.texts), g.logits).enumerated() { XCTAssertClose(a, b, tolerance: 1e-4, "text \(row)") }
        let out = Fixtures.temporaryDirectory().appendingPathComponent("adalora-out")
        try PeftFolder.save(network, to: out)
        let file = try SafeTensorsFile(contentsOf: out.appendingPathComponent(PeftFolder.weightsName))
        let theirs = try SafeTensorsFile(contentsOf: g.folder.appendingPathComponent(PeftFolder.weightsName))
        XCTAssertEqual(Set(file.names), Set(theirs.names), "PEFT's keys")
        for name in theirs.names { XCTAssertEqual(file.entries[name]?.shape, theirs.entries[name]?.shape, name) }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent(PeftFolder.configName))) as! [String: Any]
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: g.folder.appendingPathComponent(PeftFolder.configName))) as! [String: Any]
        XCTAssertEqual(config["peft_type"] as? String, "ADALORA")
        XCTAssertEqual(config["rank_pattern"] as? [String: [Bool]], original["rank_pattern"] as? [String: [Bool]])
        let again = try PeftFolder.load(out, model: model, head: "sst")
        XCTAssertEqual(try logits(again, g.texts), try logits(network, g.texts))
    }

    func testExportHasPEFTsLayoutAndLoadsBackExactly() throws {
        let model = try Fixtures.model.get()
        for name in ["lora-r4-qv", "dora-r2-all"] {
            let g = try golden(name)
            let network = try PeftFolder.load(g.folder, model: model)
            let out = Fixtures.temporaryDirectory().appendingPathComponent("exported")
            try PeftFolder.save(network, to: out)
            let mine = try SafeTensorsFile(contentsOf: out.appendingPathComponent(PeftFolder.weightsName))
            let theirs = try SafeTensorsFile(contentsOf: g.folder.appendingPathComponent(PeftFolder.weightsName))
            XCTAssertEqual(mine.names.sorted(), theirs.names.sorted(), "\(name): the same keys as PEFT's own folder")
            for key in theirs.names { XCTAssertEqual(mine.entries[key]?.shape, theirs.entries[key]?.shape, key) }
            XCTAssertEqual(mine.metadata, ["format": "pt"])
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent(PeftFolder.configName))) as! [String: Any]
            XCTAssertEqual(config["peft_type"] as? String, "LORA")
            XCTAssertEqual(config["task_type"] as? String, "SEQ_CLS")
            XCTAssertEqual(config["base_model_name_or_path"] as? String, model.folder.path)
            // round trip: the same tensors, bit for bit, and the same logits
            let again = try PeftFolder.load(out, model: model)
            for (a, b) in zip(network.trainables, again.trainables) {
                XCTAssertEqual(a.name, b.name)
                XCTAssertEqual(a.parameter.toArray(), b.parameter.toArray(), "\(name) \(a.name)")
            }
            XCTAssertEqual(try logits(network, g.texts), try logits(again, g.texts))
            XCTAssertEqual(again.adaptation, network.adaptation)
        }
    }

    /// target_modules as PEFT reads it: names (a suffix after a dot), a regular expression over the
    /// whole module name, "all-linear"; layers_to_transform; and what lorabook's form cannot hold.
    func testTargetModulesFollowPEFTsRules() throws {
        let c = try Fixtures.model.get().config
        func parse(_ patch: [String: Any]) throws -> PeftFolder.Config {
            var json: [String: Any] = ["peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["query", "value"]]
            for (k, v) in patch { json[k] = v }
            return try PeftFolder.Config(json, path: "adapter_config.json", model: c)
        }
        XCTAssertEqual(try parse([:]).targets, [.query, .value])
        XCTAssertEqual(try parse(["target_modules": ["dense"]]).targets, [.attentionOutput, .intermediate, .output, .pooler])
        XCTAssertEqual(try parse(["target_modules": ["output.dense"]]).targets, [.attentionOutput, .output])
        XCTAssertEqual(try parse(["target_modules": "all-linear"]).targets, AdapterTarget.encoder + [.pooler])
        XCTAssertEqual(try parse(["target_modules": #".*\.(query|key)"#]).targets, [.query, .key])
        let some = try parse(["layers_to_transform": [1, 3], "target_modules": ["query", "pooler.dense"]])
        XCTAssertEqual(some.layers, [1, 3])
        XCTAssertEqual(some.targets, [.query], "layers_to_transform never keeps the pooler (it has no layer index)")
        XCTAssertEqual(try parse(["layers_to_transform": 2]).layers, [2])
        XCTAssertEqual(try parse(["target_modules": #"bert\.encoder\.layer\.0\.attention\.self\.query"#]).layers, [0])

        // rank_pattern and alpha_pattern, PEFT's way: a key matches a module name that ends with it
        // (after a dot); the longest matching key decides
        let patterned = try parse(["target_modules": ["query", "value"], "rank_pattern": ["query": 8, "layer.2.attention.self.query": 3],
                                   "alpha_pattern": ["value": 2, "layer.0.attention.self.value": 8]])
        XCTAssertEqual(patterned.rankPattern?["encoder.layer.0.query"], 8)
        XCTAssertEqual(patterned.rankPattern?["encoder.layer.2.query"], 3)
        XCTAssertNil(patterned.rankPattern?["encoder.layer.0.value"], "value keeps r")
        XCTAssertEqual(patterned.alphaPattern?["encoder.layer.1.value"], 2)
        XCTAssertNil(patterned.alphaPattern?["encoder.layer.0.value"], "layer 0's value keeps lora_alpha (8)")
        XCTAssertEqual(patterned.rankPattern?.count, 6)

        for (patch, key) in [(["peft_type": "IA3"], "peft_type"), (["rank_pattern": ["query": 0]], "rank_pattern"),
                             (["alpha_pattern": ["value": "x"]], "alpha_pattern"), (["fan_in_fan_out": true], "fan_in_fan_out"),
                             (["bias": "all"], "bias"), (["target_modules": ["classifier"]], "target_modules"),
                             (["target_modules": #"bert\.encoder\.layer\.0\.attention\.self\.query|bert\.encoder\.layer\.1\.attention\.self\.value"#], "target_modules"),
                             (["target_modules": ["nothing"]], "target_modules"), (["layers_to_transform": [9]], "layers_to_transform"),
                             (["r": 0], "r"), (["modules_to_save": ["pooler"]], "modules_to_save"), (["use_dora": "yes"], "use_dora")] as [([String: Any], String)] {
            XCTAssertThrowsError(try parse(patch), "\(patch)") { error in
                XCTAssertTrue("\(error)".contains("adapter_config.json") && "\(error)".contains(key), "\(patch): \(error)")
            }
        }
        XCTAssertNil(try parse(["rank_pattern": ["query": 4]]).rankPattern, "a pattern that repeats r changes nothing")
    }

    /// Per-adapter ranks and alphas survive export and import, and give the same outputs.
    func testRankPatternsRoundTrip() throws {
        let model = try Fixtures.model.get()
        var a = AdaptationConfig(mode: .lora, rank: 4, alpha: 8, targets: [.query, .value])
        a.rankPattern = ["encoder.layer.1.query": 2, "encoder.layer.5.value": 7]
        a.alphaPattern = ["encoder.layer.1.query": 3]
        let network = try Network(model: model, adaptation: a, seed: 5)
        for ad in network.adapters!.all { for i in 0..<ad.B.count { ad.B.data[i] = Float(i % 7) * 0.01 } }
        network.addHead("sst", kind: .classification, classes: 5, pooled: true)
        XCTAssertEqual(network.adapters!.all.first { $0.name == "encoder.layer.1.query" }?.A.shape, [2, 384])
        XCTAssertEqual(network.adapters!.all.first { $0.name == "encoder.layer.1.query" }?.scaling, 1.5)
        let out = Fixtures.temporaryDirectory().appendingPathComponent("patterned")
        try PeftFolder.save(network, to: out)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent(PeftFolder.configName))) as! [String: Any]
        XCTAssertEqual(config["rank_pattern"] as? [String: Int], ["bert.encoder.layer.1.attention.self.query": 2, "bert.encoder.layer.5.attention.self.value": 7])
        let back = try PeftFolder.load(out, model: model, head: "sst")
        XCTAssertEqual(back.adaptation.rankPattern, a.rankPattern)
        XCTAssertEqual(back.adaptation.alphaPattern, a.alphaPattern)
        let file = out.deletingLastPathComponent().appendingPathComponent("patterned.safetensors")
        try AdapterFile.save(network, to: file)
        XCTAssertEqual(try AdapterFile.load(file, model: model).adaptation, a)
        XCTAssertEqual(try logits(back, ["a quiet , lovely film"]), try logits(network, ["a quiet , lovely film"]))
    }

    /// A folder lorabook writes for targets a list cannot express uses a regular expression, which
    /// reads back to the same targets and layers.
    func testExportedTargetsReadBack() throws {
        let c = try Fixtures.model.get().config
        for a in [AdaptationConfig(mode: .lora, rank: 2, targets: [.output]),
                  AdaptationConfig(mode: .lora, rank: 2, targets: [.query, .output, .pooler], layers: [0, 5]),
                  AdaptationConfig(mode: .lora, rank: 2, targets: [.pooler]),
                  AdaptationConfig(mode: .dora, rank: 2, targets: AdapterTarget.encoder + [.pooler]),
                  AdaptationConfig(mode: .lora, rank: 2, targets: [.attentionOutput, .key])] {
            let modules = PeftFolder.targetModules(a, layers: c.numLayers)
            let back = try PeftFolder.Config(["r": 2, "lora_alpha": 4, "target_modules": modules, "use_dora": a.mode == .dora], path: "x", model: c)
            XCTAssertEqual(Set(back.targets), Set(a.targets), "\(a.targets) as \(modules)")
            XCTAssertEqual(back.layers, a.layers, "\(a.targets) as \(modules)")
        }
    }

    /// An adapter records its base weights (a lorabook file: their SHA-256; a PEFT folder written by
    /// lorabook: the model folder): loading it onto other weights of the same shape is refused, and
    /// allowed when forced.
    func testAdaptersRefuseOtherBaseWeights() throws {
        let a = Fixtures.temporaryDirectory(), b = Fixtures.temporaryDirectory()
        try Fixtures.writeTinyCheckpoint(to: a, seed: 1)
        try Fixtures.writeTinyCheckpoint(to: b, seed: 2)
        let modelA = try BertModel.load(folder: a), modelB = try BertModel.load(folder: b)
        let network = try Network(model: modelA, adaptation: AdaptationConfig(mode: .lora, rank: 2, targets: [.query, .pooler]))
        network.addHead("sst", kind: .classification, classes: 3, pooled: true)
        let out = Fixtures.temporaryDirectory()
        let file = out.appendingPathComponent("run.safetensors"), folder = out.appendingPathComponent("peft")
        try AdapterFile.save(network, to: file)
        try PeftFolder.save(network, to: folder)
        for url in [file, folder] {
            XCTAssertNoThrow(try AdapterFile.open(url, model: modelA, peftHead: "sst"))
            XCTAssertThrowsError(try AdapterFile.open(url, model: modelB, peftHead: "sst")) {
                XCTAssertTrue("\($0)".contains("other base weights") && "\($0)".contains(url.path), "\($0)")
            }
            XCTAssertNoThrow(try AdapterFile.open(url, model: modelB, peftHead: "sst", force: true))
        }
    }

    func testBadFoldersAreNamed() throws {
        let model = try Fixtures.model.get()
        let dir = Fixtures.temporaryDirectory()
        XCTAssertThrowsError(try PeftFolder.load(dir, model: model)) { XCTAssertTrue("\($0)".contains("adapter_config.json"), "\($0)") }
        try #"{"peft_type": "LORA", "r": 4, "target_modules": ["query"]}"#.write(to: dir.appendingPathComponent("adapter_config.json"), atomically: true, encoding: .utf8)
        try Data().write(to: dir.appendingPathComponent("adapter_model.bin"))
        XCTAssertThrowsError(try PeftFolder.load(dir, model: model)) { XCTAssertTrue("\($0)".contains("safe_serialization=True"), "\($0)") }
        // an adapter for another shape: the tensor and both shapes are named
        let g = try golden("lora-r4-qv")
        try FileManager.default.copyItem(at: g.folder.appendingPathComponent(PeftFolder.weightsName), to: dir.appendingPathComponent(PeftFolder.weightsName))
        try #"{"peft_type": "LORA", "r": 2, "target_modules": ["query", "value"]}"#.write(to: dir.appendingPathComponent("adapter_config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PeftFolder.load(dir, model: model)) { XCTAssertTrue("\($0)".contains("lora_A.weight") && "\($0)".contains("[2, 384]"), "\($0)") }
        try #"{"peft_type": "LORA", "r": 4, "target_modules": ["query"]}"#.write(to: dir.appendingPathComponent("adapter_config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PeftFolder.load(dir, model: model)) { XCTAssertTrue("\($0)".contains("value.lora_A.weight"), "an unused tensor: \($0)") }
    }
}
