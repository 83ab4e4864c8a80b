// Running sources in fresh sessions and checking `# expect:` / `# expect error:` lines.
import XCTest
import Foundation
@testable import Kernel
import Model

enum K {
    /// Runs `source` in a fresh session; returns every output as text lines and the diagnostics.
    static func run(_ source: String, session: Session = Session()) -> (lines: [String], diagnostics: [Diagnostic], result: ExecutionResult) {
        let result = Interpreter(session: session).execute(source)
        let text = result.outputs.map { OutputText.render($0, file: "<test>", source: source) }.joined(separator: "\n")
        return (text.components(separatedBy: "\n"), result.diagnostics, result)
    }

    /// Checks a source against its `# expect: TEXT` (an output line contains TEXT, in order) and
    /// `# expect error: TEXT` (a diagnostic message contains TEXT) comments.
    /// `# expect error: TEXT`, or `# expect error L:C: TEXT` (at line L, column C): (TEXT, location).
    static func expectedError(_ comment: String) -> (String, SourceLocation?)? {
        guard comment.hasPrefix("# expect error") else { return nil }
        var rest = comment.dropFirst("# expect error".count)
        if rest.hasPrefix(":") { return (rest.dropFirst().trimmingCharacters(in: .whitespaces), nil) }
        rest = rest.drop { $0 == " " }
        let parts = rest.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let l = Int(parts[0]), let c = Int(parts[1]) else { return nil }
        return (parts[2].trimmingCharacters(in: .whitespaces), SourceLocation(line: l, column: c))
    }

    /// `requireLocations`: every `# expect error` must say where (the script files do).
    static func check(_ source: String, name: String, requireLocations: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        let (lines, diagnostics, _) = run(source)
        var cursor = 0
        var expectsError = false
        for l in source.components(separatedBy: "\n") {
            let t = l.trimmingCharacters(in: .whitespaces)
            if let (want, at) = expectedError(t) {
                expectsError = true
                if requireLocations && at == nil {
                    XCTFail("\(name): '\(t)' needs the error's line:col ('# expect error L:C: …')", file: file, line: line)
                }
                XCTAssertTrue(diagnostics.contains { $0.message.contains(want) && (at == nil || $0.location == at) },
                              "\(name): expected an error containing '\(want)'\(at.map { " at \($0)" } ?? ""), got \(diagnostics.map { "\($0.location.map { "\($0): " } ?? "")\($0.message)" })",
                              file: file, line: line)
            } else if t.hasPrefix("# expect:") {
                let want = t.dropFirst("# expect:".count).trimmingCharacters(in: .whitespaces)
                if let i = lines[cursor...].firstIndex(where: { $0.contains(want) }) { cursor = i + 1 }
                else { XCTFail("\(name): no output line containing '\(want)' (in order) in:\n\(lines.joined(separator: "\n"))", file: file, line: line) }
            }
        }
        if !expectsError {
            XCTAssertTrue(diagnostics.isEmpty, "\(name): unexpected errors: \(diagnostics.map { $0.rendered(file: name, source: source) }.joined(separator: "\n"))", file: file, line: line)
        }
    }

    static var repoRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL }
}
