// Expressions, statements, commands' arguments and errors, table-driven; a failed statement
// changes nothing.
import XCTest
@testable import Kernel
import Model

final class EvaluatorTests: XCTestCase {
    func value(_ source: String, _ session: Session = Session()) throws -> Value {
        let (statements, d) = Parser.parse("let __v = " + source, commands: session.registry.names)
        if let first = d.first { throw first }
        try Evaluator(session: session).run(statements)
        return session.variables["__v"]!
    }

    func testExpressions() throws {
        let table: [(String, Value)] = [
            ("1 + 2 * 3", .number(7)), ("(1 + 2) * 3", .number(9)), ("7 % 3", .number(1)), ("-2 - -3", .number(1)),
            ("\"a\" + 1", .string("a1")), ("[1] + [2, 3]", .list([.number(1), .number(2), .number(3)])),
            ("1..3", .list([.number(1), .number(2), .number(3)])), ("3..1", .list([])),
            ("1 < 2 and 2 <= 2 and not (3 == 4)", .bool(true)), ("\"a\" < \"b\"", .bool(true)), ("false or 1 != 1", .bool(false)),
            ("{a: 1, b: [2]}.b[0]", .number(2)), ("[5, 6, 7][-1]", .number(7)), ("mean([1, 2, 3])", .number(2)),
            ("std([2, 4])", .number(2.0.squareRoot())), ("min(3, 1, 2)", .number(1)), ("max([3, 1])", .number(3)),
            ("round(3.14159, 2)", .number(3.14)), ("len(\"abc\")", .number(3)), ("abs(-2)", .number(2)), ("sum(1..4)", .number(10)),
            ("str(2.5) + \"x\"", .string("2.5x")), ("ratio(1, 4)", .number(0.25)), ("len(table())", .number(0)),
        ]
        for (source, expected) in table { XCTAssertEqual(try value(source), expected, source) }
    }

    func testErrorsAreLocatedAndSayWhatWasExpected() {
        let table: [(String, String)] = [
            ("1 + [2]", "'+' cannot combine a number and a list (1 + [2])"),
            ("nope + 1", "unknown variable 'nope'"),
            ("[1, 2][5]", "index 5 is out of range for a list of 2"),
            ("{a: 1}.b", "no field 'b' in this record"),
            ("1 / 0", "division by zero"),
            ("mean([])", "mean() of an empty list"),
            ("mena([1])", "unknown function 'mena'"),
            ("1..2.5", "a range needs integers, got number 2.5"),
            ("not 1", "'not' needs true or false, got number 1"),
            ("1 + train", "'train' is a command, not a value"),
        ]
        for (source, message) in table {
            XCTAssertThrowsError(try value(source), source) { error in
                XCTAssertEqual((error as? Diagnostic)?.message, message, source)
                XCTAssertNotNil((error as? Diagnostic)?.location, "\(source): located")
            }
        }
        XCTAssertThrowsError(try value("{a: 1}.acuracy + {accuracy: 2}.acuracy")) {
            XCTAssertEqual(($0 as? Diagnostic)?.hint, "its fields: a")
        }
    }

    /// CSV as RFC 4180 quotes it, text a spreadsheet would run as a formula defused, TSV without
    /// stray separators; a chart's numbers as a table.
    func testTablesAndChartsAsCSV() {
        var t = Table(title: "Rank sweep")
        t.append(Record([("name", .string("a, \"b\"")), ("acc", .number(0.5))]))
        t.append(Record([("name", .string("=HYPERLINK(\"http://x\")")), ("acc", .number(-1))]))
        t.append(Record([("name", .string("line\nbreak\tx"))]))
        XCTAssertEqual(t.csv(), "name,acc\n\"a, \"\"b\"\"\",0.5\n\"'=HYPERLINK(\"\"http://x\"\")\",-1\n\"line\nbreak\tx\",\n")
        XCTAssertEqual(t.tsv(), "name\tacc\na, \"b\"\t0.5\n'=HYPERLINK(\"http://x\")\t-1\nline break x\t\n")
        XCTAssertEqual(Table.stem(t.title, fallback: "x"), "rank-sweep")
        XCTAssertEqual(Table.stem("../../etc/passwd", fallback: "x"), "etc-passwd")
        XCTAssertEqual(Table.stem("", fallback: "cell-2-table-1"), "cell-2-table-1")
        let chart = Chart(kind: .line, title: "t", xLabel: "rank", yLabel: "accuracy", logX: false,
                          series: [.init(name: "lora", points: [(1, 0.3, nil), (8, 0.4, 0.02)], categories: nil)], categories: nil)
        XCTAssertEqual(chart.data.csv(), "series,rank,accuracy,error\nlora,1,0.3,\nlora,8,0.4,0.02\n")
    }

