// Adapters: B = 0 changes nothing; merged equals unmerged; save → load gives identical outputs;
// configuration and file errors name what was expected.
import XCTest
@testable import Model

final class AdapterTests: XCTestCase {
    var tiny: BertModel { GradientCheckTests.tiny }

    func batch(_ m: BertModel) throws -> TokenBatch {
        try m.batch([("the cat sat on a mat", nil), ("a dog is running", "the cat is small"), ("big", nil)])
    }

    func randomize(_ net: Network, seed: UInt64 = 9) {
        var rng = SplitMix64(seed: seed)
        for a in net.adapters?.all ?? [] {
            for i in 0..<a.B.count { a.B.data[i] = Float(rng.nextUniform() - 0.5) }
            if let m = a.magnitude { for i in 0..<m.count { m.data[i] *= Float(0.7 + 0.6 * rng.nextUniform()) } }
        }
    }

    func testLoRAWithZeroBLeavesOutputsUnchanged() throws {
        for mode in [AdaptationMode.lora, .dora] {
            let base = try Network(model: tiny, adaptation: AdaptationConfig(mode: .head), seed: 1)
            let adapted = try Network(model: tiny, adaptation: AdaptationConfig(mode: mode, rank: 4, targets: AdapterTarget.encoder), seed: 1)
            let h1 = base.addHead("t", kind: .classification, classes: 3)
            let h2 = adapted.addHead("t", kind: .classification, classes: 3)
            h2.weight.copy(from: h1.weight); h2.bias.copy(from: h1.bias)
            XCTAssertTrue(adapted.adapters!.all.allSatisfy { a in a.B.toArray().allSatisfy { $0 == 0 } }, "PEFT initialises B to zero")
            let b = try batch(tiny)
            XCTAssertClose(adapted.predict(b, head: h2).map(Double.init), base.predict(b, head: h1).map(Double.init), tolerance: 1e-6, "\(mode) with B = 0")
        }
    }

    func testMergedEqualsUnmergedAndUnmergeRestoresTheBase() throws {
        for mode in [AdaptationMode.lora, .dora] {
            let model = tiny.cloned()
            let original = model.parameters.storage.base.withMemoryRebound(to: Float.self, capacity: model.parameters.count) {
                Array(UnsafeBufferPointer(start: $0, count: model.parameters.count))
            }
            let net = try Network(model: model, adaptation: AdaptationConfig(mode: mode, rank: 3, targets: AdapterTarget.encoder), seed: 2)
            randomize(net)
            let head = net.addHead("t", kind: .classification, classes: 3)
            let b = try batch(model)
            let unmerged = net.predict(b, head: head)
            net.merge()
            XCTAssertTrue(net.adapters!.isMerged)
            let merged = net.predict(b, head: head)
            XCTAssertClose(merged.map(Double.init), unmerged.map(Double.init), tolerance: 1e-5, "\(mode): merged vs unmerged")
            net.unmerge()
            XCTAssertEqual(Array(UnsafeBufferPointer(start: model.parameters.storage.base, count: model.parameters.count)), original, "\(mode): unmerge restores W0 exactly")
            XCTAssertClose(net.predict(b, head: head).map(Double.init), unmerged.map(Double.init), tolerance: 1e-6, "\(mode): after unmerge")
        }
    }

    /// amp keeps bf16 copies of frozen base weights between steps; merging changes the base, so the
    /// copies must be remade (stale copies would drop the adapters' contribution once merged).
    func testMergedEqualsUnmergedUnderAmp() throws {
        let model = tiny.cloned()
        var config = AdaptationConfig(mode: .lora, rank: 3, targets: AdapterTarget.encoder)
        config.amp = true
        let net = try Network(model: model, adaptation: config, seed: 2)
        randomize(net)
        let head = net.addHead("t", kind: .classification, classes: 3)
        let b = try batch(model)
        let unmerged = net.predict(b, head: head).map(Double.init)
        net.adapters!.setMerged(true)   // adapters off, base unchanged: what stale copies would give
        let adaptersOff = net.predict(b, head: head).map(Double.init)
        net.adapters!.setMerged(false)
        XCTAssertGreaterThan(zip(unmerged, adaptersOff).map { abs($0 - $1) }.max()!, 1e-2, "the adapters matter")
        net.merge()
        let merged = net.predict(b, head: head).map(Double.init)
        XCTAssertClose(merged, unmerged, tolerance: 2e-2, "amp: merged vs unmerged")
        net.unmerge()
        XCTAssertClose(net.predict(b, head: head).map(Double.init), unmerged, tolerance: 1e-6, "amp: after unmerge")
    }

