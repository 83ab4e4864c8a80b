// Script files in Tests/KernelTests/Scripts: each runs in a fresh session and is checked against
// its own `# expect:` and `# expect error L:C:` lines (every expected error says where it is).
import XCTest
@testable import Kernel

final class ScriptTests: XCTestCase {
    /// The located form is read, and a wrong line or column fails.
    func testExpectedErrorsCarryTheirLocation() {
        XCTAssertEqual(K.expectedError("# expect error 3:6: unknown parameter")?.1, SourceLocation(line: 3, column: 6))
        XCTAssertEqual(K.expectedError("# expect error 3:6: unknown parameter")?.0, "unknown parameter")
        XCTAssertNil(K.expectedError("# expect error: unknown")?.1)
        let (_, d, _) = K.run("lora rnk=4")
        XCTAssertEqual(d.first?.location, SourceLocation(line: 1, column: 6), "the script test's check compares this")
    }

    func testScripts() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".lb") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 4)
        for f in files { K.check(try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8), name: f, requireLocations: true) }
    }
}
