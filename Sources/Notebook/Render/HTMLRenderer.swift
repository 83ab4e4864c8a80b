// The report: one self-contained HTML5 file (no external scripts, styles, fonts or images). This
// file assembles the page; each part has its own: TitleBlock (title, facts, failure banner),
// Scorecard (claims), Contents (prose and headings), CellView (cells and tables), SVGEmbedding
// (charts as inline SVG with unique ids), Stylesheet (CSP and CSS).
import Foundation
import Ink
import Kernel
import Model

public enum HTMLRenderer {
    public static func escape(_ s: String) -> String {
        var r = ""
        r.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": r += "&amp;"
            case "<": r += "&lt;"
            case ">": r += "&gt;"
            case "\"": r += "&quot;"
            default: r.append(c)
            }
        }
        return r
    }

    static func slug(_ s: String) -> String {
        let lowered = s.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return String(lowered).split(separator: "-").joined(separator: "-")
    }

    /// Renders the report. `chart` draws a chart as SVG (gnuplot by default; tests may pass another).
    public static func render(_ nb: ExecutedNotebook, chart: (Chart) throws -> String = { try Gnuplot.render($0, format: .svg(width: 680, height: 420)) }) throws -> String {
        let doc = nb.document
        let title = doc.frontMatter.title ?? URL(fileURLWithPath: doc.path).deletingPathExtension().lastPathComponent
        var body = ""
        var contents = Contents(rawHTML: doc.frontMatter.rawHTML, cellIDs: doc.cells.map(\.elementID))
        var chartCount = 0
        for block in doc.blocks {
            switch block {
            case .markdown(let md, _):
                body += "<div class=\"prose\">\n\(contents.prose(md))\n</div>\n"
            case .cell(let cell):
                let ex = nb.cells.first { $0.cell.index == cell.index }!
                body += try renderCell(ex, path: doc.path, source: doc.source) { c in
                    chartCount += 1
                    return try uniqueIDs(chart(c), prefix: "chart\(chartCount)-")
                }
            }
        }
        let head = titleBlock(nb, title: title) + scorecard(nb) + contents.html
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="\(contentSecurityPolicy)">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="lorabook \(LorabookVersion.current)">
        <title>\(escape(title))</title>
        <style>
        \(css)
        </style>
        </head>
        <body>
        <main>
        \(head)
        \(body)
        <footer>Made by lorabook \(LorabookVersion.current) from <code>\(escape(URL(fileURLWithPath: doc.path).lastPathComponent))</code>.</footer>
        </main>
        </body>
        </html>

        """
    }

}