    func testSaveThenLoadGivesIdenticalOutputs() throws {
        let dir = Fixtures.temporaryDirectory()
        for (i, config) in [AdaptationConfig(mode: .lora, rank: 2, targets: [.query, .value, .output], layers: [1]),
                            AdaptationConfig(mode: .dora, rank: 2, targets: AdapterTarget.encoder),
                            AdaptationConfig(mode: .full), AdaptationConfig(mode: .head)].enumerated() {
            let net = try Network(model: tiny, adaptation: config, seed: 4)
            randomize(net)
            let head = net.addHead("sst", kind: .classification, classes: 5)
            let b = try batch(tiny)
            let before = net.predict(b, head: head)
            let url = dir.appendingPathComponent("run\(i).safetensors")
            try AdapterFile.save(net, to: url)
            let loaded = try AdapterFile.load(url, model: tiny)
            XCTAssertEqual(loaded.adaptation, config)
            XCTAssertEqual(loaded.predict(b, head: loaded.head("sst")!), before, "\(config.mode): identical outputs after save → load")
        }
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.hasPrefix(".") }, "no temporary files left")
    }

    func testAdapterFileForAnotherModelShapeIsRejected() throws {
        let dir = Fixtures.temporaryDirectory()
        let url = dir.appendingPathComponent("a.safetensors")
        let net = try Network(model: tiny, adaptation: AdaptationConfig(mode: .lora, rank: 2), seed: 1)
        net.addHead("sst", kind: .classification, classes: 5)
        try AdapterFile.save(net, to: url)
        let other = try Fixtures.model.get()
        XCTAssertThrowsError(try AdapterFile.load(url, model: other)) {
            XCTAssertEqual("\($0)", "invalid adapter file \(url.path): it was trained for a model with hidden=8 layers=2 heads=2 intermediate=16 vocab=20, this model has hidden=384 layers=6 heads=12 intermediate=1536 vocab=30522")
        }
        try SafeTensorsWriter.write([("x", Tensor(zeros: [1]))], to: url)
        XCTAssertThrowsError(try AdapterFile.load(url, model: tiny)) {
            XCTAssertTrue("\($0)".contains("no lorabook adapter metadata"), "\($0)")
        }
    }

    func testConfigurationErrors() throws {
        let table: [(AdaptationConfig, String)] = [
            (AdaptationConfig(mode: .lora, rank: 0), "invalid rank 0: expected a rank of at least 1"),
            (AdaptationConfig(mode: .lora, rank: 9, targets: [.query]), "invalid rank 9: larger than the query layer allows (at most 8 for its [8, 8] weight)"),
            (AdaptationConfig(mode: .lora, rank: 2, layers: [2]), "invalid layer 2: the model has layers 0…1"),
            (AdaptationConfig(mode: .dora, rank: 2, dropout: 0.1), "invalid dropout 0.1: adapter dropout with DoRA is not supported; use dropout 0 (the model's own dropout still applies)"),
        ]
        for (config, message) in table {
            XCTAssertThrowsError(try Network(model: tiny, adaptation: config)) { XCTAssertEqual("\($0)", message) }
        }
        XCTAssertThrowsError(try AdapterTarget.parse("query,vaule")) {
            XCTAssertTrue("\($0)".hasPrefix("invalid target 'vaule': expected one of all-linear, attention, attention-all, qkv, query, key, value"), "\($0)")
        }
        XCTAssertEqual(try AdapterTarget.parse("all-linear").count, 6)
        XCTAssertEqual(try AdapterTarget.parse("value, query"), [.value, .query])
    }

    func testFrozenWeightsHaveNoGradientsOrOptimizerState() throws {
        let lora = try Network(model: tiny, adaptation: AdaptationConfig(mode: .lora, rank: 2), seed: 1)
        lora.addHead("t", kind: .classification, classes: 3)
        XCTAssertNil(lora.baseGradients)
        XCTAssertEqual(Set(lora.trainables.map { $0.name.components(separatedBy: ".").last! }), ["lora_A", "lora_B", "weight", "bias"])
        XCTAssertEqual(lora.trainableParameterCount, 2 * 2 * (2 * 8 * 2) + 3 * 8 + 3)
        let full = try Network(model: tiny, adaptation: AdaptationConfig(mode: .full), seed: 1)
        XCTAssertFalse(full.trainables.contains { $0.name.hasPrefix("pooler.") }, "the pooler does not train: heads read the raw [CLS]")
        XCTAssertTrue(full.model !== tiny, "full fine-tuning trains a private copy of the weights")
    }
}
