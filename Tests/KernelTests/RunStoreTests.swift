// The run store: what the key covers, entries that load exactly what was trained, corrupt entries
// that are never loaded, writers that race; and planning (placeholder runs, unknown values, rounds).
import XCTest
import Foundation
@testable import Kernel
import Model
import Sweeps

final class RunStoreTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func session(store: RunStore) -> Session {
        let s = Session()
        s.store = store
        return s
    }

    static let request = TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .lora, rank: 2), seed: 1, limit: 24, maxLength: 32, batchSize: 8)

    func testTheKeyCoversWhatDecidesTheResultAndNothingElse() throws {
        let model = K.repoRoot.appendingPathComponent("models/minilm-l6")
        let data = Session().dataFolder.standardizedFileURL.path
        let sst: [TaskSource] = [.builtIn(task: "sst", folder: data)]
        let base = try RunStore.key(Self.request, model: model, sources: sst)
        var named = Self.request; named.name = "another name"
        XCTAssertEqual(try RunStore.key(named, model: model, sources: sst), base, "the name does not decide the result")
        // the data's content, not its path: the same file seen through another folder gives the same key
        let link = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: link, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: data + "/ids-sst-train.csv", toPath: link.path + "/ids-sst-train.csv")
        XCTAssertEqual(try RunStore.key(Self.request, model: model, sources: [.builtIn(task: "sst", folder: link.path)]), base)
        // one changed byte of the training file changes it
        let h = try FileHandle(forWritingTo: link.appendingPathComponent("ids-sst-train.csv"))
        try h.seekToEnd(); h.write(Data(" ".utf8)); try h.close()
        XCTAssertNotEqual(try RunStore.key(Self.request, model: model, sources: [.builtIn(task: "sst", folder: link.path)]), base)
        var changes: [TrainRequest] = []
        for edit in [{ (r: inout TrainRequest) in r.adaptation.rank = 4 }, { $0.training.seed = 2 }, { $0.limit = 25 }, { $0.maxLength = 33 },
                     { $0.training.learningRate = 1e-3 }, { $0.training.epochs = 2 }, { $0.adaptation.amp = true }, { $0.adaptation.targets = [.query] },
                     { $0.training.bucketing = true }, { $0.training.warmup = 0.1 }, { $0.adaptation.dropout = 0.1 }, { $0.similarity = .cosine }] as [(inout TrainRequest) -> Void] {
            var r = Self.request
            edit(&r)
            changes.append(r)
        }
        let keys = try changes.map { try RunStore.key($0, model: model, sources: sst) }
        XCTAssertEqual(Set(keys + [base]).count, changes.count + 1, "every setting changes the key")
        // a registered file: its columns are part of the key
        let reg = TaskRegistration(name: "sst", path: data + "/ids-sst-train.csv", text: "sentence", pair: nil, label: "sentiment", classes: 5, devPath: nil)
        var other = reg; other.classes = 6
        XCTAssertNotEqual(try RunStore.key(Self.request, model: model, sources: [.file(reg)]), try RunStore.key(Self.request, model: model, sources: [.file(other)]))
    }

    /// A miss trains and stores; the same train again loads the very same weights and record.
    func testAHitLoadsWhatWasTrained() throws {
        let store = RunStore(directory: folder.appendingPathComponent("runs"))
        let s1 = session(store: store)
        let (_, d1, _) = K.run("model\nlora rank=2\nseed 1\nlet r = train sst limit=24 batch=8 max_length=32\nlet e = eval sst limit=30 max_length=32", session: s1)
        XCTAssertEqual(d1.map(\.message), [])
        XCTAssertEqual([store.trained, store.loaded], [1, 0])
        let s2 = session(store: store)
        let (_, d2, _) = K.run("model\nlora rank=2\nseed 1\nlet r = train sst limit=24 batch=8 max_length=32 name=again\nlet e = eval sst limit=30 max_length=32", session: s2)
        XCTAssertEqual(d2.map(\.message), [])
        XCTAssertEqual([store.trained, store.loaded], [1, 1])
        guard case .run(let a)? = s1.variables["r"], case .run(let b)? = s2.variables["r"] else { return XCTFail("no runs") }
        for (x, y) in zip(a.network.trainables, b.network.trainables) {
            XCTAssertEqual(Array(UnsafeBufferPointer(start: x.parameter.data, count: x.parameter.count)),
                           Array(UnsafeBufferPointer(start: y.parameter.data, count: y.parameter.count)), x.name)
        }
        XCTAssertEqual(s1.variables["e"], s2.variables["e"])
        XCTAssertEqual(a.record["loss"], b.record["loss"])
        XCTAssertEqual(b.record["name"], .string("again"), "the name is the one asked for now")
        // another seed is another run
        _ = K.run("model\nlora rank=2\nseed 2\ntrain sst limit=24 batch=8 max_length=32", session: session(store: store))
        XCTAssertEqual([store.trained, store.loaded], [2, 1])
        XCTAssertEqual(store.list().count, 2)
    }

    func testACorruptEntryIsNeverLoadedAndIsTrainedAgain() throws {
        let store = RunStore(directory: folder.appendingPathComponent("runs"))
        _ = K.run("model\nlora rank=2\nseed 1\ntrain sst limit=24 batch=8 max_length=32", session: session(store: store))
        guard let key = store.list().first?.key else { return XCTFail("nothing stored") }
        for file in ["run.safetensors", "manifest.json"] {
            let url = store.entryURL(key).appendingPathComponent(file)
            var bytes = try Data(contentsOf: url)
            bytes[bytes.count - 3] ^= 0x01   // one bit, deep in the weights or in the manifest's JSON
            try bytes.write(to: url)
            guard case .corrupt(let why) = store.lookup(key) else { return XCTFail("\(file): a flipped bit went unnoticed") }
            XCTAssertTrue(why.contains("checksum"), why)
            let s = session(store: store)
            let (lines, d, _) = K.run("model\nlora rank=2\nseed 1\ntrain sst limit=24 batch=8 max_length=32", session: s)
            XCTAssertEqual(d.map(\.message), [])
            XCTAssertTrue(lines.contains { $0.contains("corrupt") }, "the retraining says why: \(lines)")
            guard case .hit = store.lookup(key) else { return XCTFail("the entry was not replaced") }
        }
        XCTAssertEqual(store.trained, 3)
        // a manifest cut short, and a folder with no manifest
        let manifest = store.entryURL(key).appendingPathComponent("manifest.json")
        try Data(try Data(contentsOf: manifest).prefix(100)).write(to: manifest)
        guard case .corrupt = store.lookup(key) else { return XCTFail("a truncated manifest loaded") }
        try FileManager.default.removeItem(at: manifest)
        guard case .corrupt = store.lookup(key) else { return XCTFail("an entry without a manifest loaded") }
        XCTAssertEqual(store.gc().corrupt, 1)
        guard case .miss = store.lookup(key) else { return XCTFail("gc kept a corrupt entry") }
    }

    /// Two processes storing one key: the second finds the first's entry and keeps it; a writer's
    /// leftover temporary folder is never read and gc removes it once it is old.
    func testWritersOfOneKeyAndLeftovers() throws {
        let store = RunStore(directory: folder.appendingPathComponent("runs"))
        let s = session(store: store)
        _ = K.run("model\nlora rank=1\nlet r = train sst limit=16 batch=8 max_length=32", session: s)
        guard case .run(let run)? = s.variables["r"], let key = store.list().first?.key, case .hit(let m) = store.lookup(key) else { return XCTFail("nothing stored") }
        try store.save(key: key, network: run.network, result: m.result, sources: m.sources, model: URL(fileURLWithPath: m.model))
        guard case .hit(let again) = store.lookup(key) else { return XCTFail("the second writer broke the entry") }
        XCTAssertEqual(again.created, m.created, "the first entry stays")
        let leftover = store.directory.appendingPathComponent(".tmp-\(key.prefix(16))-dead")
        try FileManager.default.createDirectory(at: leftover, withIntermediateDirectories: true)
        try Data("half".utf8).write(to: leftover.appendingPathComponent("run.safetensors"))
        XCTAssertEqual(store.list().count, 1)
        XCTAssertEqual(store.gc().temporary, 0, "a young leftover may belong to a writer at work")
        XCTAssertEqual(store.gc(staleAfter: -1).temporary, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover.path))
    }

    /// While planning, a training the store lacks becomes a job and a placeholder; what is computed
    /// from it is unknown (no error, no claim, no output), and known parts keep working.
    func testPlanningMakesJobsAndUnknowns() throws {
        let store = RunStore(directory: folder.appendingPathComponent("runs"))
        _ = K.run("model\nlora rank=1\nseed 0\ntrain sst limit=16 batch=8 max_length=32", session: session(store: store))   // stored already
        let s = session(store: store)
        let planner = Planner()
        s.planner = planner
        let source = """
        model
        let t = table()
        for r in [1, 2] {
          lora rank=r
          let run = train sst limit=16 batch=8 max_length=32
          let e = eval sst limit=20 max_length=32
          t += {rank: r, accuracy: e.accuracy, loss: run.loss}
        }
        let g = table t group=rank
        print len(t)
        let known = table t where=rank == 1
        print known[0].accuracy >= 0
        expect mean(t.accuracy) > 0 label="a claim on unknowns is not judged"
        plot t x=rank y=accuracy
        if max(t.accuracy) > 0.3 {
          print "not decided yet"
        }
        """
        let (lines, d, result) = K.run(source, session: s)
        XCTAssertEqual(d.map(\.message), [])
        XCTAssertEqual(planner.jobs.count, 1, "rank 2 is new")
        XCTAssertEqual(planner.jobs.first?.request.adaptation.rank, 2)
        XCTAssertEqual(planner.stored, 1, "rank 1 was stored")
        XCTAssertTrue(planner.complete, "the `if` trains nothing: \(planner.blockedBy ?? "")")
        XCTAssertEqual(Array(lines.filter { !$0.isEmpty }.suffix(2)), ["2", "true"], "known values print")
        XCTAssertFalse(lines.contains { $0.contains("unknown") || $0.contains("not decided") }, "unknown ones print nothing: \(lines)")
        XCTAssertFalse(result.outputs.contains { if case .claim = $0 { return true }; if case .chart = $0 { return true }; return false })
        guard case .table(let g)? = s.variables["g"] else { return XCTFail("group of a table with unknowns") }
        XCTAssertEqual(g.rows[0]["accuracy_mean"].map { $0 == .unknown }, false, "rank 1 is known")
        XCTAssertEqual(g.rows[1]["accuracy_mean"], .unknown)
        XCTAssertEqual(store.trained, 1, "planning trains nothing")
    }

    /// A training that depends on a result not trained yet cannot be planned: the plan is a round.
    func testATrainingThatDependsOnAnUnknownMakesARound() {
        let store = RunStore(directory: folder.appendingPathComponent("runs"))
        let s = session(store: store)
        let planner = Planner()
        s.planner = planner
        let (_, d, _) = K.run("""
        model
        lora rank=1
        let a = train sst limit=16 batch=8 max_length=32
        let e = eval sst limit=20 max_length=32
        let best_rank = 1
        if e.accuracy < 0.5 {
          best_rank = 4
        }
        lora rank=best_rank
        let b = train sst limit=16 batch=8 max_length=32
        let c = train sst limit=16 batch=8 max_length=32 lr=e.accuracy
        lora rank=3
        let d = train sst limit=16 batch=8 max_length=32
        """, session: s)
        XCTAssertEqual(d.map(\.message), [])
        XCTAssertFalse(planner.complete)
        XCTAssertTrue(planner.blockedBy?.contains("'lora' with a result not trained yet (line 9)") == true, planner.blockedBy ?? "")
        // b: its adaptation is unknown (lora rank=best_rank could not be applied); c: its lr is
        // unknown; d: `lora rank=3` sets the adaptation again, so it is planned in this round
        XCTAssertEqual(planner.jobs.map(\.request.adaptation.rank), [1, 3])
        XCTAssertTrue(planner.settingsKnown)
    }
}
