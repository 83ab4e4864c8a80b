// Outputs as terminal text: aligned tables, metric records, claims with their values, charts via
// gnuplot's dumb terminal, warnings and located errors.
import Foundation

public enum OutputText {
    public static func render(_ o: Output, file: String, source: String?, chart: ((Chart) -> String?)? = nil) -> String {
        switch o {
        case .text(let s): return s
        case .table(let t): return table(t)
        case .metrics(let title, let r): return metrics(title, r)
        case .chart(let c):
            if let text = chart?(c) { return text }
            return "chart: \(c.title ?? c.kind.rawValue) (\(c.series.map(\.name).joined(separator: ", ")); \(c.series.reduce(0) { $0 + $1.points.count }) points)"
        case .claim(let c): return claim(c)
        case .warning(let w): return "warning: \(w)"
        case .error(let d): return d.rendered(file: file, source: source)
        }
    }

    public static func cell(_ v: Value?) -> String {
        guard let v else { return "" }
        if case .number(let n) = v, n != n.rounded() { return String(format: "%.4f", n) }
        return v.text
    }

    /// A table's cells as shown (text and HTML alike; CSV keeps full precision): a column's
    /// fractional numbers all get the decimals that give its largest magnitude four significant
    /// digits (278.3 and 265.1, 0.3100 and 0.4123), so a mean never shows more precision than its
    /// data; whole numbers stay whole.
    public static func cells(_ t: Table) -> [[String]] {
        let decimals: [Int?] = t.columns.map { c in
            let numbers = t.rows.compactMap { r -> Double? in if case .number(let n)? = r[c], n.isFinite { return n }; return nil }
            guard numbers.contains(where: { $0 != $0.rounded() }) else { return nil }
            let largest = numbers.map(abs).max() ?? 0
            guard largest > 0 else { return 4 }
            return min(8, max(0, 3 - Int(floor(log10(largest)))))
        }
        return t.rows.map { r in
            t.columns.enumerated().map { i, c in
                if let d = decimals[i], case .number(let n)? = r[c], n.isFinite, !(n == n.rounded() && d == 0) { return String(format: "%.\(d)f", n) }
                return cell(r[c])
            }
        }
    }

    public static func table(_ t: Table) -> String {
        var lines: [String] = []
        if let title = t.title { lines.append(title) }
        guard !t.columns.isEmpty else { return (lines + ["(empty table)"]).joined(separator: "\n") }
        let cells = cells(t)
        let widths = t.columns.enumerated().map { i, c in max(c.count, cells.map { $0[i].count }.max() ?? 0) }
        // numeric columns (every non-empty cell a number) are right-aligned, header included
        let numeric = t.columns.indices.map { i in cells.allSatisfy { $0[i].isEmpty || Double($0[i]) != nil } && cells.contains { !$0[i].isEmpty } }
        func line(_ items: [String]) -> String {
            var s = items.enumerated().map { i, s in
                let pad = String(repeating: " ", count: widths[i] - s.count)
                return numeric[i] ? pad + s : s + pad
            }.joined(separator: "  ")
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
        lines.append(line(t.columns))
        lines.append(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  "))
        for row in cells { lines.append(line(row)) }
        lines.append("(\(t.rows.count) row\(t.rows.count == 1 ? "" : "s"))")
        return lines.joined(separator: "\n")
    }

    public static func metrics(_ title: String, _ r: Record) -> String {
        let width = r.names.map(\.count).max() ?? 0
        return ([title + ":"] + r.fields.map { "  " + $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1.text }).joined(separator: "\n")
    }

    public static func claim(_ c: Claim) -> String {
        var s = (c.passed ? "✓ passed: " : c.inconclusive ? "? INCONCLUSIVE: " : "✗ FAILED: ") + c.label
        if let i = c.interval, i.count == 2 { s += " [95% interval \(Value.format(i[0])) … \(Value.format(i[1]))]" }
        if !c.values.isEmpty { s += " (" + c.values.map { "\($0.0) = \(cell($0.1))" }.joined(separator: ", ") + ")" }
        if let d = c.detail { s += " — \(d)" }
        return s
    }
}