    /// Tables show each column at the precision its data has (four significant digits for its
    /// largest value), the same in text and HTML; CSV keeps every digit.
    func testTableCellsRoundToTheirColumnsPrecision() {
        var t = Table()
        t.append(Record([("rank", .number(1)), ("memory_mb", .number(278.3333333)), ("acc", .number(0.31)), ("std", .number(0.0123456))]))
        t.append(Record([("rank", .number(8)), ("memory_mb", .number(265.1)), ("acc", .number(0.41234)), ("std", .number(0.002))]))
        XCTAssertEqual(OutputText.cells(t), [["1", "278.3", "0.3100", "0.01235"], ["8", "265.1", "0.4123", "0.00200"]])
        XCTAssertTrue(OutputText.table(t).contains("278.3  0.3100"), OutputText.table(t))
        XCTAssertTrue(t.csv().contains("278.3333333"))
    }

    /// Argument binding against the specs: every kind of mistake, one message each.
    func testCommandArgumentErrors() {
        let table: [(String, String)] = [
            ("lora rank=\"x\"", "parameter 'rank' of 'lora' expects an integer, got string \"x\""),
            ("lora rank=2.5", "parameter 'rank' of 'lora' expects an integer, got number 2.5"),
            ("lora targets=attenion", "parameter 'targets' of 'lora' expects one of"),
            ("lora rank=1 rank=2", "parameter 'rank' is given twice"),
            ("seed", "'seed' needs its value argument"),
            ("seed 1 2", "too many arguments for 'seed'"),
            ("seed -1", "seed must be ≥ 0, got -1"),
            ("train sst", "no model loaded"),
            ("report", "no run to report on"),
            ("spectrum", "no run to analyse"),
            ("lora amp=1", "parameter 'amp' of 'lora' expects"),
            ("table 5", "expected a table, a record or a list of records, got number 5"),
            ("plot table() x=a y=b", "the table has no column 'a'"),
            ("save [1] \"/tmp/x.png\"", "cannot save a list as .png"),
            ("expect 1 + 1", "a claim must be true or false, this is a number 2"),
            ("data nosuch", "unknown task 'nosuch'"),
            ("lora rank=0", "invalid rank 0: expected a rank of at least 1"),
            ("model \"/nonexistent/bert\"", "model folder '/nonexistent/bert' does not exist"),
            ("eval sst run=5", "parameter 'run' of 'eval' expects a run (the value of 'train' or 'load'), got number 5"),
            ("ensemble [1, 2] sst", "parameter 'runs' of 'ensemble' expects a run"),
            ("load \"/nonexistent.safetensors\"", "no model loaded"),
            ("help nosuch", "no command 'nosuch'"),
            ("full rank=2", "unknown parameter 'rank' for 'full'"),
            ("head amp=\"yes\"", "parameter 'amp' of 'head' expects"),
            ("dora rank=-1", "invalid rank -1: expected a rank of at least 1"),
            ("data sst split=test", "parameter 'split' of 'data' expects one of train, dev, got 'test'"),
            ("data \"x.csv\" text=a", "registering a file needs text=COLUMN and label=COLUMN"),
            ("train sst epochs=\"two\"", "parameter 'epochs' of 'train' expects an integer, got string \"two\""),
            ("table [1, 2]", "a table is made of records, and this list holds a number"),
            ("plot 3 x=a y=b", "expected a table, a record or a list of records, got number 3"),
            ("print nosuch", "unknown variable 'nosuch'"),
            ("quit 1", "too many arguments for 'quit'"),
            ("predict 1 \"good\"", "parameter 'run' of 'predict' expects a run"),
            ("truncate", "no run to truncate"),
            ("adalora init_rank=4", "invalid target_rank 8: expected 1 … init_rank (4)"),
            ("adalora beta1=1", "invalid beta1 1.0: expected 0 < β < 1"),
            ("adalora rank=4", "unknown parameter 'rank' for 'adalora'"),
        ]
        // every command has at least one row here
        let covered = Set(table.map { String($0.0.prefix { $0 != " " }) })
        XCTAssertEqual(Set(CommandRegistry.standard.order).subtracting(covered), [], "commands without an error row")
        for (source, message) in table {
            let (_, d, _) = K.run(source)
            XCTAssertEqual(d.count, 1, source)
            XCTAssertTrue(d.first?.message.hasPrefix(message) == true, "\(source): \(d.first?.message ?? "no error")")
            XCTAssertNotNil(d.first?.location, source)
        }
        let (_, d, _) = K.run("lora targets=attenion")
        XCTAssertEqual(d.first?.hint, "Did you mean 'attention'?")
    }

