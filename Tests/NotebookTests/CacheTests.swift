// The cell cache: unchanged notebooks come from the cache and render the same report apart from
// timings; editing a cell re-runs it and what follows from a restored session (variables, runs
// with their adapters); changing a parameter or a data file re-runs from where it matters.
import XCTest
import Foundation
import Model
@testable import Notebook
@testable import Kernel

final class CacheTests: XCTestCase {
    func run(_ url: URL, _ configure: (inout ExecutionOptions) -> Void = { _ in }) throws -> ExecutedNotebook {
        var options = ExecutionOptions()
        configure(&options)
        return try NotebookRunner(kernel: Interpreter()).run(try NotebookParser.load(url), options: options)
    }

    func masked(_ nb: ExecutedNotebook) throws -> String {
        try HTMLRenderer.render(nb, chart: { _ in "<svg>chart</svg>" })
            .replacingOccurrences(of: #"(cached \(ran in )?\d+\.\d+ s\)?"#, with: "<time>", options: .regularExpression)
            .replacingOccurrences(of: #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#, with: "<date>", options: .regularExpression)
            .replacingOccurrences(of: #" · \+\d+ MB"#, with: "", options: .regularExpression)
    }

    func testUnchangedNotebookComesFromTheCacheWithTheSameReport() throws {
        let url = try NotebookTests.tinyNotebook()
        let fresh = try run(url)
        XCTAssertEqual(fresh.cells.map(\.cached), [false, false, false])
        let again = try run(url)
        XCTAssertEqual(again.status, .success)
        XCTAssertEqual(again.cells.map(\.cached), [true, true, true])
        XCTAssertEqual(try masked(again), try masked(fresh), "cached and fresh reports are the same apart from timings")
        let refreshed = try run(url) { $0.refresh = true }
        XCTAssertEqual(refreshed.cells.map(\.cached), [false, false, false], "--refresh runs everything")
        let uncached = try run(url) { $0.cache = false }
        XCTAssertEqual(uncached.cells.map(\.cached), [false, false, false], "--no-cache")
    }

    func testEditingACellRerunsItAndWhatFollowsFromARestoredSession() throws {
        let url = try NotebookTests.tinyNotebook()
        _ = try run(url)
        var text = try String(contentsOf: url, encoding: .utf8)
        text = text.replacingOccurrences(of: "expect results[1].trainable > results[0].trainable label=\"rank 2 trains more\"",
                                         with: "let again = eval toy\nexpect again.accuracy == results[1].accuracy and len(results) == 2 label=\"the restored run evaluates\"")
        try text.write(to: url, atomically: true, encoding: .utf8)
        let edited = try run(url)
        XCTAssertEqual(edited.status, .success, edited.cells.flatMap(\.diagnostics).map(\.message).joined())
        XCTAssertEqual(edited.cells.map(\.cached), [true, true, false], "only the edited cell runs")
        XCTAssertEqual(edited.claims.first?.claim.label, "the restored run evaluates")
        XCTAssertTrue(edited.claims.first?.claim.passed == true)
    }

    func testChangingAParameterOrADataFileReruns() throws {
        let url = try NotebookTests.tinyNotebook()
        _ = try run(url)
        let changed = try run(url) { $0.parameters = [("ranks", "[1, 3]")] }
        XCTAssertEqual(changed.cells.map(\.cached), [false, false, false], "parameters are in every key")
        XCTAssertEqual(try run(url).cells.map(\.cached), [true, true, true], "the first parameters' entries are still there")
        let csv = url.deletingLastPathComponent().appendingPathComponent("toy.csv")
        try (try String(contentsOf: csv, encoding: .utf8) + "99\tx99\tthe cat sat\t0\n").write(to: csv, atomically: true, encoding: .utf8)
        let after = try run(url)
        XCTAssertEqual(after.cells.map(\.cached), [false, false, false], "the data cell names the changed file, and everything after it re-runs")
    }

    /// Every input that decides a cell's result is in the first key: the seed, the model's path and
    /// files, the data folder, the parameters and the build.
    func testEveryInputThatDecidesAResultIsInTheFirstKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-keys-\(UUID().uuidString)")
        let modelA = dir.appendingPathComponent("a"), modelB = dir.appendingPathComponent("b"), data = dir.appendingPathComponent("data")
        try TinyModel.write(to: modelA); try TinyModel.write(to: modelB)
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let cache = CellCache(notebook: dir.appendingPathComponent("n.md"))
        let base = cache.firstKey(parameters: [("n", .number(1))], seed: 0, model: modelA, data: data, build: "b1")
        XCTAssertEqual(base, cache.firstKey(parameters: [("n", .number(1))], seed: 0, model: modelA, data: data, build: "b1"), "stable")
        for (what, key) in [
            ("seed", cache.firstKey(parameters: [("n", .number(1))], seed: 7, model: modelA, data: data, build: "b1")),
            ("model path", cache.firstKey(parameters: [("n", .number(1))], seed: 0, model: modelB, data: data, build: "b1")),
            ("data folder", cache.firstKey(parameters: [("n", .number(1))], seed: 0, model: modelA, data: dir, build: "b1")),
            ("parameter", cache.firstKey(parameters: [("n", .number(2))], seed: 0, model: modelA, data: data, build: "b1")),
            ("build", cache.firstKey(parameters: [("n", .number(1))], seed: 0, model: modelA, data: data, build: "b2")),
        ] {
            XCTAssertNotEqual(key, base, "changing the \(what) changes the key")
        }
        // a data file's content, too
        try "id\tsentence\tsentiment\n".write(to: data.appendingPathComponent("x.csv"), atomically: true, encoding: .utf8)
        XCTAssertNotEqual(CellCache(notebook: dir.appendingPathComponent("n.md")).firstKey(parameters: [("n", .number(1))], seed: 0, model: modelA, data: data, build: "b1"), base)
        XCTAssertEqual(CellCache.build.count, 64, "the build is the running binary's SHA-256")
    }

    /// The round trip keeps a series' categories (Chart is itself Codable); an entry that cannot be
    /// decoded (here, an output that refers to a run: outputs store runs as their text) is a miss
    /// that says why, never an empty table.
    func testStoredOutputsRoundTripOrMissLoudly() throws {
        let series = Chart.Series(name: "lora", points: [(0, 0.4, nil), (1, 0.45, 0.01)], categories: ["fp32", "amp"])
        let chart = Chart(kind: .bar, title: "t", xLabel: "x", yLabel: "y", logX: false, series: [series], categories: ["fp32", "amp"])
        let back = try RunArchive.decoder().decode(Output.self, from: RunArchive.encoder().encode(Output.chart(chart)))
        guard case .chart(let c) = back else { return XCTFail("not a chart") }
        XCTAssertEqual(c.series[0].categories, ["fp32", "amp"])
        XCTAssertEqual(c, chart)

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stale-\(UUID().uuidString)")
        let cache = CellCache(notebook: folder.appendingPathComponent("n.md"))
        try cache.save(CellCache.Entry(key: "k", outputs: [.text("fine")], diagnostics: [], status: "ok", seconds: 0, memoryDelta: 0,
                                       change: StateChange(json: "{}", runs: []), dataFiles: [], writtenFiles: nil))
        guard case .hit = cache.lookup("k") else { return XCTFail("a good entry is a hit") }
        let url = cache.directory.appendingPathComponent("k.json")
        let text = try String(contentsOf: url, encoding: .utf8)
        let stale = text.replacingOccurrences(of: #"{"text":{"_0":"fine"}}"#, with: #"{"table":{"_0":{"columns":["run"],"rows":[[{"name":"run","value":{"run":"abc"}}]]}}}"#)
        XCTAssertNotEqual(stale, text, "the entry's form is what the test expects")
        try stale.write(to: url, atomically: true, encoding: .utf8)
        guard case .unusable(let why) = cache.lookup("k") else { return XCTFail("an entry that cannot be decoded is no hit") }
        XCTAssertTrue(why.hasPrefix("its cache entry cannot be read (run abc can be restored only from a run archive"), why)
    }
}
