// The training loop, optimizer, schedule, metrics and data loading, on the tiny model and on small
// data files made here.
import XCTest
import Foundation
import Project
@testable import Model

final class TrainingTests: XCTestCase {
    var tiny: BertModel { GradientCheckTests.tiny }

    /// A separable toy task over the tiny vocabulary: "cat"/"mat" sentences are class 0, "dog"/"run" 1.
    func toyData(_ n: Int = 48) throws -> EncodedDataset { try Self.toyData(tiny, n) }

    static func toyData(_ tiny: BertModel, _ n: Int = 48) throws -> EncodedDataset {
        let words0 = ["the cat sat", "a cat is small", "the mat", "cat on a mat"], words1 = ["a dog is running", "the dog runs", "big dog", "dog running"]
        var text = "\tid\tsentence\tsentiment\n"
        for i in 0..<n { text += "\(i)\tx\(i)\t\(i % 2 == 0 ? words0[i / 2 % 4] : words1[i / 2 % 4])\t\(i % 2)\n" }
        let url = Fixtures.temporaryDirectory().appendingPathComponent("toy.csv")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return try EncodedDataset(try Datasets.csv(url, text: "sentence", label: "sentiment", spec: .cfimdb), tokenizer: tiny.tokenizer, maxLength: 16)
    }

    func train(_ mode: AdaptationMode, seed: UInt64 = 0, epochs: Int = 4, stopAfter: Int? = nil) throws -> (Network, TrainingSummary, [TrainingEvent]) {
        let data = try toyData()
        let net = try Network(model: tiny, adaptation: AdaptationConfig(mode: mode, rank: 2, targets: AdapterTarget.encoder), seed: seed)
        net.hiddenDropout = 0; net.attentionDropout = 0
        let head = net.addHead("toy", kind: .classification, classes: 2)
        let trainer = try Trainer(network: net, tasks: [TaskBinding(name: "toy", data: data, head: head)],
                                  config: TrainingConfig(epochs: epochs, batchSize: 8, learningRate: mode == .full ? 1e-2 : 5e-2, seed: seed, bucketing: true))
        var events: [TrainingEvent] = []
        var steps = 0
        let summary = trainer.run(onEvent: { events.append($0); if case .step = $0 { steps += 1 } }, shouldStop: { stopAfter.map { steps >= $0 } ?? false })
        return (net, summary, events)
    }

    /// Buffers sized up front for the largest batch do not grow while the steps run (fp32 and amp).
    func testReservedBuffersDoNotGrowDuringSteps() throws {
        let model = try Fixtures.model.get()
        let texts = ["short", "a somewhat longer sentence about a film", "the longest of these sentences , by a few words , is this one here"]
        let batches = try [[0], [0, 1], [2, 1, 0]].map { idx in try model.batch(idx.map { (texts[$0], nil) }) }
        for amp in [false, true] {
            let net = try Network(model: model, adaptation: AdaptationConfig(mode: .dora, rank: 2, targets: AdapterTarget.encoder, amp: amp))
            let head = net.addHead("sst", kind: .classification, classes: 5)
            net.reserve(sequenceLengths: batches.map(\.lengths))
            let before = net.memory(optimizer: nil)
            for (i, b) in batches.enumerated() {
                _ = net.lossAndGradients(b, head: head, labels: .classes(Array(repeating: 1, count: b.batchSize)), stepSeed: UInt64(i))
            }
            let after = net.memory(optimizer: nil)
            XCTAssertEqual(after.activations, before.activations, "amp \(amp): activation buffers grew")
            XCTAssertEqual(after.workspace, before.workspace, "amp \(amp): backward workspace grew")
        }
    }

