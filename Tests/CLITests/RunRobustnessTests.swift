// `lorabook run` under interruption and with a cache that could go wrong: SIGINT and SIGTERM stop
// the run and keep the good report and saved files; the cache stores NaN, reruns a cell whose file
// is gone, keys on the seed and the build, never hashes a device, resolves paths against the
// notebook's folder and collects what it no longer needs.
import XCTest
import Foundation

final class RunRobustnessTests: XCTestCase {
    var binary: URL { TestBinary.url }

    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs lorabook from `cwd` (the repository root by default), returning status and all output.
    @discardableResult
    func lorabook(_ args: [String], cwd: URL? = nil) throws -> (Int32, String) { try TestBinary.run(args, cwd: cwd) }

    /// Starts lorabook, waits until its output contains `marker`, sends `signal`, and returns status and output.
    func interrupted(_ args: [String], after marker: String, signal: Int32) throws -> (Int32, String) {
        let child = try Child(binary.path, args, cwd: TestBinary.repositoryRoot, environment: TestBinary.environment())
        defer { child.clean() }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, child.isRunning, !child.output.contains(marker) { usleep(50_000) }
        usleep(1_500_000)   // into the training
        XCTAssertTrue(child.isRunning, "still running when interrupted")
        child.signal(signal)
        guard let status = child.wait(timeout: 120) else { return (-1, child.output + "\n[did not stop within 120 s of the signal]") }
        return (status, child.output)
    }

