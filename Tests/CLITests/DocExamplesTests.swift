// Every ```console block in docs/ runs: each `$ lorabook …` line is executed with the built binary;
// each output line shown must appear in stdout+stderr ("…" matches anything that varies by machine);
// `[exit N]` gives the expected exit status (0 when absent).
import XCTest
import Foundation

final class DocExamplesTests: XCTestCase {
    struct Example { let file: String; let line: Int; let command: String; var expected: [String] = []; var exit: Int32 = 0 }

    static var docs: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs").standardizedFileURL }

    static func examples() throws -> [Example] {
        var result: [Example] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: docs.path).filter { $0.hasSuffix(".md") }.sorted()
        for file in files {
            let lines = try String(contentsOf: docs.appendingPathComponent(file), encoding: .utf8).components(separatedBy: "\n")
            var inConsole = false
            for (i, line) in lines.enumerated() {
                if line.hasPrefix("```") { inConsole = !inConsole && line.hasPrefix("```console"); continue }
                guard inConsole else { continue }
                if line.hasPrefix("$ ") {
                    result.append(Example(file: file, line: i + 1, command: String(line.dropFirst(2))))
                } else if let last = result.indices.last {
                    if line.hasPrefix("[exit "), let n = Int32(line.dropFirst(6).dropLast()) { result[last].exit = n }
                    else if !line.isEmpty { result[last].expected.append(line) }
                }
            }
        }
        return result
    }

    /// Splits a shell-like command line (double quotes group words).
    static func words(_ s: String) -> [String] {
        var words: [String] = [], cur = "", quoted = false, any = false
        for ch in s {
            if ch == "\"" { quoted.toggle(); any = true }
            else if ch == " " && !quoted { if any || !cur.isEmpty { words.append(cur) }; cur = ""; any = false }
            else { cur.append(ch) }
        }
        if any || !cur.isEmpty { words.append(cur) }
        return words
    }

    /// True when `line` matches `pattern`, where "…" stands for any text.
    static func matches(_ line: String, _ pattern: String) -> Bool {
        let parts = pattern.components(separatedBy: "…")
        guard line.hasPrefix(parts[0]) else { return false }
        var rest = line.dropFirst(parts[0].count)
        for (i, part) in parts.enumerated().dropFirst() where !part.isEmpty {
            if i == parts.count - 1 { return rest.hasSuffix(part) }
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return parts.count > 1 || rest.isEmpty
    }

    func testEveryConsoleExampleInDocsRuns() throws {
        let examples = try Self.examples()
        XCTAssertGreaterThanOrEqual(examples.count, 6, "the docs' examples were found")
        let binary = TestBinary.url
        for ex in examples {
            var args = Self.words(ex.command)
            XCTAssertEqual(args.removeFirst(), "lorabook", "\(ex.file):\(ex.line)")
            let (status, output) = try TestBinary.execute(binary, args)
            XCTAssertEqual(status, ex.exit, "\(ex.file):\(ex.line): `\(ex.command)` exit status; output:\n\(output)")
            let lines = output.components(separatedBy: "\n")
            for want in ex.expected {
                XCTAssertTrue(lines.contains { Self.matches($0, want) }, "\(ex.file):\(ex.line): `\(ex.command)` did not print a line like\n  \(want)\noutput:\n\(output)")
            }
        }
    }

    func testMatcher() {
        XCTAssertTrue(Self.matches("cls: 0.0464 0.3", "cls: 0.0464…"))
        XCTAssertTrue(Self.matches("a b c", "a…c"))
        XCTAssertFalse(Self.matches("a b c", "a…d"))
        XCTAssertFalse(Self.matches("a b", "a"))
        XCTAssertTrue(Self.matches("x", "x"))
        XCTAssertEqual(Self.words(#"embed --json "a b" c"#), ["embed", "--json", "a b", "c"])
    }
}
