// docs/language.md: its command reference matches the registry, and every ```lorabook block runs
// (in a fresh session) and meets its `# expect:` lines.
import XCTest
@testable import Kernel

final class LanguageDocTests: XCTestCase {
    var document: String { get throws { try String(contentsOf: K.repoRoot.appendingPathComponent("docs/language.md"), encoding: .utf8) } }

    func testCommandReferenceIsCurrent() throws {
        XCTAssertEqual(try document, LanguageReference.update(try document, registry: .standard),
                       "docs/language.md is out of date: run `swift run lorabook docs`")
        for name in CommandRegistry.standard.order { XCTAssertTrue(try document.contains("#### `\(name)`"), name) }
    }

    /// The ```lorabook blocks of a document, with the line each starts on.
    static func blocks(_ text: String) -> [(Int, String)] {
        var blocks: [(Int, String)] = [], current: [String]? = nil, start = 0
        for (i, line) in text.components(separatedBy: "\n").enumerated() {
            if current == nil, line == "```lorabook" { current = []; start = i + 2; continue }
            if current != nil, line == "```" { blocks.append((start, current!.joined(separator: "\n"))); current = nil; continue }
            current?.append(line)
        }
        return blocks
    }

    func testEveryExampleRuns() throws {
        let blocks = Self.blocks(try document)
        XCTAssertGreaterThan(blocks.count, 20)
        for (line, source) in blocks { K.check(source, name: "docs/language.md:\(line)") }
    }

    /// Every other page's ```lorabook blocks run too (docs/training.md: subsets, baselines, curves).
    func testExamplesInTheOtherDocsRun() throws {
        let docs = K.repoRoot.appendingPathComponent("docs")
        var count = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: docs.path).sorted() where name.hasSuffix(".md") && name != "language.md" {
            let text = try String(contentsOf: docs.appendingPathComponent(name), encoding: .utf8)
            for (line, source) in Self.blocks(text) { K.check(source, name: "docs/\(name):\(line)"); count += 1 }
        }
        XCTAssertGreaterThanOrEqual(count, 3, "docs/training.md's examples were found")
    }
}
