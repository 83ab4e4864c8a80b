// The report's prose and its contents: Markdown to HTML (sanitized unless the front matter trusts raw
// HTML), every heading given a unique id and an anchor, and the headings of levels 1–3 listed.
import Foundation
import Ink

extension HTMLRenderer {
    struct Contents {
        let rawHTML: Bool
        /// Ids taken: the report's own (`claims`, `contents`), the cells', and each heading's as it comes.
        var usedSlugs: Set<String>
        /// (level, text, id) of each heading listed in the contents.
        var entries: [(Int, String, String)] = []
        let parser = MarkdownParser()

        init(rawHTML: Bool, cellIDs: [String]) {
            self.rawHTML = rawHTML
            usedSlugs = Set(["claims", "contents"] + cellIDs)
        }

        /// A prose block as HTML, its headings with ids (a heading whose slug would take a cell's,
        /// a chart's or the report's own id gets `h-` before it).
        mutating func prose(_ markdown: String) -> String {
            var html = parser.html(from: MarkdownGuard.prepare(markdown))
            if !rawHTML { html = HTMLSanitizer.sanitize(html) }
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
                if level <= 3 { entries.append((level, text, id)) }
                out += rest[..<open.lowerBound] + "<h\(level) id=\"\(id)\"><a class=\"anchor\" href=\"#\(id)\">#</a> \(inner)</h\(level)>"
                rest = rest[close.upperBound...]
        }
        html = out + rest
        return html
        }

        /// The table of contents, when the report has more than one heading.
        var html: String {
            guard entries.count > 1 else { return "" }
            return "<nav class=\"toc\"><h2 id=\"contents\">Contents</h2><ul>\n" + entries.map { "<li class=\"l\($0.0)\"><a href=\"#\($0.2)\">\(escape($0.1))</a></li>" }.joined(separator: "\n") + "\n</ul></nav>\n"
        }
    }
}
