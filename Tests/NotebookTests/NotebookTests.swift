// Notebooks: parsing (format, options, located errors), running on a tiny model end to end, the
// failure path, and the HTML renderer (structure, unique chart ids, a masked snapshot).
import XCTest
import Foundation
@testable import Notebook
@testable import Kernel
@testable import Model

final class NotebookTests: XCTestCase {
    func testParsesFrontMatterCellsAndOptions() throws {
        let text = """
        ---
        title: Demo
        params:
          limit: 100
          ranks: [1, 2]
          name: x
        seed: 3
        colour: blue
        ---
        # Heading

        ```python
        print("shown, not run")
        ```

        ```lorabook id=first echo=false timeout=30 expect-error bogus=1
        let x = 1
        ```
        Text.
        ```lorabook
        print x
        ```
        """
        let nb = try NotebookParser.parse(text, path: "demo.md")
        XCTAssertEqual(nb.frontMatter.title, "Demo")
        XCTAssertEqual(nb.frontMatter.seed, 3)
        XCTAssertEqual(nb.frontMatter.parameters.map(\.0), ["limit", "ranks", "name"], "written order")
        XCTAssertEqual(nb.frontMatter.parameters[1].1, .list([.number(1), .number(2)]))
        XCTAssertEqual(nb.cells.count, 2)
        XCTAssertEqual(nb.cells[0].line, 17); XCTAssertEqual(nb.cells[0].source, "let x = 1")
        XCTAssertEqual(nb.cells[0].anchor, "first"); XCTAssertFalse(nb.cells[0].options.echo)
        XCTAssertEqual(nb.cells[0].options.timeout, 30); XCTAssertTrue(nb.cells[0].options.expectError)
        XCTAssertEqual(nb.cells[1].anchor, "cell-2"); XCTAssertEqual(nb.cells[1].line, 21)
        XCTAssertEqual(nb.warnings.map(\.message), ["unknown front-matter key 'colour' (ignored)", "unknown cell option 'bogus' (ignored)"])
        XCTAssertEqual(nb.warnings.map { $0.location!.line }, [8, 16])
        guard case .markdown(let md, _) = nb.blocks[0] else { return XCTFail() }
        XCTAssertTrue(md.contains("```python"), "other fences stay in the prose")
    }

    func testBadNotebooksGiveLocatedErrors() {
        let table: [(String, String, Int)] = [
            ("# x\n\n```lorabook\nprint 1\n", "the code fence opened here is never closed", 3),
            ("---\ntitle: [unclosed\n---\n", "invalid front matter", 3),  // YAML reports where it gave up
            ("---\ntitle: x\n", "the front matter opened here is never closed", 1),
            ("---\nseed: -1\n---\n", "invalid front matter: seed must be a non-negative integer", 2),
            ("```lorabook id=a\n```\n```lorabook id=a\n```\n", "two cells have the id 'a'", 3),
        ]
        for (text, message, line) in table {
            XCTAssertThrowsError(try NotebookParser.parse(text, path: "bad.md"), message) { error in
                guard let f = (error as? NotebookError)?.diagnostic else { return XCTFail("\(error)") }
                XCTAssertTrue(f.message.hasPrefix(message), "\(f.message)")
                XCTAssertEqual(f.location?.line, line, message)
            }
        }
        XCTAssertThrowsError(try NotebookParser.load(URL(fileURLWithPath: "/nonexistent/nb.md"))) {
            XCTAssertTrue("\($0)".hasPrefix("/nonexistent/nb.md: error: no such notebook file"), "\($0)")
        }
    }

    func testParameterOverridesAreTyped() throws {
        var f = FrontMatter()
        f.parameters = [("limit", .number(100)), ("ranks", .list([.number(1)])), ("name", .string("a")), ("fast", .bool(false))]
        let p = try NotebookRunner.parameters(f, overrides: [("limit", "250"), ("ranks", "[1, 2, 4]"), ("name", "hello world"), ("fast", "true")])
        XCTAssertEqual(p.map(\.1), [.number(250), .list([.number(1), .number(2), .number(4)]), .string("hello world"), .bool(true)])
        XCTAssertThrowsError(try NotebookRunner.parameters(f, overrides: [("limt", "5")])) {
            XCTAssertEqual("\($0)", "unknown parameter 'limt' in -p limt=5 (the notebook declares: limit, ranks, name, fast). Did you mean 'limit'?")
        }
        XCTAssertThrowsError(try NotebookRunner.parameters(f, overrides: [("limit", "many")])) {
            XCTAssertEqual("\($0)", "parameter 'limit' expects a number like its default 100, got 'many'")
        }
        // a -p value is a literal, never evaluated: an expression is text, which a number rejects
        XCTAssertThrowsError(try NotebookRunner.parameters(f, overrides: [("limit", "2 * 3")]))
        XCTAssertEqual(try NotebookRunner.parameters(f, overrides: [("name", "len([1])")])[2].1, .string("len([1])"))
        XCTAssertEqual(Value(literal: "-5e-4"), .number(-5e-4))
        XCTAssertEqual(Value(literal: "{lr: 0.002, tags: [\"a\", true]}"), .record(Record([("lr", .number(0.002)), ("tags", .list([.string("a"), .bool(true)]))])))
        XCTAssertNil(Value(literal: "x"))
        XCTAssertNil(Value(literal: "[1, x]"))
        XCTAssertNil(Value(literal: "1 2"))
    }

