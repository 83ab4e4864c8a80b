// A report is safe to open from anyone: Markdown's raw HTML sanitised (unless the notebook says
// raw_html: true), links with script URLs dropped, every id unique, a Content-Security-Policy that
// forbids script; and the Markdown renderer and YAML reader stay fast and bounded on hostile input.
import XCTest
import Foundation
@testable import Notebook
@testable import Kernel

final class ReportSafetyTests: XCTestCase {
    func report(_ markdown: String, cells: [ExecutedCell]? = nil) throws -> String {
        let doc = try NotebookParser.parse(markdown, path: "/x/safety.md")
        let executed = cells ?? doc.cells.map { ExecutedCell(cell: $0, outputs: [], diagnostics: [], status: .ok, seconds: 0, memoryDelta: 0) }
        let nb = ExecutedNotebook(document: doc, parameters: [], cells: executed, status: .success, started: Date(), seconds: 0, environment: [])
        return try HTMLRenderer.render(nb, chart: { _ in "<svg></svg>" })
    }

    /// The report without its fixed parts (style sheet, head), where the notebook's text lands.
    func body(_ html: String) -> String { String(html[html.range(of: "<body>")!.upperBound...]) }

    func testRawHTMLIsSanitisedByDefault() throws {
        let hostile = """
        # Notes

        [md link](javascript:alert(9)) [ok](https://example.com/md) ![img](javascript:alert(10)) [rel](other.html#x)

        <script>alert(1)</script>
        <img src=x onerror="alert(2)"> <img src="data:image/png;base64,AAAA" alt="ok image">
        <iframe src="https://example.com"></iframe><object data="x.swf"></object><embed src="x">
        <a href="javascript:alert(3)">js</a> <a href="  JaVa&#x53;cript&colon;alert(4)">entity js</a>
        <a href="data:text/html,<script>alert(5)</script>">data link</a> <img src="data:text/html;base64,PHNjcmlwdD4=">
        <div onclick="alert(6)" style="position:fixed" id="claims">kept <b>bold</b> and <em>em</em></div>
        <svg onload="alert(7)"></svg><style>body{display:none}</style><meta http-equiv="refresh" content="0;url=https://example.com">
        <form action="https://example.com"><input name=x></form><base href="https://example.com/"><link rel=stylesheet href="https://example.com/x.css">
        <!-- <script>alert(8)</script> --> <a href=https://example.com/ok title='t'>fine link</a> <details open><summary>s</summary>d</details>
        """
        let html = body(try report(hostile))
        if ProcessInfo.processInfo.environment["LORABOOK_DEBUG_SAFETY"] != nil { print(html) }
        // every live tag (escaped text has no '<') is harmless
        let tags = HTMLRenderer.matches(#"(<[a-zA-Z!/][^>]*>)"#, in: html)
        for tag in tags {
            let t = tag.lowercased()
            for bad in ["<script", "<iframe", "<object", "<embed", "<svg", "<style", "<meta", "<form", "<input", "<base", "<link", "<!--"] {
                XCTAssertFalse(t.hasPrefix(bad), "a live \(bad): \(tag)")
            }
            for bad in [#"\son[a-z]+\s*="#, "javascript:", #"\sstyle\s*="#, #"(href|src)="data:text"#] {
                XCTAssertNil(t.range(of: bad, options: .regularExpression), "\(bad) in \(tag)")
            }
        }
        XCTAssertFalse(html.contains("id=\"claims\">kept"))
        for good in ["<b>bold</b>", "<em>em</em>", "<details open>", "href=\"https://example.com/ok\"", "title=\"t\"", "href=\"https://example.com/md\"",
                     "src=\"data:image/png;base64,AAAA\"", "alt=\"ok image\"", "href=\"other.html#x\"", "&lt;script&gt;alert(1)&lt;/script&gt;"] {
            XCTAssertTrue(html.contains(good), "\(good) was lost:\n\(html)")
        }
    }

    func testRawHTMLKeptWhenTheAuthorSaysSoAndTheReportSaysSo() throws {
        let html = try report("---\nraw_html: true\n---\n<div style=\"color: red\">trusted</div>\n")
        XCTAssertTrue(html.contains("<div style=\"color: red\">trusted</div>"))
        XCTAssertTrue(html.contains("raw_html: true"), "the report says raw HTML was kept")
        XCTAssertTrue(html.contains("Content-Security-Policy"), "the policy is still there")
        XCTAssertThrowsError(try NotebookParser.parse("---\nraw_html: yes please\n---\n", path: "x.md"))
    }

    func testEveryReportForbidsScriptAndNetwork() throws {
        let html = try report("# x\n")
        XCTAssertTrue(html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'none';"))
    }

    func testCellIdsCannotInjectOrCollide() throws {
        let md = "# Claims\n\n# Cell 1\n\n```lorabook id=x\"><script>alert(5)</script>\nexpect 1 < 2\n```\n\n```lorabook id=claims\nprint 1\n```\n"
        let doc = try NotebookParser.parse(md, path: "x.md")
        XCTAssertTrue(doc.warnings.contains { $0.message.contains("cell option id=") }, "a hostile id is refused: \(doc.warnings)")
        XCTAssertNil(doc.cells[0].options.id)
        let claim = Claim(label: "holds", passed: true, expression: "1 < 2", values: [], detail: nil)
        let cells = [ExecutedCell(cell: doc.cells[0], outputs: [.claim(claim)], diagnostics: [], status: .ok, seconds: 0, memoryDelta: 0),
                     ExecutedCell(cell: doc.cells[1], outputs: [.text("1")], diagnostics: [], status: .ok, seconds: 0, memoryDelta: 0)]
        let html = try report(md, cells: cells)
        XCTAssertFalse(body(html).contains("<script"))
        let ids = HTMLRenderer.matches(#"\sid="([^"]+)""#, in: html)
        XCTAssertEqual(ids.count, Set(ids).count, "ids are unique: \(ids.sorted())")
        XCTAssertTrue(ids.contains("claims") && ids.contains("cell-claims") && ids.contains("cell-1"), "\(ids)")
        XCTAssertTrue(ids.contains("claims-1") && ids.contains("h-cell-1"), "headings step aside: \(ids)")
        XCTAssertTrue(html.contains("<a href=\"#cell-1\">holds</a>"), "the scorecard links to the cell")
    }

    func testMarkdownRendererIsFastOnHostileBrackets() throws {
        let n = 10_000
        let inputs = [
            String(repeating: "[", count: n), String(repeating: "[", count: n) + String(repeating: "]", count: n),
            String(repeating: "![", count: n), String(repeating: "[a](", count: n), String(repeating: "[a]", count: n),
            String(repeating: "*", count: n), String(repeating: "_a", count: n), "a " + String(repeating: "`", count: n), String(repeating: "(", count: n),
            String(repeating: "<a ", count: n), String(repeating: "<a x=\"", count: n), String(repeating: "[<", count: n),
            "text " + String(repeating: "[x", count: 40) + " more", String(repeating: "> ", count: 200) + "quote",
        ]
        for input in inputs {
            let start = Date()
            let html = try report("# t\n\n" + input + "\n")
            XCTAssertLessThan(Date().timeIntervalSince(start), 5, "slow on \(input.prefix(12))…")
            XCTAssertTrue(html.contains("</html>"))
        }
        // links still work, and a bracket that is not a link is shown as itself
        let html = body(try report("see [the docs](https://example.com/d) and [this][r] or [x] [![i](a.png)](b.html)\n\n[r]: https://example.com/r\n"))
        XCTAssertTrue(html.contains("<a href=\"https://example.com/d\">the docs</a>"), html)
        XCTAssertTrue(html.contains("[x]"), html)
        XCTAssertTrue(html.contains("<a href=\"b.html\"><img src=\"a.png\" alt=\"i\"></a>") || html.contains("<a href=\"b.html\"><img src=\"a.png\" alt=\"i\"/></a>"), html)
        XCTAssertEqual(MarkdownGuard.prepare("```\n[[[\n```\n`[` and [y"), "```\n[[[\n```\n`[` and \\[y")
    }

    func testFrontMatterIsBounded() throws {
        let cases: [(String, String)] = [
            ("---\nx: " + String(repeating: "[", count: 10_000) + "\n---\n", "nesting deeper than 32"),
            ("---\nx: " + String(repeating: "{a: ", count: 10_000) + "\n---\n", "nesting deeper than 32"),
            ("---\n" + String(repeating: "- ", count: 10_000) + "1\n---\n", "nesting deeper than"),
            ("---\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n---\n", "more than 32 aliases"),
            ("---\ntitle: " + String(repeating: "x", count: 70_000) + "\n---\n", "longer than 64 KiB"),
        ]
        for (source, want) in cases {
            let start = Date()
            XCTAssertThrowsError(try NotebookParser.parse(source, path: "f.md")) { e in
                XCTAssertTrue("\(e)".contains(want), "\(e)")
                XCTAssertTrue("\(e)".hasPrefix("f.md:2:") || "\(e)".hasPrefix("f.md:"), "located: \(e)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        }
        // ordinary front matter with quoted brackets and a few aliases still reads
        let doc = try NotebookParser.parse("---\ntitle: \"a [b] {c} *d\"\nparams: {ranks: [1, 2, 4], x: &v 3, y: *v}\n---\n", path: "f.md")
        XCTAssertEqual(doc.frontMatter.title, "a [b] {c} *d")
        XCTAssertEqual(doc.frontMatter.parameters.count, 3)
    }
}

final class NotebookParserRegressionTests: XCTestCase {
    /// Found by the notebook fuzzer: a cell option word that is only `=` (or starts with it) crashed
    /// the parser (index out of range); now it is an unknown option, a warning.
    func testAnOptionWithoutAKeyIsAWarning() throws {
        for word in ["=", "=x", "==", "id="] {
            let doc = try NotebookParser.parse("```lorabook \(word)\nprint 1\n```\n", path: "x.md")
            XCTAssertEqual(doc.cells.count, 1)
            XCTAssertFalse(doc.warnings.isEmpty, word)
        }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/corpus/notebook/regress-lone-equals-option.md").standardizedFileURL
        XCTAssertNoThrow(try NotebookParser.parse(NotebookParser.text(try Data(contentsOf: url), path: url.path), path: url.path))
    }

    /// Found by the notebook fuzzer: Yams.load traps on a tagged or non-text mapping key; the front
    /// matter is now read from Yams' nodes, and such a key is an error or plain text.
    func testTaggedAndNonTextYAMLKeysDoNotCrash() throws {
        XCTAssertThrowsError(try NotebookParser.parse("---\nparams: {!ranks: [1, 2], n: 3}\n---\n", path: "x.md")) { XCTAssertTrue("\($0)".contains("x.md:2:10: error: invalid front matter: a key must be text"), "\($0)") }
        let doc = try NotebookParser.parse("---\nparams: {!!str ranks: [1, 2], n: 3}\ntitle: !custom T\n---\n", path: "x.md")
        XCTAssertEqual(doc.frontMatter.title, "T")
        XCTAssertEqual(doc.frontMatter.parameters.map(\.0).sorted(), ["n", "ranks"])
        XCTAssertThrowsError(try NotebookParser.parse("---\n? [a, b]\n: 1\n---\n", path: "x.md")) { XCTAssertTrue("\($0)".contains("a key must be text"), "\($0)") }
        let doc2 = try NotebookParser.parse("---\ntitle: \"3\"\nseed: 4\nparams: {f: 0.5, b: true, s: x, n: ~}\n---\n", path: "x.md")
        XCTAssertEqual(doc2.frontMatter.title, "3")
        XCTAssertEqual(doc2.frontMatter.seed, 4)
        XCTAssertEqual(doc2.frontMatter.parameters.first { $0.0 == "f" }?.1, .number(0.5))
        XCTAssertEqual(doc2.frontMatter.parameters.first { $0.0 == "b" }?.1, .bool(true))
    }
}