    func testTrainingLearnsASeparableTask() throws {
        for mode in [AdaptationMode.lora, .dora, .full, .head] {
            let (net, summary, _) = try train(mode, epochs: 12)
            XCTAssertEqual(summary.steps, 12 * 6)
            XCTAssertLessThan(summary.meanLossPerEpoch.last!, summary.meanLossPerEpoch.first!, "\(mode): loss falls")
            let eval = TaskEvaluator.evaluate(net, head: net.head("toy")!, data: try toyData())
            // a linear probe on a random 8-wide encoder need not separate the data; the others must
            XCTAssertGreaterThanOrEqual(eval.score, mode == .head ? 0.7 : 0.9, "\(mode): accuracy on the training data")
        }
    }

    func testSameSeedSameResultsDifferentSeedDifferent() throws {
        let (a, sa, _) = try train(.lora, seed: 5, epochs: 1)
        let (b, sb, _) = try train(.lora, seed: 5, epochs: 1)
        let (c, _, _) = try train(.lora, seed: 6, epochs: 1)
        XCTAssertEqual(sa.meanLossPerEpoch, sb.meanLossPerEpoch)
        XCTAssertEqual(a.adapters!.all[0].A.toArray(), b.adapters!.all[0].A.toArray())
        XCTAssertNotEqual(a.adapters!.all[0].A.toArray(), c.adapters!.all[0].A.toArray())
    }

    func testStopBetweenStepsAndEvents() throws {
        let (_, summary, events) = try train(.lora, epochs: 2, stopAfter: 3)
        XCTAssertTrue(summary.stopped)
        XCTAssertEqual(summary.steps, 3)
        guard case .started(let total, _) = events.first else { return XCTFail("first event is .started") }
        XCTAssertEqual(total, 12)
        XCTAssertTrue(events.contains { if case .stopped(step: 3) = $0 { return true }; return false })
        guard case .finished = events.last else { return XCTFail("last event is .finished") }
        guard case .step(let p) = events[1] else { return XCTFail("then steps") }
        XCTAssertEqual(p.step, 1); XCTAssertEqual(p.totalSteps, 12); XCTAssertGreaterThan(p.examplesPerSecond, 0)
    }

    func testMultitaskRoundRobinAndWeights() throws {
        let data = try toyData(16)
        let net = try Network(model: tiny, adaptation: AdaptationConfig(mode: .lora, rank: 2), seed: 1)
        let h1 = net.addHead("a", kind: .classification, classes: 2), h2 = net.addHead("b", kind: .binary)
        var seen: [String] = []
        let binaryData = try EncodedDataset(Dataset(name: "b", path: "-", spec: .paraphrase, examples: data.dataset.examples), tokenizer: tiny.tokenizer, maxLength: 16)
        let trainer = try Trainer(network: net, tasks: [TaskBinding(name: "a", data: data, head: h1), TaskBinding(name: "b", data: binaryData, head: h2, weight: 0.5)],
                                  config: TrainingConfig(batchSize: 8, sampling: .roundRobin))
        _ = trainer.run(onEvent: { if case .step(let p) = $0 { seen.append(p.task) } })
        XCTAssertEqual(seen, ["a", "b", "a", "b"])
    }

    func testAdamWSecondStepMatchesTheFormula() {
        let p = Tensor(shape: [2], values: [1, -2]), g = Tensor(shape: [2], values: [0.5, 0.25])
        let t = [TrainableTensor(name: "p", parameter: p, gradient: g)]
        let opt = AdamW(t, weightDecay: 0.1)
        opt.update(t, learningRate: 0.01)
        g.data[0] = -0.3; g.data[1] = 0.1
        opt.update(t, learningRate: 0.02)
        // by hand in Double
        var x = [1.0, -2.0], m = [0.0, 0.0], v = [0.0, 0.0]
        for (step, (grad, lr)) in [([0.5, 0.25], 0.01), ([-0.3, 0.1], 0.02)].enumerated() {
            for i in 0..<2 {
                x[i] *= 1 - lr * 0.1
                m[i] = 0.9 * m[i] + 0.1 * grad[i]; v[i] = 0.999 * v[i] + 0.001 * grad[i] * grad[i]
                let mh = m[i] / (1 - pow(0.9, Double(step + 1))), vh = v[i] / (1 - pow(0.999, Double(step + 1)))
                x[i] -= lr * mh / (vh.squareRoot() + 1e-8)
            }
        }
        XCTAssertEqual(Double(p.data[0]), x[0], accuracy: 1e-6)
        XCTAssertEqual(Double(p.data[1]), x[1], accuracy: 1e-6)
    }

