// Sweeps end to end with the real binary: a tiny notebook (2 ranks × 2 seeds) rendered serially,
// with `--jobs 2`, and from a real Slurm array gives the same numbers; adding a rank trains only
// its runs; kill -9 of a job never leaves an entry that loads; GNU parallel runs a plan's commands.
import XCTest
import Foundation
import Sweeps

final class SweepTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Self.notebook.write(to: folder.appendingPathComponent("sweep.md"), atomically: true, encoding: .utf8)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    static let notebook = """
    ---
    title: tiny sweep
    params:
      ranks: [1, 2]
    seed: 0
    model: default
    ---

    # A sweep of ranks and seeds

    ```lorabook id=sweep
    let t = table()
    for r in ranks {
      for s in [0, 1] {
        seed s
        lora rank=r
        let run = train sst limit=48 batch=16 max_length=32
        let e = eval sst limit=40 max_length=32
        t += {rank: r, seed: s, accuracy: e.accuracy, loss: run.loss}
      }
    }
    table t
    ```

    ```lorabook id=claims
    let g = table t group=rank
    g
    expect max(t.accuracy) >= 0 label="every run was scored"
    ```

    """

    func lorabook(_ args: [String], env: [String: String] = [:]) throws -> (Int32, String) { try TestBinary.run(args, cwd: folder, env: env) }
    var store: URL { folder.appendingPathComponent("store") }

    /// The numbers of the report's tables, in order (the title block's facts are not in a table).
    func reportNumbers(_ html: URL) throws -> [Double] {
        let text = try String(contentsOf: html, encoding: .utf8)
        var numbers: [Double] = []
        var rest = Substring(text)
        while let table = rest.range(of: "<table class=\"data\"") ?? rest.range(of: "<table class=\"metrics\""), let end = rest[table.upperBound...].range(of: "</table>") {
            let body = rest[table.upperBound..<end.lowerBound]
            var cells = body
            while let td = cells.range(of: "<td"), let close = cells[td.upperBound...].range(of: "</td>") {
                let inner = cells[td.upperBound..<close.lowerBound]
                if let gt = inner.firstIndex(of: ">"), let n = Double(inner[inner.index(after: gt)...].trimmingCharacters(in: .whitespaces)) { numbers.append(n) }
                cells = cells[close.upperBound...]
            }
            rest = rest[end.upperBound...]
        }
        return numbers
    }

    func assertClose(_ a: [Double], _ b: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): \(a) against \(b)", file: file, line: line)
        for (x, y) in zip(a, b) where abs(x - y) > 2e-4 {
            XCTFail("\(what): \(x) against \(y) (tolerance 2e-4: the last printed digit)\n\(a)\n\(b)", file: file, line: line)
        }
    }

    /// Starts the single-node Slurm (scripts/slurm-local.sh); a reason when this machine cannot.
    func startSlurm() throws -> String? {
        let (status, out) = try TestBinary.execute(URL(fileURLWithPath: "/bin/bash"), [TestBinary.repositoryRoot.appendingPathComponent("scripts/slurm-local.sh").path])
        return status == 0 ? nil : out
    }

    func shell(_ command: String) throws -> (Int32, String) {
        try TestBinary.execute(URL(fileURLWithPath: "/bin/bash"), ["-c", command], cwd: folder)
    }

    func testSerialJobsAndSlurmGiveTheSameReport() throws {
        let (s0, serial) = try lorabook(["run", "sweep.md", "--no-cache", "--store", "serial", "-o", "serial.html"])
        XCTAssertEqual(s0, 0, serial)
        XCTAssertTrue(serial.contains("runs: 4 trained, 0 from the store"), serial)
        let reference = try reportNumbers(folder.appendingPathComponent("serial.html"))
        XCTAssertGreaterThanOrEqual(reference.count, 16, "the sweep's table and the grouped one: \(reference)")

        let (s1, jobs) = try lorabook(["run", "sweep.md", "--no-cache", "--jobs", "2", "--store", "jobs", "-o", "jobs.html"])
        XCTAssertEqual(s1, 0, jobs)
        XCTAssertTrue(jobs.contains("running 4 jobs in 2 workers of 1 thread"), jobs)
        XCTAssertTrue(jobs.contains("runs: 0 trained, 4 from the store"), "the render trains nothing: \(jobs)")
        assertClose(try reportNumbers(folder.appendingPathComponent("jobs.html")), reference, "--jobs 2 against serial")

        // a real Slurm array: plan, sbatch --wait, render
        if let why = try startSlurm() {
            // as root (CI's setup installs slurm-wlm and munge) it must start; elsewhere the reason is the answer
            if getuid() == 0 && ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("CI must run the Slurm check, but Slurm did not start: \(why)") }
            throw XCTSkip("Slurm cannot run on this machine: \(why)")
        }
        let (s2, plan) = try lorabook(["plan", "sweep.md", "--store", "slurm", "-o", "slurm.jsonl", "--slurm", "--max-parallel", "2"])
        XCTAssertEqual(s2, 0, plan)
        XCTAssertTrue(plan.contains("4 new jobs, 0 trainings already stored"), plan)
        let script = try String(contentsOf: folder.appendingPathComponent("slurm.sbatch"), encoding: .utf8)
        XCTAssertTrue(script.contains("#SBATCH --array=0-3%2"), script)
        guard let sbatch = plan.split(separator: "\n").first(where: { $0.hasPrefix("sbatch --wait ") }) else { return XCTFail("no sbatch line: \(plan)") }
        let jobName = script.split(separator: "\n").first { $0.hasPrefix("#SBATCH --job-name=") }.map { String($0.dropFirst("#SBATCH --job-name=".count)) } ?? "lorabook"
        let (s3, submitted) = try TestBinary.execute(URL(fileURLWithPath: "/bin/bash"), ["-c", String(sbatch)], cwd: folder, timeout: 600)
        if s3 != 0 {
            // what Slurm says about the node and the queue, then the job goes
            let (_, state) = try shell("squeue; sinfo -R; scontrol show node | head -20; tail -20 /var/log/slurm/slurmctld.log; scancel --name=\(jobName)")
            return XCTFail("sbatch --wait: status \(s3)\n\(submitted)\n\(state)")
        }
        let logs = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("logs").path)
        XCTAssertEqual(logs.count, 4, "one log per array task: \(logs)")
        let (s4, rendered) = try lorabook(["run", "sweep.md", "--no-cache", "--store", "slurm", "-o", "slurm.html"])
        XCTAssertEqual(s4, 0, rendered)
        XCTAssertTrue(rendered.contains("runs: 0 trained, 4 from the store"), "every run came from the Slurm tasks: \(rendered)")
        assertClose(try reportNumbers(folder.appendingPathComponent("slurm.html")), reference, "Slurm against serial")
    }

    func testAddingARankTrainsOnlyItsRuns() throws {
        let (s0, first) = try lorabook(["run", "sweep.md", "-p", "ranks=[1]", "--store", "store"])
        XCTAssertEqual(s0, 0, first)
        XCTAssertTrue(first.contains("runs: 2 trained, 0 from the store"), first)
        let (s1, second) = try lorabook(["run", "sweep.md", "-p", "ranks=[1, 2]", "--store", "store"])
        XCTAssertEqual(s1, 0, second)
        XCTAssertTrue(second.contains("runs: 2 trained, 2 from the store"), "only rank 2's two seeds train: \(second)")
        let (s2, third) = try lorabook(["run", "sweep.md", "-p", "ranks=[1, 2]", "--store", "store", "--refresh"])
        XCTAssertEqual(s2, 0, third)
        XCTAssertTrue(third.contains("runs: 0 trained, 4 from the store"), "a refreshed cell cache still finds every run: \(third)")
        let (_, listed) = try lorabook(["runs", "ls", "--store", "store"])
        XCTAssertTrue(listed.contains("4 runs"), listed)
    }

    /// kill -9 at random moments while jobs train and store: whatever is under a key loads; the
    /// next run of the plan completes the sweep.
    func testKilledJobsNeverLeaveAnEntryThatLoads() throws {
        let (s0, plan) = try lorabook(["plan", "sweep.md", "--store", "store", "-o", "plan.jsonl"])
        XCTAssertEqual(s0, 0, plan)
        var generator = SystemRandomNumberGenerator()
        let runStore = RunStore(directory: store)
        var kills = 0
        for round in 0..<60 where kills < 10 {
            // once every run is stored, one goes again, so that the next kill meets a training or a write
            if runStore.list().count == 4, let victim = runStore.list().randomElement(using: &generator) { runStore.discard(victim.key) }
            let child = try Child(TestBinary.url.path, ["job", "plan.jsonl", "--threads", "1"], cwd: folder, environment: TestBinary.environment())
            usleep(UInt32.random(in: 50_000...1_500_000, using: &generator))
            if child.isRunning { child.signal(SIGKILL); kills += 1 }
            XCTAssertNotNil(child.wait(timeout: TestBinary.deadline), "round \(round): the job ended")
            child.clean()
            for name in (try? FileManager.default.contentsOfDirectory(atPath: store.path)) ?? [] where !name.hasPrefix(".") {
                guard case .hit = runStore.lookup(name) else { return XCTFail("round \(round): \(name) is under its key but does not load") }
            }
        }
        XCTAssertGreaterThanOrEqual(kills, 10)
        let (s1, finish) = try lorabook(["job", "plan.jsonl"])
        XCTAssertEqual(s1, 0, finish)
        XCTAssertEqual(runStore.list().count, 4)
        XCTAssertTrue(runStore.list().allSatisfy { $0.problem == nil })
        let (s2, rendered) = try lorabook(["run", "sweep.md", "--store", "store"])
        XCTAssertEqual(s2, 0, rendered)
        XCTAssertTrue(rendered.contains("runs: 0 trained, 4 from the store"), rendered)
    }

    func testGNUParallelRunsThePlansCommands() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/parallel") else {
            if ProcessInfo.processInfo.environment["CI"] != nil { return XCTFail("GNU parallel is not installed (scripts/setup.sh installs it)") }
            throw XCTSkip("GNU parallel is not installed")
        }
        let (s0, commands) = try lorabook(["plan", "sweep.md", "--store", "store", "-o", "plan.jsonl", "--commands"])
        XCTAssertEqual(s0, 0, commands)
        let lines = commands.split(separator: "\n").filter { $0.contains(" job ") }
        XCTAssertEqual(lines.count, 4, commands)
        try lines.joined(separator: "\n").write(to: folder.appendingPathComponent("jobs.txt"), atomically: true, encoding: .utf8)
        let (s1, out) = try shell("LORABOOK_PROGRESS=lines parallel --will-cite --jobs 2 --joblog joblog.txt < jobs.txt")
        XCTAssertEqual(s1, 0, out)
        let joblog = try String(contentsOf: folder.appendingPathComponent("joblog.txt"), encoding: .utf8)
        XCTAssertEqual(joblog.split(separator: "\n").count, 5, "a header and one line per job: \(joblog)")
        let (s2, rendered) = try lorabook(["run", "sweep.md", "--store", "store"])
        XCTAssertEqual(s2, 0, rendered)
        XCTAssertTrue(rendered.contains("runs: 0 trained, 4 from the store"), rendered)
        // planning again finds nothing new
        let (_, again) = try lorabook(["plan", "sweep.md", "--store", "store", "-o", "plan.jsonl"])
        XCTAssertTrue(again.contains("0 new jobs, 4 trainings already stored"), again)
    }
}
