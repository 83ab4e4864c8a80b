// The report as a person sees it: headless Chromium renders a real report offline, with no network
// request and no console message, and writes a screenshot (scripts/check-report.sh). The check is
// shown to fail on a page that reaches out or logs an error.
import XCTest
import Foundation

final class ReportBrowserTests: XCTestCase {
    func sh(_ command: String) -> (Int32, String) {
        (try? TestBinary.execute(URL(fileURLWithPath: "/bin/bash"), ["-c", command])) ?? (-1, "bash did not start")
    }

    func testReportRendersOfflineWithACleanConsole() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let (ran, log) = sh("'\(TestBinary.url.path)' run docs/examples/hello.md -o '\(dir.path)/hello.html' -q")
        XCTAssertEqual(ran, 0, log)
        let (checked, out) = sh("scripts/check-report.sh '\(dir.path)/hello.html' '\(dir.path)/hello.png'")
        XCTAssertEqual(checked, 0, out)
        let png = try Data(contentsOf: dir.appendingPathComponent("hello.png"))
        XCTAssertGreaterThan(png.count, 10_000, "a real screenshot")
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "PNG")
    }

    func testTheCheckCatchesNetworkRequestsAndConsoleErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, html, expect) in [
            ("net.html", "<html><body><img src=\"http://example.com/x.png\"></body></html>", "tried to reach the network"),
            ("console.html", "<html><body><script>console.error('boom')</script></body></html>", "logged console messages"),
        ] {
            try html.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            let (code, out) = sh("scripts/check-report.sh '\(dir.path)/\(name)' '\(dir.path)/\(name).png'")
            XCTAssertEqual(code, 1, "\(name): \(out)")
            XCTAssertTrue(out.contains(expect), "\(name): \(out)")
        }
    }

    /// Whether any script ran in a page: Chromium loads it offline and prints the DOM after load;
    /// every script in the page would mark the body.
    func scriptRan(_ file: URL) -> (Bool, String) {
        let (_, dom) = sh("timeout 120 \"$(command -v chromium || command -v chromium-browser)\" --headless --no-sandbox --disable-gpu --no-first-run "
                          + "--host-resolver-rules='MAP * ~NOTFOUND' --virtual-time-budget=3000 --dump-dom 'file://\(file.path)' 2>/dev/null")
        return (dom.contains("data-x=\"script-ran\""), dom)
    }

    func testNoScriptRunsInAReportEvenWithRawHTMLKept() throws {
        try XCTSkipIf(sh("command -v chromium || command -v chromium-browser").0 != 0, "chromium is not installed")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let mark = "document.body.setAttribute('data-x','script-'+'ran')"
        let attacks = "<script>\(mark)</script>\n<img src=\"x\" onerror=\"\(mark)\">\n<svg><script>\(mark)</script></svg>\n[link](javascript:\(mark))\n"
        for (name, front) in [("sanitised", ""), ("trusted", "---\nraw_html: true\n---\n")] {
            let md = dir.appendingPathComponent("\(name).md")
            try (front + "# Hostile\n\n" + attacks + "\n```lorabook\nprint 1\n```\n").write(to: md, atomically: true, encoding: .utf8)
            let (ran, log) = sh("'\(TestBinary.url.path)' run '\(md.path)' -o '\(dir.path)/\(name).html' -q")
            XCTAssertEqual(ran, 0, log)
            let html = try String(contentsOf: dir.appendingPathComponent("\(name).html"), encoding: .utf8)
            if name == "trusted" { XCTAssertTrue(html.contains("<script>\(mark)</script>"), "raw HTML kept as written") }
            let (executed, dom) = scriptRan(dir.appendingPathComponent("\(name).html"))
            XCTAssertTrue(dom.contains("Hostile"), "the page loaded: \(dom.prefix(300))")
            XCTAssertFalse(executed, "\(name): a script ran in the report")
        }
        // the check can fail: the same trusted page without its Content-Security-Policy runs the script
        let html = try String(contentsOf: dir.appendingPathComponent("trusted.html"), encoding: .utf8)
            .replacingOccurrences(of: #"<meta http-equiv="Content-Security-Policy"[^>]*>"#, with: "", options: .regularExpression)
        try html.write(to: dir.appendingPathComponent("no-csp.html"), atomically: true, encoding: .utf8)
        XCTAssertTrue(scriptRan(dir.appendingPathComponent("no-csp.html")).0, "without the policy the script runs, so the check above can fail")
    }
}
