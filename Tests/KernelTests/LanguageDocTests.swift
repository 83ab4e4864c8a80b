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

    func testEveryExampleRuns() throws {
        var blocks: [(Int, String)] = [], current: [String]? = nil, start = 0
        for (i, line) in try document.components(separatedBy: "\n").enumerated() {
            if current == nil, line == "```lorabook" { current = []; start = i + 2; continue }
            if current != nil, line == "```" { blocks.append((start, current!.joined(separator: "\n"))); current = nil; continue }
            current?.append(line)
        }
        XCTAssertGreaterThan(blocks.count, 20)
        for (line, source) in blocks { K.check(source, name: "docs/language.md:\(line)") }
    }
}
