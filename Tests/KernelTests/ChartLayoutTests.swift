// Charts that do not mislead: bars over numbers are dodged side by side from zero, error bars of
// series sharing an x are drawn apart, and nothing sits on the frame.
import XCTest
@testable import Kernel

final class ChartLayoutTests: XCTestCase {
    /// kind=heatmap: x columns by named rows, the first row at the top, numbers in the cells; its
    /// data as a table of (row, column, value).
    func testHeatmapsAreGridsOfNamedRowsAndColumns() throws {
        let session = Session()
        let (_, diagnostics, _) = K.run("""
        let t = table()
        t += {layer: 0, matrix: "query", rank: 1}
        t += {layer: 1, matrix: "query", rank: 2}
        t += {layer: 0, matrix: "value", rank: 4}
        let c = plot t x=layer y=matrix value=rank kind=heatmap title="ranks"
        plot t x=layer y=matrix kind=heatmap
        """, session: session)
        XCTAssertEqual(diagnostics.map(\.message), ["kind=heatmap needs value=COLUMN (each cell's number)"])
        guard case .chart(let chart)? = session.variables["c"] else { return XCTFail("no chart") }
        XCTAssertEqual(chart.kind, .heatmap)
        XCTAssertEqual(chart.categories, ["0", "1"])
        XCTAssertEqual(chart.series.map(\.name), ["query", "value"])
        let script = Gnuplot.script(chart, format: .svg(width: 400, height: 300))
        XCTAssertTrue(script.contains("set ytics ('query' 1, 'value' 0)"), script)
        XCTAssertTrue(script.contains("with image"), script)
        XCTAssertTrue(script.contains("\n0.0 1 1.0\n1.0 1 2.0\n0.0 0 4.0\n"), script)
        XCTAssertEqual(chart.data.csv(), "matrix,layer,value\nquery,0,1\nquery,1,2\nvalue,0,4\n")
    }

    func testBarsOverNumbersAreDodgedFromZero() {
        let chart = Chart(kind: .bar, title: "memory", xLabel: "rank", yLabel: "MB", logX: false,
                          series: [Chart.Series(name: "lora", points: [(1, 190, nil), (8, 200, nil)], categories: nil),
                                   Chart.Series(name: "dora", points: [(1, 195, nil), (8, 216, nil)], categories: nil)],
                          categories: nil)
        let script = Gnuplot.script(chart, format: .text(width: 60, height: 20))
        XCTAssertTrue(script.contains("set style data histograms"), script)
        XCTAssertTrue(script.contains("set style histogram cluster"), script)
        XCTAssertTrue(script.contains("set yrange [0:*]"), "bars start at zero: \(script)")
        XCTAssertTrue(script.contains("set xtics ('1' 0, '8' 1)"), script)
        XCTAssertTrue(script.contains("0 190.0 195.0") && script.contains("1 200.0 216.0"), "one row per x, a column per series: \(script)")
    }

    func testErrorBarsOfSeriesSharingAnXAreApartAndOffTheFrame() {
        let chart = Chart(kind: .line, title: nil, xLabel: "rank", yLabel: "acc", logX: true,
                          series: [Chart.Series(name: "lora", points: [(1, 0.3, 0.02), (8, 0.4, 0.01)], categories: nil),
                                   Chart.Series(name: "dora", points: [(1, 0.31, 0.02), (8, 0.41, 0.01)], categories: nil)],
                          categories: nil)
        let script = Gnuplot.script(chart, format: .text(width: 60, height: 20))
        XCTAssertTrue(script.contains("set offsets graph 0.05, graph 0.05"), script)
        let rows = script.split(separator: "\n").filter { $0.hasSuffix(" 0.02") }.map { Double($0.split(separator: " ")[0])! }
        XCTAssertEqual(rows.count, 2)
        XCTAssertNotEqual(rows[0], rows[1], "the two series' bars at rank 1 are apart")
        XCTAssertEqual(rows[0] * rows[1], 1, accuracy: 1e-9, "centred on x = 1 on the log axis")
        XCTAssertNoThrow(try Gnuplot.render(chart, format: .text(width: 60, height: 20)))
    }
}
