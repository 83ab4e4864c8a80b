// The notebook runner and the cell cache against a fake kernel (no model, no language): the
// runner needs only the `NotebookKernel` interface. The fake's language is one statement a line:
// `x = 3` (a number), `print x`, `del x`, `fail`; a line `bad` is a static error.
import XCTest
import Foundation
@testable import Notebook
@testable import Kernel

final class FakeKernel: NotebookKernel {
    var variables: [String: Double] = [:]
    var saved: [String: Double] = [:]
    var executed: [String] = []
    var restored: [[StateChange]] = []
    var seed: UInt64 = 0

    struct Change: Codable { var set: [String: Double]; var removed: [String] }

    func configure(_ setup: KernelSetup) throws {
        if let seed = setup.seed { self.seed = seed }
        if case .folder(let url)? = setup.model { throw Diagnostic("no model at \(url.lastPathComponent)") }
        for (k, v) in setup.parameters { if case .number(let n) = v { variables[k] = n } }
        saved = variables
    }

    func check(_ source: String, firstLine: Int) -> [Diagnostic] {
        source.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { i, line in
            line == "bad" ? Diagnostic("bad statement", at: SourceLocation(line: firstLine + i, column: 1)) : nil
        }
    }

    func execute(_ source: String, firstLine: Int, stop: @escaping () -> Bool, abort: @escaping () -> Bool) -> ExecutionResult {
        executed.append(source)
        var outputs: [Output] = []
        for (i, line) in source.split(separator: "\n").enumerated() {
            let words = line.split(separator: " ").map(String.init)
            if words.count == 3, words[1] == "=", let n = Double(words[2]) { variables[words[0]] = n }
            else if words.count == 2, words[0] == "print" {
                guard let n = variables[words[1]] else {
                    return ExecutionResult(outputs: outputs, diagnostics: [Diagnostic("unknown \(words[1])", at: SourceLocation(line: firstLine + i, column: 7))])
                }
                outputs.append(.text("\(words[1]) = \(Value.format(n))"))
            } else if words.count == 2, words[0] == "del" { variables[words[1]] = nil }
            else if words == ["fail"] { return ExecutionResult(outputs: outputs, diagnostics: [Diagnostic("failed", at: SourceLocation(line: firstLine + i, column: 1))]) }
        }
        return ExecutionResult(outputs: outputs, diagnostics: [])
    }

    func saveChanges(runs: URL) throws -> StateChange {
        let change = Change(set: variables.filter { saved[$0.key] != $0.value }, removed: saved.keys.filter { variables[$0] == nil }.sorted())
        saved = variables
        return StateChange(json: String(decoding: try JSONEncoder().encode(change), as: UTF8.self), runs: [])
    }

    func restore(_ changes: [StateChange], runs: URL) throws {
        restored.append(changes)
        for c in changes {
            let change = try JSONDecoder().decode(Change.self, from: Data(c.json.utf8))
            for name in change.removed { variables[name] = nil }
            variables.merge(change.set) { _, new in new }
        }
        saved = variables
    }

    var facts: KernelFacts {
        KernelFacts(seed: seed, model: nil, dataFolder: URL(fileURLWithPath: "/data"), dataFiles: [], writtenFiles: [], quitRequested: false)
    }
}

final class FakeKernelTests: XCTestCase {
    func notebook(_ cells: [String], params: String = "") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fake-kernel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let front = params.isEmpty ? "" : "---\nparams:\n  \(params)\n---\n"
        let url = dir.appendingPathComponent("n.md")
        try (front + cells.map { "```lorabook\n\($0)\n```\n" }.joined(separator: "\n")).write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func run(_ url: URL, kernel: FakeKernel = FakeKernel(), _ configure: (inout ExecutionOptions) -> Void = { _ in }) throws -> ExecutedNotebook {
        var options = ExecutionOptions()
        configure(&options)
        return try NotebookRunner(kernel: kernel).run(try NotebookParser.load(url), options: options)
    }

    func texts(_ nb: ExecutedNotebook) -> [[String]] {
        nb.cells.map { $0.outputs.map { if case .text(let t) = $0 { return t }; return "?" } }
    }

    func testCellsRunInOrderWithTheParametersAsVariablesAndStopAtAFailure() throws {
        let url = try notebook(["x = 2\nprint n", "fail", "print x"], params: "n: 7")
        let kernel = FakeKernel()
        let nb = try run(url, kernel: kernel)
        XCTAssertEqual(texts(nb)[0], ["n = 7"])
        XCTAssertEqual(nb.status, .failed(cell: 1))
        XCTAssertEqual(nb.cells.map(\.status), [.ok, .failed, .notRun])
        XCTAssertEqual(nb.cells[1].diagnostics.first?.location?.line, 11, "located in the file (4 lines of front matter, the first cell, its fences)")
        XCTAssertEqual(kernel.executed, ["x = 2\nprint n", "fail"])
        let going = try run(url) { $0.continueOnError = true }
        XCTAssertEqual(going.cells.map(\.status), [.ok, .failed, .ok])
    }

    func testTheStaticCheckLivesInTheRunnerAndSkipsExpectErrorCells() throws {
        let url = try notebook(["x = 1", "bad"])
        let problems = NotebookRunner(kernel: FakeKernel()).check(try NotebookParser.load(url))
        XCTAssertEqual(problems.map(\.message), ["bad statement"])
        XCTAssertEqual(problems.first?.location?.line, 6)
        let marked = try NotebookParser.parse("```lorabook expect-error\nbad\n```\n", path: "m.md")
        XCTAssertTrue(NotebookRunner(kernel: FakeKernel()).check(marked).isEmpty)
    }