    func testScheduleAndClipping() {
        let s = LearningRateSchedule(kind: .linear, peak: 1, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s.rate(at: 0), 0); XCTAssertEqual(s.rate(at: 5), 0.5); XCTAssertEqual(s.rate(at: 10), 1)
        XCTAssertEqual(s.rate(at: 60), 0.5, accuracy: 1e-6); XCTAssertEqual(s.rate(at: 110), 0)
        XCTAssertEqual(LearningRateSchedule(kind: .cosine, peak: 2, warmupSteps: 0, totalSteps: 100).rate(at: 50), 1, accuracy: 1e-5)
        XCTAssertEqual(LearningRateSchedule(kind: .constant, peak: 2, warmupSteps: 4, totalSteps: 100).rate(at: 90), 2)
        let g = Tensor(shape: [2], values: [3, 4])
        let t = [TrainableTensor(name: "g", parameter: Tensor(zeros: [2]), gradient: g)]
        XCTAssertEqual(clipGradientNorm(t, maxNorm: 1), 5)
        XCTAssertEqual(Double(g.data[0]), 0.6, accuracy: 1e-5)
        XCTAssertEqual(clipGradientNorm(t, maxNorm: 10), 1, accuracy: 1e-5)
    }

    func testMetricsAndEnsemble() throws {
        XCTAssertEqual(Metrics.pearson([1, 2, 3], [2, 4, 6]), 1, accuracy: 1e-12)
        XCTAssertEqual(Metrics.pearson([1, 2, 3], [3, 2, 1]), -1, accuracy: 1e-12)
        XCTAssertEqual(Metrics.pearson([1, 2, 3, 4], [1, 3, 2, 4]), 0.8, accuracy: 1e-12)
        XCTAssertEqual(Metrics.overallScore(sstAccuracy: 0.53, paraphraseAccuracy: 0.9, stsPearson: 0.864), (0.53 + 0.9 + 0.932) / 3, accuracy: 1e-12)
        let data = try toyData(4)  // labels 0 1 0 1
        let a = TaskEvaluator.scored([2, 0, 0, 1, 0, 3, 0, 1], perExample: 2, kind: .classification, data: data)
        let b = TaskEvaluator.scored([0, 1, 0, 5, 0, 1, 3, 0], perExample: 2, kind: .classification, data: data)
        XCTAssertEqual(a.score, 0.75); XCTAssertEqual(b.score, 0.25)
        let e = TaskEvaluator.ensemble([a, b], data: data)
        XCTAssertEqual(e.outputs, [1, 0.5, 0, 3, 0, 2, 1.5, 0.5])
        XCTAssertEqual(e.predictions, [0, 1, 1, 0])
    }

