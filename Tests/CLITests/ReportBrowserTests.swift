// The report as a person sees it: headless Chromium renders a real report offline, with no network
// request and no console message, and writes a screenshot (scripts/check-report.sh). The check is
// shown to fail on a page that reaches out or logs an error.
import XCTest
import Foundation

final class ReportBrowserTests: XCTestCase {
    func sh(_ command: String) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        p.currentDirectoryURL = TestBinary.repositoryRoot
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try? p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
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
}