    /// The front matter's model loads by its path as a value, not as generated source: a folder
    /// whose name holds a quote loads.
    func testFrontMatterModelPathWithAQuoteLoads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-q-\(UUID().uuidString)")
        try TinyModel.write(to: dir.appendingPathComponent("ti\"ny"))
        let url = dir.appendingPathComponent("nb.md")
        try "---\ntitle: Q\nmodel: ti\"ny\n---\n```lorabook\nprint 1\n```\n".write(to: url, atomically: true, encoding: .utf8)
        let runner = NotebookRunner(kernel: Interpreter())
        let executed = try runner.run(try NotebookParser.load(url))
        XCTAssertEqual(executed.status, .success)
        XCTAssertEqual((runner.kernel as? Interpreter)?.session.model?.config.hiddenSize, 8, "the tiny model in the folder named ti\"ny")
        // and one that does not load says so, as a model error
        try "---\ntitle: Q\nmodel: no\"such\n---\n```lorabook\nprint 1\n```\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try NotebookRunner(kernel: Interpreter()).run(try NotebookParser.load(url))) { e in
            guard case NotebookError.model(let message)? = e as? NotebookError else { return XCTFail("\(e)") }
            XCTAssertTrue(message.hasPrefix("front matter 'model: no\"such': model folder"), message)
        }
    }

    /// A tiny BERT, a toy data file and a notebook, made here; run end to end and rendered.
    static func tinyNotebook(extraCell: String = "") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-nb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try TinyModel.write(to: dir.appendingPathComponent("tiny"))
        var csv = "\tid\tsentence\tlabel\n"
        let words = ["the cat sat", "a dog is running", "the mat", "big dog"]
        for i in 0..<32 { csv += "\(i)\tx\(i)\t\(words[i % 4])\t\(i % 2)\n" }
        try csv.write(to: dir.appendingPathComponent("toy.csv"), atomically: true, encoding: .utf8)
        let notebook = """
        ---
        title: Tiny
        params:
          ranks: [1, 2]
        seed: 1
        model: tiny
        ---
        # Tiny sweep

        ```lorabook id=data
        data "\(dir.path)/toy.csv" name=toy text=sentence label=label
        ```

        ```lorabook id=sweep
        let results = table()
        for r in ranks {
          lora rank=r
          let run = train toy epochs=2 batch=8
          let e = eval toy
          results += {rank: r, accuracy: e.accuracy, trainable: run.trainable}
        }
        table results
        plot results x=rank y=accuracy logx=true title="rank vs accuracy"
        ```

        ## Claims

        ```lorabook id=claims
        expect results[1].trainable > results[0].trainable label="rank 2 trains more"
        ```
        \(extraCell)
        """
        let url = dir.appendingPathComponent("tiny.md")
        try notebook.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testTinyNotebookRunsEndToEnd() throws {
        let url = try Self.tinyNotebook()
        let doc = try NotebookParser.load(url)
        let executed = try NotebookRunner(kernel: Interpreter()).run(doc)
        XCTAssertEqual(executed.status, .success, executed.cells.flatMap(\.diagnostics).map(\.message).joined())
        XCTAssertEqual(executed.cells.map(\.status), [.ok, .ok, .ok])
        XCTAssertEqual(executed.claims.count, 1)
        XCTAssertTrue(executed.claims[0].claim.passed)
        XCTAssertTrue(executed.environment.contains { $0.0 == "model" })
        XCTAssertTrue(executed.environment.contains { $0.0 == "data" && $0.1.hasPrefix("toy.csv sha256:") })
        let html = try HTMLRenderer.render(executed)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        for needle in ["<h1 class=\"title\">Tiny</h1>", "Claims: 1 of 1 hold", "<section class=\"cell ok\" id=\"cell-sweep\">", "<table class=\"data\">",
                       "<svg", "id=\"chart1-", "<h1 id=\"tiny-sweep\">", "prefers-color-scheme: dark", "@media print"] {
            XCTAssertTrue(html.contains(needle), "the report has \(needle)")
        }
        for forbidden in ["<script", "src=\"http", "href=\"http", "<?xml", "<link "] { XCTAssertFalse(html.contains(forbidden), forbidden) }
    }

    /// Every table and chart in a report links its data as CSV (a data: URI, so the report stays one
    /// offline file), and the same data exports as files.
    func testReportLinksAndExportsItsData() throws {
        let url = try Self.tinyNotebook()
        let executed = try NotebookRunner(kernel: Interpreter()).run(try NotebookParser.load(url))
        let html = try HTMLRenderer.render(executed)
        let links = html.components(separatedBy: "<p class=\"data-link\"><a download=\"").dropFirst()
        XCTAssertGreaterThanOrEqual(links.count, 2, "a table and a chart")
        let items = ReportData.items(executed)
        XCTAssertEqual(items.count, links.count)
        for (link, item) in zip(links, items) {
            XCTAssertTrue(link.hasPrefix(item.name + ".csv\""), "\(link.prefix(80)) against \(item.name)")
            let base64 = link.components(separatedBy: "base64,")[1].components(separatedBy: "\"")[0]
            XCTAssertEqual(String(decoding: try XCTUnwrap(Data(base64Encoded: base64)), as: UTF8.self), item.table.csv())
        }
        let chart = try XCTUnwrap(items.first { $0.name.hasSuffix("-data") })
        XCTAssertTrue(chart.table.csv().hasPrefix("series,"), chart.table.csv())
        let folder = url.deletingLastPathComponent().appendingPathComponent("export")
        let files = try ReportData.export(executed, to: folder)
        XCTAssertEqual(files.map { $0.deletingPathExtension().lastPathComponent }, items.map(\.name))
        XCTAssertEqual(try String(contentsOf: files[0], encoding: .utf8), items[0].table.csv())
    }

    func testFailingCellStopsTheRunWithABanner() throws {
        let url = try Self.tinyNotebook(extraCell: "\n```lorabook id=broken\nprint nosuchvar\n```\n\n```lorabook id=after\nprint 1\n```\n")
        let executed = try NotebookRunner(kernel: Interpreter()).run(try NotebookParser.load(url))
        XCTAssertEqual(executed.status, .failed(cell: 3))
        XCTAssertEqual(executed.cells.map(\.status), [.ok, .ok, .ok, .failed, .notRun])
        XCTAssertEqual(executed.cells[3].diagnostics.first?.message, "unknown variable 'nosuchvar'")
        XCTAssertEqual(executed.cells[3].diagnostics.first?.location, SourceLocation(line: executed.cells[3].cell.line, column: 7))
        let html = try HTMLRenderer.render(executed)
        XCTAssertTrue(html.contains("This run stopped at <a href=\"#cell-broken\">cell 4 (broken)</a>"), "banner")
    }

    func testContinueOnErrorAndTimeouts() throws {
        let url = try Self.tinyNotebook(extraCell: "\n```lorabook id=broken\nprint nosuchvar\n```\n\n```lorabook id=slow timeout=0.001\nlora rank=2\nlet r = train toy epochs=50 batch=4\n```\n\n```lorabook id=after\nprint \"ran\"\n```\n")
        var options = ExecutionOptions()
        options.continueOnError = true
        options.cache = false
        let executed = try NotebookRunner(kernel: Interpreter()).run(try NotebookParser.load(url), options: options)
        XCTAssertEqual(executed.cells.map(\.status), [.ok, .ok, .ok, .failed, .failed, .ok], "every cell runs")
        XCTAssertEqual(executed.status, .failed(cell: 3), "the first failure is reported")
        XCTAssertTrue(executed.cells[4].diagnostics.first?.message.contains("past its timeout of 0.001 s") == true, "\(executed.cells[4].diagnostics)")
        XCTAssertTrue(executed.cells[4].outputs.contains { if case .warning(let w) = $0 { return w.hasPrefix("training stopped after step") }; return false },
                      "the training was stopped between steps: \(executed.cells[4].outputs)")
        XCTAssertEqual(executed.cells[5].outputs, [.text("ran")])
    }

    func testExpectErrorCells() throws {
        let url = try Self.tinyNotebook(extraCell: "\n```lorabook expect-error\nprint nosuchvar\n```\n\n```lorabook\nprint \"still runs\"\n```\n")
        let executed = try NotebookRunner(kernel: Interpreter()).run(try NotebookParser.load(url))
        XCTAssertEqual(executed.status, .success)
        XCTAssertEqual(executed.cells.map(\.status).suffix(2), [.expectedError, .ok])
    }

    /// gnuplot missing or failing: a clear error naming the chart's cell.
    func testChartFailureNamesTheCell() throws {
        let doc = try NotebookParser.parse("```lorabook id=plotting\nplot t x=a y=b\n```\n", path: "/x/nb.md")
        let chart = Chart(kind: .line, title: nil, xLabel: "a", yLabel: "b", logX: false, series: [], categories: nil)
        let nb = ExecutedNotebook(document: doc, parameters: [], cells: [ExecutedCell(cell: doc.cells[0], outputs: [.chart(chart)], diagnostics: [], status: .ok, seconds: 0, memoryDelta: 0)],
                                  status: .success, started: Date(), seconds: 0, environment: [])
        struct Missing: Error, CustomStringConvertible { var description: String { "gnuplot is not installed" } }
        XCTAssertThrowsError(try HTMLRenderer.render(nb, chart: { _ in throw Missing() })) {
            XCTAssertEqual("\($0)", "/x/nb.md:2: error: chart of cell 'plotting' could not be drawn: gnuplot is not installed")
        }
    }

    func testUniqueChartIDs() {
        let svg = "<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n<svg><defs><path id='gpPt0'/><g id=\"gnuplot_canvas\"></g></defs><use xlink:href='#gpPt0'/><rect fill=\"url(#gnuplot_canvas)\"/></svg>"
        let a = HTMLRenderer.uniqueIDs(svg, prefix: "chart1-")
        XCTAssertEqual(a, "<svg><defs><path id='chart1-gpPt0'/><g id=\"chart1-gnuplot_canvas\"></g></defs><use xlink:href='#chart1-gpPt0'/><rect fill=\"url(#chart1-gnuplot_canvas)\"/></svg>")
    }

    /// The renderer on a constructed executed notebook (no model), against a recorded snapshot with
    /// times, dates and paths masked. Record with LORABOOK_RECORD_SNAPSHOTS=1.
    func testHTMLSnapshot() throws {
        let doc = try NotebookParser.parse("---\ntitle: Snapshot\nparams: {limit: 5}\n---\n# Results\n\nSome *prose* with a [link](#results).\n\n```lorabook id=t\ntable t\n```\n\n```lorabook id=c\nexpect a > b\n```\n", path: "/x/snap.md")
        var t = Table(); t.append(Record([("rank", .number(1)), ("acc", .number(0.31234))])); t.append(Record([("rank", .number(8)), ("acc", .number(0.41))]))
        let claim = Claim(label: "rank 8 wins", passed: true, expression: "a > b", values: [("a", .number(0.41)), ("b", .number(0.31))], detail: "paper: +0.01")
        let cells = [
            ExecutedCell(cell: doc.cells[0], outputs: [.table(t), .metrics("eval", Record([("accuracy", .number(0.41))])), .chart(Chart(kind: .line, title: "c", xLabel: "x", yLabel: "y", logX: false, series: [], categories: nil))], diagnostics: [], status: .ok, seconds: 1.5, memoryDelta: 0),
            ExecutedCell(cell: doc.cells[1], outputs: [.claim(claim), .warning("careful")], diagnostics: [], status: .ok, seconds: 0.1, memoryDelta: 0),
        ]
        let nb = ExecutedNotebook(document: doc, parameters: [("limit", .number(5))], cells: cells, status: .success,
                                  started: Date(timeIntervalSince1970: 0), seconds: 1.6, environment: [("lorabook", "X"), ("BLAS", "OpenBLAS core test")])
        let html = try HTMLRenderer.render(nb, chart: { _ in "<svg id='gnuplot_canvas'><text>chart</text></svg>" })
        let masked = html.replacingOccurrences(of: #"\d+\.\d+ s"#, with: "<time>", options: .regularExpression)
            .replacingOccurrences(of: LorabookVersion.current, with: "<version>")
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots/report.html")
        if ProcessInfo.processInfo.environment["LORABOOK_RECORD_SNAPSHOTS"] == "1" {
            try masked.write(to: url, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(masked, expected, "the report changed; if on purpose, record again with LORABOOK_RECORD_SNAPSHOTS=1")
    }
}

/// A tiny random BERT checkpoint (hidden 8, 2 layers) for notebook tests.
enum TinyModel {
    static func write(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let config: [String: Any] = ["hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16,
                                     "max_position_embeddings": 32, "type_vocab_size": 2, "vocab_size": 24, "hidden_act": "gelu", "_name_or_path": "tiny"]
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "is", "running", "big", "x",
                     ".", ",", "run", "##s", "small", "and", "of", "to"]
        try (vocab.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        let p = BertParameters(config: BertConfig(hiddenSize: 8, numLayers: 2, numHeads: 2, intermediateSize: 16, maxPositions: 32, vocabSize: 24))
        var rng = SplitMix64(seed: 7)
        for i in 0..<p.count { p.storage.base[i] = Float(rng.nextUniform() * 0.4 - 0.2) }
        for (n, t) in p.named where n.hasSuffix("LayerNorm.weight") { t.fill(1) }
        try SafeTensorsWriter.write(p.named.map { (name: $0.name, tensor: $0.tensor) }, to: folder.appendingPathComponent("model.safetensors"))
    }
}
