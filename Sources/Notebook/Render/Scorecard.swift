// The claims scorecard: one row per `expect` of the notebook, its verdict (✓, ✗, ?), its interval
// and values, its note, and a link to the cell that stated it.
import Foundation
import Kernel

extension HTMLRenderer {
    static func scorecard(_ nb: ExecutedNotebook) -> String {
        let claims = nb.claims
        guard !claims.isEmpty else { return "" }
        var html = ""
        let passed = claims.filter { $0.claim.passed }.count, inconclusive = claims.filter { $0.claim.inconclusive }.count
        html += "<section class=\"scorecard\"><h2 id=\"claims\">Claims: \(passed) of \(claims.count) hold\(inconclusive > 0 ? ", \(inconclusive) inconclusive" : "")</h2>\n<table>\n<tr><th></th><th>claim</th><th>values</th><th>note</th></tr>\n"
        for (c, cell) in claims {
            var values = c.values.map { "<code>\(escape($0.0)) = \(escape(OutputText.cell($0.1)))</code>" }.joined(separator: "<br>")
            if let i = c.interval, i.count == 2 { values = "<code>95% interval [\(escape(Value.format(i[0]))), \(escape(Value.format(i[1])))]</code><br>" + values }
            let (rowClass, mark) = c.passed ? ("pass", "✓") : c.inconclusive ? ("inconclusive", "?") : ("fail", "✗")
            html += "<tr class=\"\(rowClass)\"><td>\(mark)</td><td><a href=\"#\(escape(cell.elementID))\">\(escape(c.label))</a></td><td>\(values)</td><td>\(escape(c.detail ?? ""))</td></tr>\n"
        }
        html += "</table></section>\n"
        return html
    }
}