    func testFailedStatementChangesNothing() {
        let session = Session()
        _ = K.run("let x = 1\nlora rank=4\nlet t = table()\nt += {a: 1}", session: session)
        let (_, d, _) = K.run("x = 2\nlora rank=2\nt += {a: 2}\nx = 1 / 0", session: session)
        XCTAssertEqual(d.first?.message, "division by zero")
        XCTAssertEqual(session.variables["x"], .number(2), "statements before the failing one keep their effect")
        XCTAssertEqual(session.adaptation.rank, 2)
        let (_, d2, _) = K.run("for i in [1, 2, 3] {\n  t += {a: i}\n  x = x / (i - 2)\n}", session: session)
        XCTAssertEqual(d2.first?.message, "division by zero")
        guard case .table(let t)? = session.variables["t"] else { return XCTFail() }
        XCTAssertEqual(t.rows.count, 2, "the whole failed loop is undone")
        XCTAssertEqual(session.variables["x"], .number(2))
    }

    func testTablesGroupSortFilterAndColumns() throws {
        let session = Session()
        let (_, d, _) = K.run("""
        let t = table()
        for s in [0, 1, 2] {
          t += {mode: "lora", rank: 1, seed: s, acc: 0.30 + s / 100}
          t += {mode: "dora", rank: 8, seed: s, acc: 0.40 + s / 100}
        }
        let g = table t group=[mode, rank] sort=acc_mean desc=true
        let f = table t where=acc > 0.305 and mode == "lora" columns=[seed, acc]
        """, session: session)
        XCTAssertEqual(d, [])
        guard case .table(let g)? = session.variables["g"], case .table(let f)? = session.variables["f"] else { return XCTFail() }
        XCTAssertEqual(g.columns, ["mode", "rank", "n", "acc_mean", "acc_std", "acc_ci"], "seed is not aggregated")
        XCTAssertEqual(g.rows.map { $0["mode"]! }, [.string("dora"), .string("lora")])
        guard case .number(let m)? = g.rows[0]["acc_mean"], case .number(let sd)? = g.rows[0]["acc_std"] else { return XCTFail() }
        XCTAssertEqual(m, 0.41, accuracy: 1e-12); XCTAssertEqual(sd, 0.01, accuracy: 1e-12)
        XCTAssertEqual(f.columns, ["seed", "acc"]); XCTAssertEqual(f.rows.count, 2)
        XCTAssertNil(session.variables["acc"], "where= binds row fields only while it runs")
    }

    func testPlotBuildsSeriesAndGnuplotDraws() throws {
        let session = Session()
        _ = K.run("let t = table()\nt += {rank: 1, mode: \"lora\", acc: 0.3}\nt += {rank: 8, mode: \"lora\", acc: 0.4}\nt += {rank: 1, mode: \"dora\", acc: 0.31}\nlet c = plot t x=rank y=acc series=mode logx=true\nlet b = plot t x=mode y=acc kind=bar", session: session)
        guard case .chart(let c)? = session.variables["c"], case .chart(let b)? = session.variables["b"] else { return XCTFail("charts") }
        XCTAssertEqual(c.series.map(\.name), ["lora", "dora"])
        XCTAssertEqual(c.series[0].points.map(\.x), [1, 8])
        XCTAssertTrue(c.logX)
        XCTAssertEqual(b.categories, ["lora", "dora"])
        let svg = try Gnuplot.render(c, format: .svg(width: 400, height: 300))
        XCTAssertTrue(svg.contains("<svg"), "gnuplot made an SVG")
        let text = try Gnuplot.render(b, format: .text(width: 60, height: 20))
        XCTAssertTrue(text.contains("lora"), text)
    }

    func testExpectRecordsClaimsWithValues() {
        let (lines, d, result) = K.run("let a = 0.41\nlet b = 0.40\nexpect abs(a - b) <= 0.02 label=\"close\" note=\"paper: 0.02\"\nexpect a < b")
        XCTAssertEqual(d, [])
        XCTAssertEqual(result.failedClaims, 1)
        XCTAssertTrue(lines.contains("✓ passed: close (abs(a - b) = 0.0100, 0.02 = 0.0200) — paper: 0.02") || lines.contains { $0.hasPrefix("✓ passed: close (abs(a - b) = 0.0100") }, "\(lines)")
        XCTAssertTrue(lines.contains("✗ FAILED: a < b (a = 0.4100, b = 0.4000)"), "\(lines)")
    }

    func testSaveTablesAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let (_, d, _) = K.run("let t = table()\nt += {name: \"a, b\", v: 1}\nsave t \"\(dir.path)/t.csv\"\nsave t \"\(dir.path)/t.json\"")
        XCTAssertEqual(d, [])
        XCTAssertEqual(try String(contentsOfFile: dir.path + "/t.csv", encoding: .utf8), "name,v\n\"a, b\",1\n")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("t.json"))) as! [[String: Any]]
        XCTAssertEqual(json.first?["name"] as? String, "a, b")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["t.csv", "t.json"])
    }

    func testHelpComesFromTheRegistry() {
        let (lines, _, _) = K.run("help lora")
        XCTAssertTrue(lines.first?.hasPrefix("lora [rank=integer]") == true, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("targets (") })
        let (all, _, _) = K.run("help")
        for name in CommandRegistry.standard.order { XCTAssertTrue(all.contains { $0.hasPrefix("  \(name) ") }, name) }
    }
}
