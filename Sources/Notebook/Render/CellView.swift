// A cell in the report, and the tables in it.
import Foundation
import Kernel
import Model

extension HTMLRenderer {
    /// A cell: its source (collapsible), outputs in order (text, tables with a CSV link, metrics,
    /// charts, claims, warnings, errors) and its diagnostics, shown against the notebook's source.
    static func renderCell(_ ex: ExecutedCell, path: String, source: String, chart: (Chart) throws -> String) throws -> String {
        let c = ex.cell
        let statusClass = ex.status == .ok ? "ok" : ex.status == .expectedError ? "warn" : ex.status == .failed ? "fail" : "skip"
        var html = "<section class=\"cell \(statusClass)\" id=\"\(escape(c.elementID))\">\n"
        let meta = "<span class=\"cell-name\">\(escape(c.anchor))</span> <span class=\"meta\">line \(c.line) · \(ex.status.rawValue)"
            + (ex.status == .notRun ? "" : String(format: ex.cached ? " · cached (ran in %.2f s)" : " · %.2f s", ex.seconds)) + (ex.memoryDelta > 1 << 20 ? " · peak +\(ex.memoryDelta >> 20) MB" : "") + "</span>"
        if c.options.echo {
            html += "<details class=\"source\"\(ex.status == .failed ? " open" : "")><summary>\(meta)</summary>\n<pre><code>\(escape(c.source))</code></pre>\n</details>\n"
        } else {
            html += "<div class=\"source hidden\">\(meta)</div>\n"
        }
        if !c.options.hideOutput {
            var tables = 0, charts = 0
            for o in ex.outputs {
                switch o {
                case .text(let t): html += "<pre class=\"out\">\(escape(t))</pre>\n"
                case .table(let t):
                    tables += 1
                    html += table(t)
                    html += dataLink(t, name: ReportData.tableName(t, cell: c, n: tables), label: "CSV")
                case .metrics(let title, let r):
                    html += "<table class=\"metrics\"><caption>\(escape(title))</caption>\n" + r.fields.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1.text))</td></tr>" }.joined(separator: "\n") + "\n</table>\n"
                case .chart(let ch):
                    charts += 1
                    do { html += "<figure class=\"chart\">\(try chart(ch))</figure>\n" } catch {
                        throw NotebookError.chart(path: path, cell: c, reason: "\(error)")
                    }
                    html += dataLink(ch.data, name: ReportData.chartName(ch, cell: c, n: charts), label: "chart data (CSV)")
                case .claim(let cl):
                    html += "<div class=\"claim \(cl.passed ? "pass" : cl.inconclusive ? "inconclusive" : "fail")\">\(escape(OutputText.claim(cl)))</div>\n"
                case .warning(let w): html += "<div class=\"warning\">warning: \(escape(w))</div>\n"
                case .error(let d): html += "<pre class=\"error\">\(escape(d.rendered(file: path, source: nil)))</pre>\n"
                }
            }
        }
        for d in ex.diagnostics {
            html += "<pre class=\"error\">\(escape(d.rendered(file: path, source: source)))</pre>\n"
        }
        return html + "</section>\n"
    }

    /// A link that downloads a table as CSV from a data: URI (the report stays one offline file).
    static func dataLink(_ t: Table, name: String, label: String) -> String {
        let uri = "data:text/csv;charset=utf-8;base64," + Data(t.csv().utf8).base64EncodedString()
        return "<p class=\"data-link\"><a download=\"\(escape(name)).csv\" href=\"\(uri)\">\(escape(label))</a></p>\n"
    }

    static func table(_ t: Table) -> String {
        var html = "<div class=\"table-wrap\"><table class=\"data\">\n"
        if let title = t.title { html += "<caption>\(escape(title))</caption>\n" }
        html += "<thead><tr>" + t.columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for (r, shown) in zip(t.rows, OutputText.cells(t)) {
            html += "<tr>" + t.columns.enumerated().map { i, c -> String in
                let numeric: Bool = { if case .number? = r[c] { return true }; return false }()
                return "<td\(numeric ? " class=\"num\"" : "")>\(escape(shown[i]))</td>"
            }.joined() + "</tr>\n"
        }
        return html + "</tbody></table></div>\n"
    }
}
