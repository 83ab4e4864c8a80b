// Tables and charts as data files: CSV and TSV text (save, the report's CSV links, run --export).
// Text cells that a spreadsheet would take for a formula (=, +, -, @, tab, carriage return first)
// get a leading apostrophe: notebook and data text never becomes code for another program. A missing
// value (none) is an empty field; numbers keep full precision.
import Foundation

extension Table {
    /// RFC 4180 CSV: a header row, then one row per record; fields with a comma, quote or line
    /// break are quoted.
    public func csv() -> String { delimited(",") }

    /// Tab-separated: tabs and line breaks inside a value become spaces.
    public func tsv() -> String { delimited("\t") }

    private func delimited(_ separator: String) -> String {
        func field(_ v: Value?) -> String {
            // a missing value is an empty field; numbers keep every digit (the shortest text that
            // reads back as the same Double)
            var s: String
            switch v {
            case nil, .none?: s = ""
            case .number(let n)?: s = n.isFinite && n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : n.isFinite ? "\(n)" : Value.format(n)
            case let value?: s = value.text
            }
            if case .string? = v, let first = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { s = "'" + s }
            if separator == "\t" { return s.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ") }
            return s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var text = columns.map { field(.string($0)) }.joined(separator: separator) + "\n"
        for r in rows { text += columns.map { field(r[$0]) }.joined(separator: separator) + "\n" }
        return text
    }

    /// A file name from the title (letters, digits, - and _), or `fallback`.
    public func fileStem(fallback: String) -> String { Self.stem(title, fallback: fallback) }

    public static func stem(_ title: String?, fallback: String) -> String {
        let words = (title ?? "").lowercased().unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII ? Character($0) : "-" }
        let s = String(words).split(separator: "-").joined(separator: "-")
        return s.isEmpty ? fallback : String(s.prefix(60))
    }
}

extension Chart {
    /// The numbers a chart draws: one row per point (series, x or category, y, error when any).
    public var data: Table {
        var t = Table(title: title)
        if kind == .heatmap {
            for s in series {
                for p in s.points {
                    let column = categories.flatMap { $0.indices.contains(Int(p.x)) ? $0[Int(p.x)] : nil } ?? Value.format(p.x)
                    t.append(Record([(yLabel.isEmpty ? "row" : yLabel, .string(s.name)), (xLabel.isEmpty ? "column" : xLabel, .string(column)), ("value", .number(p.y))]))
                }
            }
            return t
        }
        let hasErrors = series.contains { $0.points.contains { $0.error != nil } }
        for s in series {
            for (i, p) in s.points.enumerated() {
                var fields: [(String, Value)] = [("series", .string(s.name))]
                if let c = s.categories ?? categories, c.indices.contains(i) { fields.append((xLabel.isEmpty ? "x" : xLabel, .string(c[i]))) }
                else { fields.append((xLabel.isEmpty ? "x" : xLabel, .number(p.x))) }
                fields.append((yLabel.isEmpty ? "y" : yLabel, .number(p.y)))
                if hasErrors { fields.append(("error", p.error.map { .number($0) } ?? .none)) }
                t.append(Record(fields))
            }
        }
        return t
    }
}
