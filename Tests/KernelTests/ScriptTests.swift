// Script files in Tests/KernelTests/Scripts: each runs in a fresh session and is checked against
// its own `# expect:` and `# expect error:` lines.
import XCTest
@testable import Kernel

final class ScriptTests: XCTestCase {
    func testScripts() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".lb") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 4)
        for f in files { K.check(try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8), name: f) }
    }
}
