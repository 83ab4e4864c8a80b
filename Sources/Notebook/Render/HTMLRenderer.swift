// The report: one self-contained HTML5 file (no external scripts, styles, fonts or images). Title
// block, failure banner, claims scorecard, table of contents, prose from Markdown, and every cell
// with its source (collapsible), outputs, time and status; charts as inline SVG from gnuplot with
// ids made unique per chart.
import Foundation
import Ink
import Kernel
import Model

public enum HTMLRenderer {
    public struct ChartFailure: Error, CustomStringConvertible {
        public let cell: Cell, path: String, reason: String
        public var description: String { "\(path):\(cell.line): error: chart of cell '\(cell.anchor)' could not be drawn: \(reason)" }
    }

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
        var toc: [(Int, String, String)] = []
        // ids are unique by construction: cells are `cell-…`, charts `chartN-…`, the report's own
        // `claims` and `contents`; a heading whose slug would take one of these gets `h-` before it
        var usedSlugs: Set<String> = ["claims", "contents"]
        usedSlugs.formUnion(doc.cells.map(\.elementID))
        var chartCount = 0
        let parser = MarkdownParser()

        func prose(_ markdown: String) -> String {
            var html = parser.html(from: MarkdownGuard.prepare(markdown))
            if !doc.frontMatter.rawHTML { html = HTMLSanitizer.sanitize(html) }
            // headings get ids (anchors) and enter the table of contents
            var out = ""
            var rest = Substring(html)
            while let open = rest.range(of: "<h", options: []), let level = rest[open.upperBound...].first?.wholeNumberValue,
                  rest[rest.index(after: open.upperBound)...].first == ">" {
                let contentStart = rest.index(open.upperBound, offsetBy: 2)
                guard let close = rest[contentStart...].range(of: "</h\(level)>") else { break }
                let inner = String(rest[contentStart..<close.lowerBound])
                let text = inner.replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression)
                var id = slug(text).isEmpty ? "section" : slug(text)
                if id.hasPrefix("cell-") || id.hasPrefix("h-") || (id.hasPrefix("chart") && id.dropFirst(5).first?.isNumber == true) { id = "h-" + id }
                var n = 1
                let base = id
                while usedSlugs.contains(id) { id = "\(base)-\(n)"; n += 1 }
                usedSlugs.insert(id)
                if level <= 3 { toc.append((level, text, id)) }
                out += rest[..<open.lowerBound] + "<h\(level) id=\"\(id)\"><a class=\"anchor\" href=\"#\(id)\">#</a> \(inner)</h\(level)>"
                rest = rest[close.upperBound...]
            }
            html = out + rest
            return html
        }

        for block in doc.blocks {
            switch block {
            case .markdown(let md, _):
                body += "<div class=\"prose\">\n\(prose(md))\n</div>\n"
            case .cell(let cell):
                let ex = nb.cells.first { $0.cell.index == cell.index }!
                body += try renderCell(ex, path: doc.path) { c in
                    chartCount += 1
                    return try uniqueIDs(chart(c), prefix: "chart\(chartCount)-")
                }
            }
        }

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
        let claims = nb.claims
        if !claims.isEmpty {
            let passed = claims.filter { $0.claim.passed }.count, inconclusive = claims.filter { $0.claim.inconclusive }.count
            head += "<section class=\"scorecard\"><h2 id=\"claims\">Claims: \(passed) of \(claims.count) hold\(inconclusive > 0 ? ", \(inconclusive) inconclusive" : "")</h2>\n<table>\n<tr><th></th><th>claim</th><th>values</th><th>note</th></tr>\n"
            for (c, cell) in claims {
                var values = c.values.map { "<code>\(escape($0.0)) = \(escape(OutputText.cell($0.1)))</code>" }.joined(separator: "<br>")
                if let i = c.interval, i.count == 2 { values = "<code>95% interval [\(escape(Value.format(i[0]))), \(escape(Value.format(i[1])))]</code><br>" + values }
                let (rowClass, mark) = c.passed ? ("pass", "✓") : c.inconclusive ? ("inconclusive", "?") : ("fail", "✗")
                head += "<tr class=\"\(rowClass)\"><td>\(mark)</td><td><a href=\"#\(escape(cell.elementID))\">\(escape(c.label))</a></td><td>\(values)</td><td>\(escape(c.detail ?? ""))</td></tr>\n"
            }
            head += "</table></section>\n"
        }
        if toc.count > 1 {
            head += "<nav class=\"toc\"><h2 id=\"contents\">Contents</h2><ul>\n" + toc.map { "<li class=\"l\($0.0)\"><a href=\"#\($0.2)\">\(escape($0.1))</a></li>" }.joined(separator: "\n") + "\n</ul></nav>\n"
        }
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="\(contentSecurityPolicy)">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="lorabook \(Lorabook.version)">
        <title>\(escape(title))</title>
        <style>
        \(css)
        </style>
        </head>
        <body>
        <main>
        \(head)
        \(body)
        <footer>Made by lorabook \(Lorabook.version) from <code>\(escape(URL(fileURLWithPath: doc.path).lastPathComponent))</code>.</footer>
        </main>
        </body>
        </html>

        """
    }

    static func renderCell(_ ex: ExecutedCell, path: String, chart: (Chart) throws -> String) throws -> String {
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
                        throw ChartFailure(cell: c, path: path, reason: "\(error)")
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
            let source = try? String(contentsOfFile: path, encoding: .utf8)
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

    /// Makes every id in an SVG document unique by a prefix (gnuplot reuses fixed ids), and strips
    /// the XML prolog so that it can sit inside HTML.
    public static func uniqueIDs(_ svg: String, prefix: String) -> String {
        var s = svg
        if let start = s.range(of: "<svg") { s = String(s[start.lowerBound...]) }
        let ids = matches(#"id=['"]([^'"]+)['"]"#, in: s)
        for id in Set(ids).sorted(by: { $0.count > $1.count }) {
            for (from, to) in [("id=\"\(id)\"", "id=\"\(prefix)\(id)\""), ("id='\(id)'", "id='\(prefix)\(id)'"),
                               ("url(#\(id))", "url(#\(prefix)\(id))"), ("href=\"#\(id)\"", "href=\"#\(prefix)\(id)\""),
                               ("href='#\(id)'", "href='#\(prefix)\(id)'")] {
                s = s.replacingOccurrences(of: from, with: to)
            }
        }
        return s
    }

    static func matches(_ pattern: String, in s: String) -> [String] {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return [] }
        let ns = s as NSString
        return re.matches(in: s, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range(at: 1)) }
    }

    /// Every report forbids script, frames, plugins, forms and any network load: only its own inline
    /// styles and data: images and fonts, so that anything that slipped through still cannot run.
    public static let contentSecurityPolicy = "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'"

    static let css = """
    :root { color-scheme: light dark; --bg: #ffffff; --fg: #1d1f23; --muted: #5f6670; --line: #d9dde3; --card: #f6f8fa;
      --ok: #1a7f37; --fail: #cf222e; --warn: #9a6700; --link: #0969da; }
    @media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --card: #161b22;
      --ok: #3fb950; --fail: #f85149; --warn: #d29922; --link: #58a6ff; } }
    * { box-sizing: border-box; }
    body { margin: 0; background: var(--bg); color: var(--fg); font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; }
    main { max-width: 60rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
    a { color: var(--link); }
    h1.title { margin: 0 0 .25rem; font-size: 2rem; }
    .author { color: var(--muted); margin: 0 0 1rem; }
    h2 { margin-top: 2.2rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
    h1 a.anchor, h2 a.anchor, h3 a.anchor, h4 a.anchor { color: var(--muted); text-decoration: none; font-weight: normal; opacity: .4; }
    code, pre { font: 13.5px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
    pre { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; overflow-x: auto; }
    table { border-collapse: collapse; margin: .6rem 0; }
    th, td { border: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; }
    table.facts th { color: var(--muted); font-weight: normal; }
    table.metrics caption, table.data caption { caption-side: top; text-align: left; color: var(--muted); font-size: .9rem; }
    .table-wrap { overflow-x: auto; }
    .badge { padding: .05rem .5rem; border-radius: 1rem; color: #fff; font-size: .85rem; }
    .badge.ok { background: var(--ok); } .badge.fail { background: var(--fail); } .badge.warn { background: var(--warn); }
    .banner.fail { border: 2px solid var(--fail); border-radius: 6px; padding: .75rem 1rem; margin: 1rem 0; }
    .scorecard tr.pass td:first-child { color: var(--ok); font-weight: bold; } .scorecard tr.fail td:first-child { color: var(--fail); font-weight: bold; } .scorecard tr.inconclusive td:first-child { color: #b58900; font-weight: bold; }
    nav.toc ul { list-style: none; padding-left: 0; } nav.toc li.l2 { padding-left: 1rem; } nav.toc li.l3 { padding-left: 2rem; }
    section.cell { border-left: 3px solid var(--line); padding-left: .9rem; margin: 1.2rem 0; }
    section.cell.fail { border-left-color: var(--fail); } section.cell.warn { border-left-color: var(--warn); }
    details.source summary, div.source.hidden { cursor: pointer; color: var(--muted); font-size: .85rem; }
    .cell-name { font-family: ui-monospace, monospace; }
    pre.error { border-color: var(--fail); color: var(--fail); }
    .claim { padding: .35rem .6rem; border-radius: 6px; margin: .4rem 0; border: 1px solid var(--line); }
    .claim.pass { border-color: var(--ok); } .claim.fail { border-color: var(--fail); font-weight: 600; } .claim.inconclusive { border-color: #b58900; }
    .warning { color: var(--warn); margin: .4rem 0; }
    figure.chart { margin: .8rem 0; background: #ffffff; border: 1px solid var(--line); border-radius: 6px; padding: .4rem; }
    figure.chart svg { max-width: 100%; height: auto; display: block; margin: 0 auto; }
    p.data-link { margin: 0.2em 0 1em; font-size: 0.85em; text-align: right; }
    footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
    @media print { details.source { display: none; } body { font-size: 11pt; } section.cell { break-inside: avoid; }
      figure.chart { border: none; } a { color: inherit; text-decoration: none; } }
    """
}