    func testDataErrorsNameFileLineAndColumn() throws {
        let dir = Fixtures.temporaryDirectory()
        func write(_ text: String) throws -> URL {
            let url = dir.appendingPathComponent("d\(UUID().uuidString.prefix(4)).csv")
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url
        }
        let table: [(String, TaskSpec?, String)] = [
            ("\tid\tsentence\tsentiment\n0\ta\tgood\t7\n", .sst, ":2:4: label 7 is out of range (expected a class 0…4)"),
            ("\tid\tsentence\tlabel\n0\ta\tgood\t1\n", .sst, ":1:1: no column named 'sentiment' (the header has 'id', 'sentence', 'label')"),
            ("\tid\tsentence\tsentiment\n", .sst, ":2:1: no data rows after the header (expected at least one example)"),
            ("", .sst, ":1:1: the file is empty (expected a header row and data rows)"),
            ("\tid\tsentence\tsentiment\n0\ta\tgood\tx\n", .sst, ":2:4: label 'x' in column 'sentiment' is not a number"),
            ("\tid\ts1\ts2\tsimilarity\n0\ta\tb\tc\t5.5\n", .similarity, ":2:5: value 5.5 is out of range (expected 0.0…5.0)"),
        ]
        for (text, spec, expect) in table {
            let url = try write(text)
            let labelName = text.contains("similarity") ? "similarity" : "sentiment"
            XCTAssertThrowsError(try Datasets.csv(url, text: text.contains("s1") ? "s1" : "sentence", label: labelName, spec: spec)) {
                XCTAssertEqual("\($0)", url.path + expect)
            }
        }
        // a generic CSV: classes inferred from the labels
        let url = try write("text,label\n\"a, b\",0\nc,2\n")
        let d = try Datasets.csv(url, text: "text", label: "label", spec: nil)
        XCTAssertEqual(d.spec.classes, 3); XCTAssertEqual(d.examples.map(\.textA), ["a, b", "c"])
        XCTAssertThrowsError(try Datasets.load("imdb", split: "train", folder: dir)) {
            XCTAssertTrue("\($0)".hasPrefix("invalid task 'imdb': expected one of cfimdb, quora, sst, sts"), "\($0)")
        }
    }

    func testBuiltInTaskFilesLoad() throws {
        let folder = Locations.dataFolder().url
        let sst = try Datasets.load("sst", split: "dev", folder: folder)
        XCTAssertEqual(sst.count, 1101); XCTAssertEqual(sst.spec, .sst)
        XCTAssertFalse(sst.examples[0].textA.hasPrefix(" "), "SST sentences are trimmed")
        let quora = try Datasets.load("quora", split: "dev", folder: folder)
        XCTAssertEqual(quora.count, 2000); XCTAssertNotNil(quora.examples[0].textB)
        let sts = try Datasets.load("sts", split: "dev", folder: folder)
        XCTAssertEqual(sts.count, 863); XCTAssertEqual(sts.spec.kind, .regression)
        let sst2 = Datasets.binarySentiment(from: sst)
        XCTAssertTrue(sst2.examples.allSatisfy { $0.label == 0 || $0.label == 1 })
        XCTAssertLessThan(sst2.count, sst.count)
    }

    /// Training memory is counted from the buffers: LoRA r=8 on attention needs at most 60% of what
    /// full fine-tuning needs (parameters + gradients + optimizer + activations) on the same batch.
    func testLoRAUsesAtMostSixtyPercentOfFullFineTuningMemory() throws {
        let model = try Fixtures.model.get()
        let sentences = try Datasets.load("sst", split: "dev", folder: Locations.dataFolder().url).limited(32)
        let data = try EncodedDataset(sentences, tokenizer: model.tokenizer, maxLength: 128)
        var reports: [AdaptationMode: MemoryReport] = [:]
        for mode in [AdaptationMode.full, .lora] {
            let net = try Network(model: model, adaptation: AdaptationConfig(mode: mode, rank: 8), seed: 0)
            let head = net.addHead("sst", kind: .classification, classes: 5)
            let trainer = try Trainer(network: net, tasks: [TaskBinding(name: "sst", data: data, head: head)], config: TrainingConfig(batchSize: 32))
            reports[mode] = trainer.run().memory
        }
        let full = reports[.full]!, lora = reports[.lora]!
        print("memory full \(full) lora \(lora): ratio \(Double(lora.training) / Double(full.training))")
        let pooler = (384 * 384 + 384) * 4  // never trained: heads read the raw [CLS]
        XCTAssertEqual(full.gradients, full.parameters, "one gradient per parameter (the base's layout, heads)")
        XCTAssertEqual(full.optimizer, 2 * (full.parameters - pooler), "two moments per trained parameter")
        XCTAssertEqual(lora.optimizer, 2 * lora.gradients)
        XCTAssertLessThanOrEqual(Double(lora.training), 0.6 * Double(full.training))
    }
}
