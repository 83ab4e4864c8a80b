// Notebook text never reaches gnuplot as script: hostile strings in every chart field (title, axis
// labels, series names, bar categories) draw as text, and nothing outside the chart happens.
import XCTest
import Foundation
@testable import Kernel

final class ChartSafetyTests: XCTestCase {
    /// Each would run `touch PWNED…` or write a file if it reached gnuplot's script as code.
    static let hostile: [String] = [
        "T\" \nsystem 'touch PWNED1'\n#",
        "`touch PWNED2`",
        "a \"`touch PWNED3`\" b",
        "x' ; system 'touch PWNED4' ; '",
        "x'\nsystem 'touch PWNED5'\n'",
        "\nEOD\nsystem 'touch PWNED6'\n$data << EOD",
        "EOD",
        "set output 'PWNED7'",
        "a\rsystem 'touch PWNED8'\r#",
        "!touch PWNED9",
        "@x `touch PWNED10` \\' \\\\ ''",
        "nul\u{0}and\u{1B}[31mescape\u{7F}",
        "line\u{2028}sep\u{85}nel",
        "<script>alert(1)</script> & a_b^{c}",
        "ünïcødé 中文 😀",
    ]

    /// What the chart shows for a string: control characters as spaces or U+FFFD, then XML-escaped.
    static func shown(_ s: String) -> String {
        var t = ""
        for u in s.unicodeScalars {
            switch u {
            case "\n", "\r", "\t", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}": t += " "
            case _ where u.properties.generalCategory == .control: t += "\u{FFFD}"
            default: t.unicodeScalars.append(u)
            }
        }
        return t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }

    func charts(_ h: String) -> [Chart] {
        let points: [(x: Double, y: Double, error: Double?)] = [(0, 0.3, nil), (1, 0.5, nil)]
        let withErrors: [(x: Double, y: Double, error: Double?)] = [(0, 0.3, 0.01), (1, 0.5, 0.02)]
        return [
            Chart(kind: .line, title: h, xLabel: h, yLabel: h, logX: false, series: [.init(name: h, points: points, categories: nil)], categories: nil),
            Chart(kind: .scatter, title: h, xLabel: h, yLabel: h, logX: true, series: [.init(name: h, points: [(1, 0.3, 0.1), (2, 0.5, 0.1)], categories: nil)], categories: nil),
            Chart(kind: .bar, title: h, xLabel: h, yLabel: h, logX: false,
                  series: [.init(name: h, points: points, categories: [h, "b"]), .init(name: "s2", points: points, categories: [h, "b"])], categories: [h, "b"]),
            Chart(kind: .bar, title: h, xLabel: h, yLabel: h, logX: false,
                  series: [.init(name: h, points: withErrors, categories: [h, "b"])], categories: [h, "b"]),
            Chart(kind: .line, title: h, xLabel: h, yLabel: h, logX: false,
                  series: [.init(name: h, points: withErrors, categories: ["a", h])], categories: ["a", h]),
            Chart(kind: .heatmap, title: h, xLabel: h, yLabel: h, logX: false,
                  series: [.init(name: h, points: points, categories: nil), .init(name: "r2", points: points, categories: nil)], categories: [h, "b"]),
        ]
    }

    func testHostileStringsInEveryChartFieldAreTextNotScript() throws {
        try XCTSkipIf(Gnuplot.executable == nil, "gnuplot is not installed")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-chart-safety-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.path))   // gnuplot's relative paths land here
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }

        for h in Self.hostile {
            for (k, chart) in charts(h).enumerated() {
                let script = Gnuplot.script(chart, format: .svg(width: 400, height: 300))
                // no line of the script starts with notebook text: every line is lorabook's own
                for line in script.split(separator: "\n") {
                    XCTAssertFalse(line.hasPrefix("system") || line.hasPrefix("!") || line.hasPrefix("set output") || line.hasPrefix("#"),
                                   "chart \(k) of \(h.debugDescription): a script line made of notebook text: \(line)")
                }
                XCTAssertFalse(script.contains("`") && !h.contains("`"))
                let svg = try Gnuplot.render(chart, format: .svg(width: 400, height: 300))
                XCTAssertTrue(svg.contains("<svg"), "chart \(k) of \(h.debugDescription) drew")
                XCTAssertTrue(svg.contains(Self.shown(h)), "chart \(k): \(h.debugDescription) is shown literally as \(Self.shown(h).debugDescription)")
                _ = try Gnuplot.render(chart, format: .text(width: 70, height: 20))
            }
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(left, [], "gnuplot wrote files: \(left)")
        let pwned = try FileManager.default.contentsOfDirectory(atPath: previous).filter { $0.hasPrefix("PWNED") }
        XCTAssertEqual(pwned, [])
    }

    func testTheLanguagesPlotPassesHostileTextAsText() throws {
        try XCTSkipIf(Gnuplot.executable == nil, "gnuplot is not installed")
        let session = Session()
        let source = """
        let t = table()
        t += {name: "a`touch PWNED11`", v: 1, s: "x\\nsystem 'touch PWNED12'\\n#"}
        t += {name: "\\nEOD\\nsystem 'touch PWNED13'", v: 2, s: "y"}
        let c = plot t x=name y=v series=s kind=bar title="T\\" \\nsystem 'touch PWNED14'\\n#" xlabel="`id`" ylabel="'\\n!id"
        """
        let (_, diagnostics, _) = K.run(source, session: session)
        XCTAssertEqual(diagnostics.map(\.message), [])
        guard case .chart(let chart)? = session.variables["c"] else { return XCTFail("no chart") }
        let svg = try Gnuplot.render(chart, format: .svg(width: 400, height: 300))
        for text in ["T\" \nsystem 'touch PWNED14'\n#", "`id`", "a`touch PWNED11`", "x\nsystem 'touch PWNED12'\n#"] {
            XCTAssertTrue(svg.contains(Self.shown(text)), "\(text.debugDescription) shown literally")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "PWNED11") || FileManager.default.fileExists(atPath: "PWNED14"))
    }
}