    func testSIGINTAndSIGTERMStopTheRunAndKeepGoodFiles() throws {
        let dir = try folder()
        let nb = dir.appendingPathComponent("train.md")
        try """
        ---
        params: {epochs: 1}
        ---
        ```lorabook id=setup
        model
        lora rank=2
        ```

        ```lorabook id=fit
        let r = train sst limit=64 batch=16 epochs=epochs
        save r "adapter.safetensors"
        print r.loss
        ```
        """.write(to: nb, atomically: true, encoding: .utf8)
        let report = dir.appendingPathComponent("train.html"), adapter = dir.appendingPathComponent("adapter.safetensors")
        let (ok, out) = try lorabook(["run", nb.path])
        XCTAssertEqual(ok, 0, out)
        let goodReport = try Data(contentsOf: report), goodAdapter = try Data(contentsOf: adapter)

        // a long training, interrupted: exit 130, nothing good overwritten, a partial report marked interrupted
        let (code, log) = try interrupted(["run", nb.path, "-p", "epochs=500"], after: "(fit, line", signal: SIGINT)
        XCTAssertEqual(code, 130, log)
        XCTAssertEqual(try Data(contentsOf: report), goodReport, "the good report is untouched")
        XCTAssertEqual(try Data(contentsOf: adapter), goodAdapter, "the saved adapter is untouched")
        let partial = try String(contentsOf: dir.appendingPathComponent("train.failed.html"), encoding: .utf8)
        XCTAssertTrue(partial.contains("interrupted (SIGINT)"), "the partial report says so")
        XCTAssertTrue(log.contains("interrupted by SIGINT at cell 2"), log)

        // the completed cell was cached: the next run resumes there; SIGTERM gives 143
        let (code2, log2) = try interrupted(["run", nb.path, "-p", "epochs=500"], after: "(fit, line", signal: SIGTERM)
        XCTAssertEqual(code2, 143, log2)
        XCTAssertTrue(log2.contains("cell 1/2 (setup) from the cache"), log2)
        XCTAssertEqual(try Data(contentsOf: adapter), goodAdapter)
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("train.failed.html"), encoding: .utf8).contains("interrupted (SIGTERM)"))

        // a good run afterwards removes the stale failed report
        let (again, out3) = try lorabook(["run", nb.path])
        XCTAssertEqual(again, 0, out3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("train.failed.html").path), "no stale failed report")
    }

    func testTheCacheStoresNaNRerunsMissingFilesAndKeysOnTheSeed() throws {
        let dir = try folder()
        let nb = dir.appendingPathComponent("nan.md")
        try """
        ---
        seed: 0
        ---
        ```lorabook
        model
        head
        let r = train sst limit=32 batch=16 lr=1e30
        print r.loss
        ```

        ```lorabook
        let t = table()
        t += {a: 1, loss: r.loss}
        save t "out.csv"
        print "/dev/zero"
        ```
        """.write(to: nb, atomically: true, encoding: .utf8)
        let elsewhere = try folder()
        // relative paths resolve against the notebook's folder, not the working folder
        let (first, out1) = try lorabook(["run", nb.path], cwd: elsewhere)
        XCTAssertEqual(first, 0, out1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out.csv").path), out1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: elsewhere.appendingPathComponent("out.csv").path))
        // a rerun restores everything, the NaN run included, and the written file is not part of the key
        let (second, out2) = try lorabook(["run", nb.path])
        XCTAssertEqual(second, 0, out2)
        XCTAssertTrue(out2.contains("cell 1/2 (cell-1) from the cache") && out2.contains("cell 2/2 (cell-2) from the cache"), out2)
        // the file a cached cell wrote is gone: that cell runs again and writes it
        try FileManager.default.removeItem(at: dir.appendingPathComponent("out.csv"))
        let (third, out3) = try lorabook(["run", nb.path])
        XCTAssertEqual(third, 0, out3)
        XCTAssertTrue(out3.contains("out.csv, is missing"), out3)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out.csv").path))
        // another seed in the front matter is another result: nothing from the cache
        try String(contentsOf: nb, encoding: .utf8).replacingOccurrences(of: "seed: 0", with: "seed: 7").write(to: nb, atomically: true, encoding: .utf8)
        let (fourth, out4) = try lorabook(["run", nb.path])
        XCTAssertEqual(fourth, 0, out4)
        XCTAssertFalse(out4.contains("from the cache"), out4)
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("nan.html"), encoding: .utf8).contains("<th>seed</th><td>7</td>"))
        // --refresh leaves the old runs unreferenced; every run collects them
        let runs = dir.appendingPathComponent(".lorabook-cache/nan/runs")
        let before = try FileManager.default.contentsOfDirectory(atPath: runs.path).count
        let (fifth, out5) = try lorabook(["run", nb.path, "--refresh"])
        XCTAssertEqual(fifth, 0, out5)
        XCTAssertTrue(out5.contains("unused runs"), out5)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: runs.path).count, before, "the replaced runs were collected")
        // and by hand: an orphan run file and a stray temporary file go
        try Data("x".utf8).write(to: runs.appendingPathComponent("deadbeef.safetensors"))
        try Data("x".utf8).write(to: dir.appendingPathComponent(".lorabook-cache/nan/.tmp-123"))
        let (gc, out6) = try lorabook(["cache", "gc", nb.path])
        XCTAssertEqual(gc, 0, out6)
        XCTAssertTrue(out6.contains("1 unused runs"), out6)
        XCTAssertFalse(FileManager.default.fileExists(atPath: runs.appendingPathComponent("deadbeef.safetensors").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".lorabook-cache/nan/.tmp-123").path))
    }

    func testInvalidUTF8IsLocatedAndScriptsAreCheckedAsScripts() throws {
        let dir = try folder()
        let bad = dir.appendingPathComponent("bad.md")
        try Data("# ok\nline two é\nthird \u{00}".utf8.map { $0 } + [0xC3, 0x28] + Array(" rest\n".utf8)).write(to: bad)
        let (code, out) = try lorabook(["check", bad.path])
        XCTAssertEqual(code, 2, out)
        XCTAssertTrue(out.contains("\(bad.path):3:8: error: invalid UTF-8: byte 0xC3 at byte offset 24"), out)
        let script = dir.appendingPathComponent("s.lb")
        try "let x = 1\nprnt x\n".write(to: script, atomically: true, encoding: .utf8)
        let (c2, o2) = try lorabook(["check", script.path])
        XCTAssertEqual(c2, 2, o2)
        XCTAssertTrue(o2.contains("s.lb:2:"), o2)
        try "let x = 1\nprint x\n".write(to: script, atomically: true, encoding: .utf8)
        let (c3, o3) = try lorabook(["check", script.path])
        XCTAssertEqual(c3, 0, o3)
        XCTAssertTrue(o3.contains("script"), o3)
        try Data([0x70, 0x72, 0xFF]).write(to: script)
        let (c4, o4) = try lorabook(["exec", script.path])
        XCTAssertEqual(c4, 2, o4)
        XCTAssertTrue(o4.contains("s.lb:1:3: error: invalid UTF-8: byte 0xFF at byte offset 2"), o4)
    }
}
