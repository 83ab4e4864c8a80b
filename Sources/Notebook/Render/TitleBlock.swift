// The report's title block: title, author, a facts table (status, date, duration, environment,
// parameters) and, when a cell failed or the run was interrupted, a banner linking to it.
import Foundation
import Kernel

extension HTMLRenderer {
    static func titleBlock(_ nb: ExecutedNotebook, title: String) -> String {
        let doc = nb.document
        var head = "<header>\n<h1 class=\"title\">\(escape(title))</h1>\n"
        if let a = doc.frontMatter.author { head += "<p class=\"author\">\(escape(a))</p>\n" }
        let (statusText, statusClass): (String, String)
        switch nb.status {
        case .success: (statusText, statusClass) = ("success", "ok")
        case .claimsFailed: (statusText, statusClass) = ("ran; some claims failed", "warn")
        case .claimsInconclusive: (statusText, statusClass) = ("ran; some claims inconclusive", "warn")
        case .failed: (statusText, statusClass) = nb.interruption.map { ("interrupted (\($0))", "fail") } ?? ("failed", "fail")
        }
        let formatter = ISO8601DateFormatter()
        var facts: [(String, String)] = [("status", "<span class=\"badge \(statusClass)\">\(statusText)</span>"),
                                         ("date", escape(formatter.string(from: nb.started))),
                                         ("duration", escape(String(format: "%.1f s", nb.seconds)))]
        facts += nb.environment.map { ($0.0, escape($0.1)) }
        if doc.frontMatter.rawHTML {
            facts.append(("raw HTML", "kept as written: the notebook's front matter says <code>raw_html: true</code> (its author trusts it); scripts still cannot run"))
        }
        if !nb.parameters.isEmpty {
            facts.append(("parameters", nb.parameters.map { "<code>\(escape($0.0)) = \(escape($0.1.literal))</code>" }.joined(separator: " ")))
        }
        head += "<table class=\"facts\">\n" + facts.map { "<tr><th>\(escape($0.0))</th><td>\($0.1)</td></tr>" }.joined(separator: "\n") + "\n</table>\n</header>\n"
        if case .failed(let i) = nb.status {
            let c = nb.cells[i]
            let message = c.diagnostics.first.map { "\(doc.path):\($0.location.map { "\($0.line):\($0.column)" } ?? "\(c.cell.line)"): \($0.message)" } ?? ""
            let link = "<a href=\"#\(escape(c.cell.elementID))\">cell \(i + 1) (\(escape(c.cell.anchor)))</a>"
            head += nb.interruption.map {
                "<div class=\"banner fail\">This run was interrupted (\(escape($0))) at \(link). The report shows everything up to it; the cells before it are cached, so the next run resumes there.</div>\n"
            } ?? "<div class=\"banner fail\">This run stopped at \(link): \(escape(message)). The report shows everything up to it.</div>\n"
        }
        return head
    }
}
