// Charts through gnuplot, over a pipe (the way gnuplot-iostream talks to it): a script with the
// data inline ($data blocks), rendered with the `dumb` terminal as text or `svg` as a document.
import Foundation

public enum Gnuplot {
    public enum Format { case text(width: Int, height: Int), svg(width: Int, height: Int) }

    /// The gnuplot executable, if installed.
    public static var executable: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/gnuplot"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Notebook text (titles, labels, series and category names, which may come from a data file) as
    /// a gnuplot string expression that gnuplot cannot expand or end early: runs of text in single
    /// quotes (no backquote command substitution, no backslash escapes, no macros), each quote
    /// character joined in as `"'"` (gnuplot's doubled quote is unreliable: three quotes and a letter
    /// is a syntax error), and every control character (a newline would end the command and start
    /// another) shown as a space (tab, line breaks) or U+FFFD. Terminals are `noenhanced`, so the
    /// text is drawn as written.
    public static func quote(_ s: String) -> String {
        var pieces: [String] = []
        var run = ""
        for u in s.unicodeScalars {
            switch u {
            case "'":
                if !run.isEmpty { pieces.append("'" + run + "'"); run = "" }
                pieces.append("\"'\"")
            case "\n", "\r", "\t", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}": run += " "
            case _ where u.properties.generalCategory == .control: run += "\u{FFFD}"
            default: run.unicodeScalars.append(u)
            }
        }
        if !run.isEmpty || pieces.isEmpty { pieces.append("'" + run + "'") }
        return pieces.joined(separator: ".")
    }

    /// A number in a data block: data blocks hold numbers only (names go in quoted titles and tics),
    /// so no notebook text can reach the line that ends a block.
    static func number(_ x: Double) -> String { x.isFinite ? String(x) : "NaN" }

    /// A bar chart over numbers as bars over categories: series side by side with equal widths, from
    /// a y axis that starts at zero (drawn over numeric x, boxes of two series would overlap).
    static func barsAsCategories(_ chart: Chart) -> Chart {
        guard chart.kind == .bar, chart.categories == nil else { return chart }
        let xs = Array(Set(chart.series.flatMap { $0.points.map(\.x) })).sorted()
        var c = chart
        c.categories = xs.map { Value.format($0) }
        c.series = chart.series.map { s in
            var s = s
            s.points = s.points.map { p in (Double(xs.firstIndex(of: p.x)!), p.y, p.error) }
            return s
        }
        return c
    }

    /// The gnuplot script for a chart.
    public static func script(_ chart: Chart, format: Format) -> String {
        let chart = barsAsCategories(chart)
        var s: [String] = []
        switch format {
        case .text(let w, let h): s.append("set terminal dumb size \(w),\(h) aspect 2,1 noenhanced")
        case .svg(let w, let h): s.append("set terminal svg size \(w),\(h) dynamic noenhanced font 'sans,11' background rgb 'white'")
        }
        s.append("set encoding utf8")
        if let t = chart.title { s.append("set title \(quote(t))") }
        s.append("set xlabel \(quote(chart.xLabel))")
        s.append("set ylabel \(quote(chart.yLabel))")
        if chart.kind == .heatmap {
            if case .text = format { s.append("unset grid") }
            s += heatmap(chart, format: format)
        } else {
            s.append("set key outside right top")
            s.append("set grid ytics")
            if case .text = format { s.append("unset grid") }
            let hasErrors = chart.series.contains { $0.points.contains { $0.error != nil } }
            if let categories = chart.categories {
                s += overCategories(chart, categories, hasErrors: hasErrors)
            } else {
                s += overNumbers(chart, hasErrors: hasErrors)
            }
        }
        return s.joined(separator: "\n") + "\n"
    }

    /// A grid: columns are the x categories, rows the series (first at the top); data are numbers
    /// only (x index, row index, value), names go in quoted tic labels.
    static func heatmap(_ chart: Chart, format: Format) -> [String] {
        var s: [String] = []
        let columns = chart.categories ?? []
        let rows = chart.series.count
        s.append("unset key")
        s.append("set xtics (" + columns.enumerated().map { "\(quote($1)) \($0)" }.joined(separator: ", ") + ")")
        s.append("set ytics (" + chart.series.enumerated().map { "\(quote($1.name)) \(rows - 1 - $0)" }.joined(separator: ", ") + ")")
        s.append("set xrange [-0.5:\(max(0, columns.count) - 1).5]")
        s.append("set yrange [-0.5:\(max(0, rows) - 1).5]")
        s.append("$data << EOD")
        for (r, series) in chart.series.enumerated() {
            for p in series.points { s.append("\(number(p.x)) \(rows - 1 - r) \(number(p.y))") }
        }
        s.append("EOD")
        if case .svg = format {
            s.append("set palette defined (0 '#f7fbff', 1 '#6baed6', 2 '#08306b')")
            s.append("set cbtics")
            s.append("plot $data using 1:2:3 with image pixels, $data using 1:2:(sprintf('%.3g', $3)) with labels textcolor rgb '#d62728'")
        } else {
            s.append("plot $data using 1:2:(sprintf('%.3g', $3)) with labels")
        }
        return s
    }

    /// Bars (clustered) or lines over categories: one row per category (its index, then one
    /// column per series); the category names are tic labels, quoted.
    static func overCategories(_ chart: Chart, _ categories: [String], hasErrors: Bool) -> [String] {
        var s: [String] = []
        s.append("set xtics (" + categories.enumerated().map { "\(quote($1)) \($0)" }.joined(separator: ", ") + ")")
        s.append("$data << EOD")
        for i in categories.indices {
            var row = [String(i)]
            for series in chart.series {
                let p = series.points.first { Int($0.x) == i }
                row.append(p.map { number($0.y) } ?? "NaN")
                if hasErrors { row.append(p?.error.map { number($0) } ?? "0") }
            }
            s.append(row.joined(separator: " "))
        }
        s.append("EOD")
        if chart.kind == .bar {
            s.append("set style data histograms")
            s.append(hasErrors ? "set style histogram errorbars gap 1 lw 1" : "set style histogram cluster gap 1")
            s.append("set style fill solid 0.8 border -1")
            s.append("set boxwidth 0.9")
            s.append("set yrange [0:*]")
            let plots = chart.series.enumerated().map { i, series -> String in
                let col = hasErrors ? 2 + 2 * i : 2 + i
                let using = hasErrors ? "\(col):\(col + 1)" : "\(col)"
                return "$data using \(using) title \(quote(series.name))"
            }
            s.append("plot " + plots.joined(separator: ", "))
        } else {
            let plots = chart.series.enumerated().map { i, series -> String in
                let col = hasErrors ? 2 + 2 * i : 2 + i
                let style = chart.kind == .scatter ? "points" : hasErrors ? "yerrorlines" : "linespoints"
                let using = hasErrors ? "1:\(col):\(col + 1)" : "1:\(col)"
                return "$data using \(using) with \(style) title \(quote(series.name))"
            }
            s.append("plot " + plots.joined(separator: ", "))
        }
        return s
    }

    /// Points over a numeric x: one data block per series.
    static func overNumbers(_ chart: Chart, hasErrors: Bool) -> [String] {
        var s: [String] = []
        if chart.logX { s.append("set logscale x 2") }
        // no point or error bar on the frame: a margin of 5% of the plot on the left and right
        s.append("set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05")
        // error bars of series that share an x are drawn a little apart (2% of the x range, or
        // a factor of 2^0.06 on a log axis), centred on the true x
        let xs = chart.series.flatMap { $0.points.map(\.x) }.filter(\.isFinite)
        let span = (xs.max() ?? 0) - (xs.min() ?? 0)
        let dodge = hasErrors && chart.series.count > 1
        for (i, series) in chart.series.enumerated() {
            s.append("$s\(i) << EOD")
            let shift = dodge ? Double(i) - Double(chart.series.count - 1) / 2 : 0
            for p in series.points.sorted(by: { $0.x < $1.x }) {
                let x = shift == 0 ? p.x : chart.logX ? p.x * pow(2, 0.06 * shift) : p.x + 0.02 * max(span, 1e-9) * shift
                s.append("\(number(x)) \(number(p.y))" + (hasErrors ? " \(number(p.error ?? 0))" : ""))
            }
            s.append("EOD")
        }
        let plots = chart.series.enumerated().map { i, series -> String in
            let style: String
            switch chart.kind {
            case .scatter: style = hasErrors ? "yerrorbars" : "points pt 7"
            case .bar: style = hasErrors ? "boxerrorbars" : "boxes"
            case .line, .heatmap: style = hasErrors ? "yerrorlines" : "linespoints pt 7"
            }
            return "$s\(i) using 1:2\(hasErrors ? ":3" : "") with \(style) title \(quote(series.name))"
        }
        if chart.kind == .bar { s.append("set style fill solid 0.8 border -1"); s.append("set boxwidth 0.5 relative") }
        s.append("plot " + plots.joined(separator: ", "))
        return s
    }

    public struct Failure: Error, CustomStringConvertible { public let description: String }

    /// Runs gnuplot on the chart's script; returns what it printed (text or SVG).
    public static func render(_ chart: Chart, format: Format) throws -> String {
        guard let exe = executable else {
            throw Failure(description: "gnuplot is not installed (scripts/setup.sh installs gnuplot-nox)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input; p.standardOutput = output; p.standardError = errors
        try p.run()
        input.fileHandleForWriting.write(Data(script(chart, format: format).utf8))
        try? input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "gnuplot failed: " + String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
