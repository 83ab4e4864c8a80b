// The language with PEFT: `load` of a PEFT folder (its classifier answering a task), `predict`,
// `train … head=pooled` and `save … format=peft` back to a folder that loads to the same answers.
import XCTest
import Foundation
import Project
@testable import Kernel
import Model
import Sweeps

final class InteropTests: XCTestCase {
    var peft: URL { K.repoRoot.appendingPathComponent("Tests/ModelTests/Fixtures/golden/peft") }

    func testAPEFTFolderLoadsAsARunThatEvaluatesAndPredicts() throws {
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: peft.appendingPathComponent("dora-r2-all.expected.json"))) as! [String: Any]
        let text = (expected["texts"] as! [String])[1], logits = (expected["logits"] as! [[Double]])[1]
        let source = """
        model
        let r = load "\(peft.appendingPathComponent("dora-r2-all").path)" task=sst
        print r.mode
        print r.tasks
        let p = predict r "\(text)"
        print p.logits
        let e = eval sst limit=20 run=r
        print e.examples
        """
        let (lines, diagnostics, _) = K.run(source)
        XCTAssertTrue(diagnostics.isEmpty, "\(diagnostics.map(\.message))")
        XCTAssertTrue(lines.contains("dora"), "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("sst") }, "\(lines)")
        let printed = try XCTUnwrap(lines.first { $0.hasPrefix("[") && $0.contains(".") && !$0.contains("sst") })
        let numbers = printed.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        XCTAssertEqual(numbers.count, 5, printed)
        // printed values are rounded for display: compare at that precision
        for (a, b) in zip(numbers, logits) { XCTAssertEqual(a, b, accuracy: 5e-4, printed) }
        XCTAssertTrue(lines.contains("20"), "\(lines)")
    }

    func testAPooledRunExportsToPEFTAndLoadsBackToTheSameAnswers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-interop-\(UUID().uuidString)")
        let source = """
        model
        dora rank=2 targets=[query, value, pooler]
        let r = train sst limit=48 batch=16 head=pooled
        save r "\(dir.path)" format=peft
        let back = load "\(dir.path)" task=sst
        let a = predict r "a moving and funny film"
        let b = predict back "a moving and funny film"
        print a.logits == b.logits
        print back.targets
        """
        let (lines, diagnostics, _) = K.run(source)
        XCTAssertTrue(diagnostics.isEmpty, "\(diagnostics.map(\.message))")
        XCTAssertEqual(lines.filter { $0 == "true" }.count, 1, "\(lines)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["use_dora"] as? Bool, true)
        XCTAssertEqual(config["task_type"] as? String, "SEQ_CLS")
        XCTAssertEqual(Set(config["target_modules"] as? [String] ?? []), ["query", "value", "pooler.dense"])

        // a raw-[CLS] head does not carry over: the error says what to do
        let (_, d2, _) = K.run("model\nlora rank=2\nlet r = train sst limit=16\nsave r \"\(dir.path)-cls\" format=peft")
        XCTAssertTrue(d2.first?.message.contains("head=pooled") == true, "\(d2.map(\.message))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path + "-cls"), "nothing written")
    }

    /// `train … log="DIR"`: a TensorBoard file per run with every step's loss and learning rate and
    /// each evaluation's metric; a run loaded from the store writes its curve.
    func testTrainWritesATensorBoardLog() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-tb-\(UUID().uuidString)")
        let store = RunStore(directory: dir.appendingPathComponent("store"))
        let source = """
        model
        lora rank=2
        let r = train sst limit=48 batch=16 epochs=2 eval=sst eval_limit=20 log="\(dir.path)/logs"
        print r.steps
        """
        for round in 0..<2 {
            let session = Session()
            session.store = store
            let (lines, diagnostics, _) = K.run(source, session: session)
            XCTAssertTrue(diagnostics.isEmpty, "\(diagnostics.map(\.message))")
            XCTAssertTrue(lines.contains("6"), "\(lines)")
            let files = try FileManager.default.contentsOfDirectory(at: dir.appendingPathComponent("logs/lora-r2-s0"), includingPropertiesForKeys: nil)
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
            XCTAssertEqual(files.count, round + 1)
            let (_, scalars) = try TensorBoardReader.scalars(files.last!)
            let tags = Set(scalars.map(\.tag))
            XCTAssertEqual(scalars.filter { $0.tag == "eval/accuracy" }.map(\.step), [3, 6], "\(round): an evaluation per epoch")
            if round == 0 {
                XCTAssertEqual(scalars.filter { $0.tag == "train/loss" }.map(\.step), Array(1...6))
                XCTAssertTrue(tags.isSuperset(of: ["train/learning_rate", "train/epoch_loss", "eval/train_loss"]), "\(tags)")
            } else {
                XCTAssertFalse(tags.contains("train/loss"), "from the store: only what it kept")
            }
        }
    }

    /// A fine-tuned checkpoint (BertForSequenceClassification's keys: bert.* and classifier.*) loads
    /// with `model`; its classifier is the current run and `eval sst` scores it.
    func testAFineTunedCheckpointsClassifierIsEvaluated() throws {
        let base = K.repoRoot.appendingPathComponent("models/minilm-l6")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-finetuned-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in ["config.json", "vocab.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: base.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let model = try BertModel.load(folder: base)
        var tensors = model.parameters.named.map { (name: "bert." + $0.name, tensor: $0.tensor) }
        let w = Tensor(zeros: [5, 384]), b = Tensor(zeros: [5])
        var rng = SplitMix64(seed: 3)
        for i in 0..<w.count { w.data[i] = Float(rng.nextUniform() - 0.5) }
        tensors += [(name: "classifier.weight", tensor: w), (name: "classifier.bias", tensor: b)]
        try SafeTensorsWriter.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
        let (lines, diagnostics, _) = K.run("""
        let m = model "\(dir.path)"
        let e = eval sst limit=25
        print e.examples
        let p = predict m.classifier "a fine film"
        print len(p.probabilities)
        """)
        XCTAssertTrue(diagnostics.isEmpty, "\(diagnostics.map(\.message))")
        XCTAssertTrue(lines.contains { $0.contains("the checkpoint's classifier (5 labels") && $0.contains("eval sst") }, "\(lines)")
        XCTAssertTrue(lines.contains("25"), "\(lines)")
        XCTAssertTrue(lines.contains("5"), "\(lines)")
    }

    /// A run can start from a trained adapter (lorabook train --adapter): at a learning rate of 1e-12 it ends
    /// with the adapter's weights; the adapter is part of the request (and so of the key);
    /// an adapter of another configuration is refused.
    func testATrainingStartsFromAnAdapter() throws {
        let model = try BertModel.load(folder: K.repoRoot.appendingPathComponent("models/minilm-l6"))
        let start = try PeftFolder.load(K.repoRoot.appendingPathComponent("Tests/ModelTests/Fixtures/golden/peft/lora-r4-qv"), model: model, head: "sst")
        let data = DataFolder(folder: Locations.dataFolder().url, tokenizer: model.tokenizer)
        var request = TrainRequest(tasks: ["sst"], adaptation: start.adaptation, seed: 0, limit: 32, batchSize: 16, learningRate: 1e-12)
        request.head = .pooled
        let fresh = try TrainingPipeline.run(request, model: model, data: data).network
        XCTAssertThrowsError(try TrainingPipeline.run(request, model: model, data: data, start: start), "the adapter must be named in the request")
        request.initialWeights = "digest of the adapter"
        let continued = try TrainingPipeline.run(request, model: model, data: data, start: start).network
        func distance(_ a: Network, _ b: Network) -> Float {
            zip(a.trainables, b.trainables).map { x, y in zip(x.parameter.toArray(), y.parameter.toArray()).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
        }
        XCTAssertEqual(continued.trainables.map(\.name), start.trainables.map(\.name))
        XCTAssertLessThan(distance(continued, start), 1e-9, "steps of 1e-12 move only values near zero, by about their resolution")
        XCTAssertGreaterThan(distance(fresh, start), 1e-3, "a fresh start is elsewhere")
        let key = try RunStore.key(request, model: model.folder, sources: [.builtIn(task: "sst", folder: Locations.dataFolder().url.path)])
        request.initialWeights = nil
        XCTAssertNotEqual(try RunStore.key(request, model: model.folder, sources: [.builtIn(task: "sst", folder: Locations.dataFolder().url.path)]), key)
        request.initialWeights = "x"
        request.adaptation.rank = 8
        XCTAssertThrowsError(try TrainingPipeline.run(request, model: model, data: data, start: start)) {
            XCTAssertTrue("\($0)".contains("r=4") && "\($0)".contains("r=8"), "\($0)")
        }
    }

    /// head=pooled is part of what a run is: its store key differs from the raw-[CLS] run's.
    func testTheHeadInputIsPartOfTheRequest() throws {
        var a = TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .lora), seed: 0)
        let plain = try JSONEncoder().encode(a)
        XCTAssertFalse(String(decoding: plain, as: UTF8.self).contains("head"), "requests made before head= existed keep their encoding")
        a.head = .pooled
        XCTAssertNotEqual(try JSONEncoder().encode(a), plain)
    }
}
