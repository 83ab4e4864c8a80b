// `lorabook run` and `check` as a user runs them: exit codes, located errors, reports written
// atomically and never over a good one.
import XCTest
import Foundation

final class NotebookCLITests: XCTestCase {
    var binary: URL { TestBinary.url }
    var root: URL { TestBinary.repositoryRoot }

    func run(_ args: [String]) throws -> (Int32, String) { try TestBinary.run(args) }

    /// Runs a study notebook headless at a tiny scale (`-p` pairs, then `extra` arguments) into a
    /// temporary report; asserts that every cell ran (claims may fail or be inconclusive on so
    /// little data) and returns the report.
    func runStudy(_ notebook: String, _ parameters: [String], extra: [String] = [], statuses: Set<Int32> = [0, 3, 5]) throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("study-\(UUID().uuidString).html")
        let (code, log) = try run(["run", notebook] + parameters.flatMap { ["-p", $0] } + ["-o", out.path, "-q", "--no-cache"] + extra)
        XCTAssertTrue(statuses.contains(code), "every cell ran (status \(code)): \(log)")
        let html = try String(contentsOf: out, encoding: .utf8)
        XCTAssertFalse(html.contains("section class=\"cell fail\""), "no cell failed")
        return html
    }

    func temp(_ name: String, _ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-cli-nb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testBadInputsGiveLocatedErrorsAndTheRightExitCode() throws {
        let unclosed = try temp("unclosed.md", "# t\n\n```lorabook\nprint 1\n")
        let yaml = try temp("yaml.md", "---\ntitle: [x\n---\n")
        let typo = try temp("typo.md", "```lorabook\nlora rnk=4\n```\n")
        let table: [([String], Int32, String)] = [
            (["run", "/nonexistent/x.md"], 2, "/nonexistent/x.md: error: no such notebook file"),
            (["run", unclosed.path], 2, "\(unclosed.path):3:1: error: the code fence opened here is never closed"),
            (["run", yaml.path], 2, "\(yaml.path):3:1: error: invalid front matter"),
            (["run", typo.path], 2, "\(typo.path):2:6: error: unknown parameter 'rnk' for 'lora'"),
            (["check", typo.path], 2, "hint: Did you mean 'rank'?"),
            (["run", "docs/examples/hello.md", "-p", "nn=3", "-q"], 2, "error: unknown parameter 'nn' in -p nn=3 (the notebook declares: n). Did you mean 'n'?"),
            (["run", "docs/examples/hello.md", "-p", "n=x", "-q"], 2, "error: parameter 'n' expects a number like its default 4, got 'x'"),
            (["run", "docs/examples/hello.md", "-o", "/nonexistent-dir/r.html", "-q"], 4, "error: cannot write the report /nonexistent-dir/r.html"),
        ]
        for (args, status, message) in table {
            let (code, out) = try run(args)
            XCTAssertEqual(code, status, "\(args): \(out)")
            XCTAssertTrue(out.contains(message), "\(args): expected '\(message)' in:\n\(out)")
            XCTAssertFalse(out.contains("Fatal error"), "\(args) crashed")
        }
    }

    func testAFailedRunNeverReplacesAGoodReport() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-cli-nb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let good = dir.appendingPathComponent("report.html")
        let (ok, out) = try run(["run", "docs/examples/hello.md", "-o", good.path, "-q"])
        XCTAssertEqual(ok, 0, out)
        let before = try Data(contentsOf: good)
        let (failed, out2) = try run(["run", "docs/examples/broken.md", "-o", good.path, "-q"])
        XCTAssertEqual(failed, 1, out2)
        XCTAssertTrue(out2.contains("docs/examples/broken.md:10:7: error: unknown variable 'y'"), out2)
        XCTAssertEqual(try Data(contentsOf: good), before, "the good report is untouched")
        let failedReport = try String(contentsOf: dir.appendingPathComponent("report.failed.html"), encoding: .utf8)
        XCTAssertTrue(failedReport.contains("This run stopped at <a href=\"#cell-broken\">"), "the failed run's report has the banner")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["report.failed.html", "report.html"], "no temporary files")
    }

    func testFailedClaimsExitThree() throws {
        let nb = try temp("claims.md", "```lorabook\nexpect 1 > 2 label=\"impossible\"\n```\n")
        let (code, out) = try run(["run", nb.path, "-q"])
        XCTAssertEqual(code, 3, out)
        XCTAssertTrue(out.contains("claim failed: ✗ FAILED: impossible"), out)
    }

    /// The paper notebook, at a tiny scale: every cell runs (claims may fail on so little data).
    func testPaperNotebookRunsAtATinyScale() throws {
        let html = try runStudy("notebooks/paper.md", ["limit=32", "dev_limit=40", "ranks=[1, 2]", "seeds=[0]", "multitask_limit=32", "members=2"])
        XCTAssertTrue(html.contains("Claims: ") && html.contains(" of 8 hold"), "eight claims in the scorecard")
        XCTAssertEqual(html.components(separatedBy: "<figure class=\"chart\">").count - 1, 8, "eight charts")
        XCTAssertTrue(html.contains("energy in its top k directions"), "the spectrum of full fine-tuning's update")
        XCTAssertTrue(html.contains("amp alone (full amp / full fp32)"), "the precision effect, separated")
        XCTAssertTrue(html.contains("(2) Memory: adapters alone take training memory to "), "findings written from the numbers")
    }

    /// The paper notebook's full budget, at a tiny scale: learning-rate probes on a validation split,
    /// learning curves, both budgets side by side, and the multitask members' recipe all run.
    func testPaperNotebookFullBudgetRunsAtATinyScale() throws {
        let html = try runStudy("notebooks/paper.md", ["budget=full", "limit=40", "dev_limit=40", "ranks=[1, 2]", "seeds=[0, 1]", "multitask_limit=40",
                                                      "members=2", "max_epochs=2", "multitask_epochs=2"])
        XCTAssertTrue(html.contains(" of 8 hold"), "eight claims")
        XCTAssertEqual(html.components(separatedBy: "<figure class=\"chart\">").count - 1, 12,
                       "the quick budget's eight charts, LoRA's and DoRA's learning curves, both budgets, the multitask curve")
        XCTAssertTrue(html.contains("rank vs SST-5 dev accuracy at both budgets"))
        XCTAssertTrue(html.contains("lora, quick budget") && html.contains("dora, full budget"), "both budgets' rows")
        XCTAssertTrue(html.contains("At the full budget (each run kept at its best validation epoch of at most 2)"), "findings say the budget")
        XCTAssertTrue(html.contains("(2) Over 2 seeds, LoRA all-linear with amp took "), "claim (2)'s ratios over seeds, with their interval")
        XCTAssertTrue(html.contains("the 95% interval of the per-seed ratio of seconds per epoch"), "claim (2) judged on its interval")
        XCTAssertTrue(html.contains("95% bootstrap interval over the dev rows"), "claim (3) judged on its bootstrap interval")
    }

    /// The adaptive-rank study, at a tiny scale, with --jobs 2: fixed ranks, AdaLoRA, truncation,
    /// heat maps, verdicts.
    func testAdaptiveRankNotebookRunsAtATinyScale() throws {
        let html = try runStudy("notebooks/adaptive-rank.md", ["limit=64", "dev_limit=40", "epochs=1", "seeds=[0, 1]", "ranks=[1, 2]", "targets=[2]",
                                                               "sts_limit=64", "sts_ranks=[2]"],
                                // planned and run through the sweep executor: AdaLoRA's placeholders carry ranks and rank_history
                                extra: ["--jobs", "2", "--store", FileManager.default.temporaryDirectory.appendingPathComponent("ar-store-\(UUID().uuidString)").path])
        XCTAssertTrue(html.contains(" of 3 hold"), "a claim per target rank on SST-5 and STS-B, and one for truncation")
        XCTAssertEqual(html.components(separatedBy: "<figure class=\"chart\">").count - 1, 8, "budget history, two heat maps, accuracy by rank in use and by parameters, time, memory, STS-B")
        XCTAssertTrue(html.contains("final rank per layer and matrix") && html.contains("rank per layer and matrix"))
        XCTAssertTrue(html.contains("The best fixed rank is "), "findings written from the numbers")
    }

    /// The LoRA-vs-full study, at a tiny scale: every cell runs, five claims with the poster's numbers.
    func testLoRAVersusFullNotebookRunsAtATinyScale() throws {
        let html = try runStudy("notebooks/lora-vs-full.md", ["sst2_limit=32", "quora_limit=32", "sts_limit=32", "dev_limit=32"], statuses: [0, 3])
        XCTAssertTrue(html.contains("Claims: ") && html.contains(" of 5 hold"), "five claims in the scorecard")
        XCTAssertEqual(html.components(separatedBy: "<figure class=\"chart\">").count - 1, 3, "three charts")
        XCTAssertTrue(html.contains("Speed: LoRA trains "), "findings written from the numbers")
    }

    /// `lorabook check` passes on every notebook in notebooks/.
    func testEveryNotebookChecks() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: "notebooks").filter { $0.hasSuffix(".md") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 3)
        for name in names {
            let (code, log) = try run(["check", "notebooks/" + name])
            XCTAssertEqual(code, 0, "\(name): \(log)")
        }
    }

    /// The README's main job, as README runs it (its defaults: two LoRA runs on 800 sentences).
    func testQuickstartNotebookRuns() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("quickstart-\(UUID().uuidString).html")
        let (code, log) = try run(["run", "notebooks/quickstart.md", "-o", out.path, "-q"])
        XCTAssertEqual(code, 0, log)
        let html = try String(contentsOf: out, encoding: .utf8)
        XCTAssertTrue(html.contains("Claims: 2 of 2 hold"), "claims")
        XCTAssertTrue(html.contains("<svg"), "the chart")
        XCTAssertTrue(html.contains("ids-sst-train.csv sha256:"), "data checksums")
    }
}
