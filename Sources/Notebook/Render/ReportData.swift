// The data behind a report: every table a cell shows, and the numbers of every chart, as CSV. The
// report links each one (a data: URI, HTMLRenderer); `lorabook run --export DIR` writes them as files.
// Names: CELL-TITLE (or CELL-table-N), and CELL-TITLE-data (or CELL-chart-N-data) for charts.
import Foundation
import Kernel
import Model

public enum ReportData {
    /// A table's file name (without .csv) for the n-th table of a cell.
    static func tableName(_ t: Table, cell: Cell, n: Int) -> String {
        cell.anchorStem + "-" + Table.stem(t.title, fallback: "table-\(n)")
    }

    /// A chart's data file name (without .csv) for the n-th chart of a cell.
    static func chartName(_ c: Chart, cell: Cell, n: Int) -> String {
        cell.anchorStem + "-" + Table.stem(c.title, fallback: "chart-\(n)") + "-data"
    }

    /// Every table and chart's data of the cells that show their outputs, in order, with unique names.
    public static func items(_ nb: ExecutedNotebook) -> [(name: String, table: Table)] {
        var items: [(String, Table)] = []
        var used: [String: Int] = [:]
        func unique(_ name: String) -> String {
            used[name, default: 0] += 1
            return used[name]! == 1 ? name : "\(name)-\(used[name]!)"
        }
        for ex in nb.cells where !ex.cell.options.hideOutput {
            var tables = 0, charts = 0
            for o in ex.outputs {
                switch o {
                case .table(let t): tables += 1; items.append((unique(tableName(t, cell: ex.cell, n: tables)), t))
                case .chart(let c): charts += 1; items.append((unique(chartName(c, cell: ex.cell, n: charts)), c.data))
                default: break
                }
            }
        }
        return items
    }

    /// Writes each item as DIR/NAME.csv (atomically); the paths written.
    public static func export(_ nb: ExecutedNotebook, to folder: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return try items(nb).map { item in
            let url = folder.appendingPathComponent(item.name + ".csv")
            try AtomicFile.write(Data(item.table.csv().utf8), to: url)
            return url
        }
    }
}

extension Cell {
    /// The cell's anchor as a file-name part.
    var anchorStem: String { Table.stem(anchor, fallback: "cell") }
}
