// The session's persistent state is one Codable struct, `SessionState`: a failed statement
// restores it whole, and the cell cache's changes carry every field of it. The round trip compares
// the whole encoded state, so a field added to SessionState is covered without editing this test.
import XCTest
import Foundation
@testable import Kernel
import Model

final class SessionStateTests: XCTestCase {
    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    func encoded(_ s: Session, runs: URL) throws -> String {
        let archive = RunArchive(folder: runs, models: { try s.model(folder: $0) })
        return String(decoding: try archive.encoder.encode(s.state), as: UTF8.self)
    }

    /// Every field a session sets (variables, the seed, the adaptation, a registered data file, the
    /// data folder) survives saveChanges and restore into a fresh kernel; removals too.
    func testTheWholeStateSurvivesTheCellCachesChanges() throws {
        let dir = try folder(), runs = dir.appendingPathComponent("runs")
        let csv = dir.appendingPathComponent("toy.csv")
        try "id\ttext\tlabel\n1\tgood\t1\n2\tbad\t0\n".write(to: csv, atomically: true, encoding: .utf8)
        let first = Interpreter(session: Session(dataFolder: dir))
        try first.configure(KernelSetup(seed: 3, parameters: [("n", .number(2))]))
        XCTAssertTrue(first.execute("let gone = 1").ok)
        let a = try first.saveChanges(runs: runs)
        let source = "let x = [1, 2]\nlet t = table [{a: 1, b: \"z\"}]\nseed 7\nlora rank=4 targets=all-linear alpha=16\n"
            + "data \"\(csv.path)\" name=toy text=text label=label"
        let r = first.execute(source)
        XCTAssertTrue(r.ok, r.diagnostics.map(\.message).joined())
        first.session.variables["gone"] = nil
        let b = try first.saveChanges(runs: runs)
        XCTAssertTrue(b.json.contains("\"removed\":[\"gone\"]"), b.json)
        XCTAssertFalse(b.json.contains("\"n\":"), "an unchanged variable is not stored again: \(b.json)")

        let second = Interpreter(session: Session(dataFolder: dir))
        try second.configure(KernelSetup(seed: 3, parameters: [("n", .number(2))]))
        try second.restore([a, b], runs: runs)
        XCTAssertEqual(try encoded(second.session, runs: runs), try encoded(first.session, runs: runs))
        XCTAssertEqual(second.session.seed, 7)
        XCTAssertEqual(second.session.adaptation.rank, 4)
        XCTAssertNil(second.session.variables["gone"])
        XCTAssertEqual(second.execute("data toy").ok, true, "the registered file is back")
    }

    /// A statement that fails restores the whole state (one struct), here after it registered data.
    func testAFailedStatementRestoresTheWholeState() throws {
        let dir = try folder()
        let s = Session(dataFolder: dir)
        let k = Interpreter(session: s)
        XCTAssertTrue(k.execute("seed 5\nlet x = 1").ok)
        let before = try encoded(s, runs: dir)
        let r = k.execute("let y = [(seed 9), 1 / \"a\"]")
        XCTAssertFalse(r.ok)
        XCTAssertEqual(try encoded(s, runs: dir), before, "the failed statement's seed and binding are undone")
    }
}