    func testAFrontMatterModelThatDoesNotLoadIsAModelError() throws {
        let dir = try notebook(["x = 1"]).deletingLastPathComponent()
        try "---\nmodel: nowhere\n---\n```lorabook\nx = 1\n```\n".write(to: dir.appendingPathComponent("m.md"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try run(dir.appendingPathComponent("m.md"))) { e in
            guard case NotebookError.model(let m) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(m, "front matter 'model: nowhere': no model at nowhere")
        }
    }

    /// A cached cell is not executed; the kernel's state is brought up to date from the cached
    /// cells' changes, in order, only when a later cell must run; each entry holds only what its
    /// cell changed.
    func testCachedCellsRestoreTheirChangesInOrderBeforeACellRuns() throws {
        let url = try notebook(["a = 1\nb = 2", "b = 3\ndel a\nc = 4", "print b\nprint c"])
        let first = try run(url)
        XCTAssertEqual(texts(first)[2], ["b = 3", "c = 4"])
        let cache = CellCache(notebook: url)
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path).filter { $0.hasSuffix(".json") }
        XCTAssertEqual(entries.count, 3)
        let changes = try entries.map { name -> String in
            let json = try RunArchive.decoder().decode(CellCache.Entry.self, from: Data(contentsOf: cache.directory.appendingPathComponent(name))).change.json
            let c = try JSONDecoder().decode(FakeKernel.Change.self, from: Data(json.utf8))
            return "set \(c.set.sorted { $0.key < $1.key }.map { "\($0.key)=\(Int($0.value))" }) removed \(c.removed)"
        }.sorted()
        XCTAssertEqual(changes, ["set [\"a=1\", \"b=2\"] removed []", "set [\"b=3\", \"c=4\"] removed [\"a\"]", "set [] removed []"],
                       "each entry holds what its cell changed, the last cell nothing")

        let kernel = FakeKernel()
        let again = try run(url, kernel: kernel)
        XCTAssertEqual(again.cells.map(\.cached), [true, true, true])
        XCTAssertEqual(kernel.executed, [], "no cell ran")
        XCTAssertEqual(kernel.restored.count, 0, "nothing to restore when nothing runs")

        var text = try String(contentsOf: url, encoding: .utf8)
        text = text.replacingOccurrences(of: "print b\nprint c", with: "print c\nprint b")
        try text.write(to: url, atomically: true, encoding: .utf8)
        let edited = FakeKernel()
        let nb = try run(url, kernel: edited)
        XCTAssertEqual(nb.cells.map(\.cached), [true, true, false])
        XCTAssertEqual(edited.restored.count, 1)
        XCTAssertEqual(edited.restored.first?.count, 2, "both cached cells' changes, in order")
        XCTAssertEqual(texts(nb)[2], ["c = 4", "b = 3"])
        XCTAssertNil(edited.variables["a"], "a removed by the second cell")
    }

    func testAnEntryThatDoesNotDecodeIsAMissThatSaysWhy() throws {
        let url = try notebook(["a = 1", "print a"])
        _ = try run(url)
        let cache = CellCache(notebook: url)
        for name in try FileManager.default.contentsOfDirectory(atPath: cache.directory.path) where name.hasSuffix(".json") {
            let file = cache.directory.appendingPathComponent(name)
            let text = try String(contentsOf: file, encoding: .utf8)
            try text.replacingOccurrences(of: "\"status\"", with: "\"state\"").write(to: file, atomically: true, encoding: .utf8)
        }
        let runner = NotebookRunner(kernel: FakeKernel())
        var said: [String] = []
        runner.log = { said.append($0) }
        let nb = try runner.run(try NotebookParser.load(url))
        XCTAssertEqual(nb.cells.map(\.cached), [false, false])
        XCTAssertEqual(texts(nb)[1], ["a = 1"])
        XCTAssertTrue(said.contains("cell 1/2 (cell-1): not from the cache: its cache entry cannot be read (no 'status' at the top)"), "\(said)")
    }

    /// The executed notebook is Codable: kept as JSON and read back, it renders the same report.
    func testTheExecutedNotebookRoundTripsAndRendersTheSameReport() throws {
        let url = try notebook(["x = 2\nprint x", "fail"], params: "n: 7")
        var nb = try run(url) { $0.continueOnError = true }
        let chart = Chart(kind: .bar, title: "t", xLabel: "x", yLabel: "y", logX: false,
                          series: [Chart.Series(name: "s", points: [(0, 0.5, 0.1), (1, .nan, nil)], categories: ["a", "b"])], categories: ["a", "b"])
        nb.cells[0].outputs += [.table(Table(rows: [Record([("rank", .number(1)), ("acc", .number(0.41))])], title: "runs")), .chart(chart),
                                .claim(Claim(label: "holds", passed: true, expression: "1 < 2", values: [("a", .number(1))], detail: nil, interval: [0.1, 0.2])),
                                .metrics("eval", Record([("accuracy", .number(0.5))])), .warning("careful")]
        nb.interruption = "SIGINT"
        let data = try RunArchive.encoder().encode(nb)
        let back = try RunArchive.decoder().decode(ExecutedNotebook.self, from: data)
        XCTAssertEqual(back.cells.map(\.status), [.ok, .failed])
        XCTAssertEqual(back.parameters.map(\.0), ["n"])
        XCTAssertEqual(back.environment.map(\.0), nb.environment.map(\.0))
        let render = { (n: ExecutedNotebook) in try HTMLRenderer.render(n, chart: { _ in "<svg>chart</svg>" }) }
        XCTAssertEqual(try render(back), try render(nb))
    }
}
