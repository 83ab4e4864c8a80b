// The lorabook executable as a user runs it: outputs, JSON, exit codes and one-line errors.
import XCTest
import Foundation

func XCTAssertClose(_ a: [Double], _ b: [Double], tolerance: Double, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, message, file: file, line: line)
    for (x, y) in zip(a, b) where abs(x - y) > tolerance { XCTFail("\(message): \(a) against \(b) (tolerance \(tolerance))", file: file, line: line); return }
}

final class CLITests: XCTestCase {
    struct Run { let status: Int32; let stdout: String; let stderr: String }

    var executable: URL { TestBinary.url }

    func run(_ args: [String], env: [String: String] = [:]) throws -> Run {
        let child = try Child(executable.path, args, cwd: TestBinary.repositoryRoot, environment: TestBinary.environment(env), separateStderr: true)
        defer { child.clean() }
        let status = child.wait(timeout: TestBinary.deadline) ?? -1
        return Run(status: status, stdout: child.output, stderr: child.errors)
    }

    func golden() throws -> [[String: Any]] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../ModelTests/Fixtures/golden/minilm_forward.json")
        return (try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any])["cases"] as! [[String: Any]]
    }

    func testInfoReportsCoreThreadsModelAndData() throws {
        let r = try run(["info"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("blas:    OpenBLAS core "), r.stdout)
        XCTAssertTrue(r.stdout.contains(" thread"), r.stdout)
        XCTAssertTrue(r.stdout.contains("6 layers, hidden 384"), r.stdout)
    }

    /// A stale OPENBLAS_CORETYPE naming narrower kernels than the CPU has is replaced (and said so);
    /// LORABOOK_BLAS_CORE is taken as it is; a setting at the CPU's width is kept.
    func testCoreTypeSettings() throws {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let avx512 = ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy { info.contains(" \($0)") }
        let avx2 = info.contains(" avx2") && info.contains(" fma")
        func blasLine(_ env: [String: String]) throws -> String {
            let r = try run(["info"], env: env)
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout.split(separator: "\n").first { $0.hasPrefix("blas:") }.map(String.init) ?? ""
        }
        let forced = try blasLine(["LORABOOK_BLAS_CORE": "Prescott", "OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertTrue(forced.contains("core Prescott (set by LORABOOK_BLAS_CORE)"), forced)
        let stale = try blasLine(["OPENBLAS_CORETYPE": "Prescott"])
        if avx2 {
            XCTAssertTrue(stale.contains("chosen by lorabook over OPENBLAS_CORETYPE=Prescott"), stale)
            XCTAssertTrue(stale.contains("LORABOOK_BLAS_CORE=Prescott keeps it"), stale)
            XCTAssertFalse(stale.contains("core Prescott"), stale)
        }
        if avx512 {
            let haswell = try blasLine(["OPENBLAS_CORETYPE": "Haswell"])
            XCTAssertTrue(haswell.contains("over OPENBLAS_CORETYPE=Haswell"), haswell)
            let kept = try blasLine(["OPENBLAS_CORETYPE": "SkylakeX"])
            XCTAssertTrue(kept.contains("core SkylakeX (set by OPENBLAS_CORETYPE)"), kept)
        }
    }

    /// `bench train --json`: one object per configuration and precision with the keys the issue asks
    /// for, and a breakdown of the step whose parts are non-negative and add up to a step's time.
    func testBenchTrainJSON() throws {
        let r = try run(["bench", "train", "--mode", "lora", "--rank", "2", "--batch", "4", "--steps", "2", "--warmup", "1",
                         "--precision", "both", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stdout)
        for (line, amp) in zip(lines, [false, true]) {
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for key in ["mode", "rank", "targets", "amp", "batch", "seq_per_s", "ms_per_step", "peak_rss_mb", "gflops", "gemm_share"] {
                XCTAssertNotNil(o[key], "missing \(key) in \(line)")
            }
            XCTAssertEqual(o["mode"] as? String, "lora"); XCTAssertEqual(o["rank"] as? Int, 2); XCTAssertEqual(o["amp"] as? Bool, amp)
            let parts = try XCTUnwrap(o["breakdown_ms"] as? [String: Double])
            XCTAssertEqual(Set(parts.keys), ["linear", "attention", "rank-r", "other"])
            XCTAssertGreaterThan(parts["linear"]!, 0); XCTAssertGreaterThan(parts["rank-r"]!, 0, "LoRA has rank-r products")
            XCTAssertGreaterThan(parts["attention"]!, 0, "attention's products"); XCTAssertGreaterThan(parts["other"]!, 0, "softmax, LayerNorm, GELU, the optimizer: not products")
            let total = parts.values.reduce(0, +), median = try XCTUnwrap(o["ms_per_step"] as? Double)
            let lo = try XCTUnwrap(o["ms_min"] as? Double), hi = try XCTUnwrap(o["ms_max"] as? Double)
            XCTAssertTrue(total >= lo * 0.99 && total <= hi * 1.01, "breakdown \(total) ms outside the steps' \(lo)–\(hi) ms (median \(median))")
        }
    }

    func testEmbedJSONMatchesGolden() throws {
        for c in try golden() where ["ascii", "pair", "accents"].contains(c["name"] as! String) {
            var args = ["embed", "--json", c["text_a"] as! String]
            if let b = c["text_b"] as? String { args.append(b) }
            let r = try run(args)
            XCTAssertEqual(r.status, 0, r.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            let fp32 = c["fp32"] as! [String: Any]
            XCTAssertEqual(json["ids"] as? [Int], c["input_ids"] as? [Int])
            for key in ["cls_first16", "pooler_first8"] {
                let ours = json[key] as! [Double], theirs = fp32[key] as! [Double]
                for i in theirs.indices { XCTAssertEqual(ours[i], theirs[i], accuracy: 1e-4, "\(key)[\(i)]") }
            }
            XCTAssertEqual(json["last_hidden_mean"] as! Double, fp32["last_hidden_mean"] as! Double, accuracy: 1e-4)
            XCTAssertEqual(json["last_hidden_l2norm"] as! Double, fp32["last_hidden_l2norm"] as! Double, accuracy: 1e-3)
        }
    }

    /// `lorabook predict` with the PEFT-saved adapters: PEFT's logits as JSON lines, from arguments,
    /// a file and standard input; bad input named by file and line.
    func testPredictGivesPEFTsLogits() throws {
        let peft = TestBinary.repositoryRoot.appendingPathComponent("Tests/ModelTests/Fixtures/golden/peft")
        for name in ["lora-r4-qv", "dora-r2-all"] {
            let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: peft.appendingPathComponent(name + ".expected.json"))) as! [String: Any]
            let texts = expected["texts"] as! [String], logits = expected["logits"] as! [[Double]]
            let r = try run(["predict", "--adapter", peft.appendingPathComponent(name).path, "--task", "sst", "--json"] + texts)
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            XCTAssertEqual(lines.count, texts.count)
            for (line, (text, want)) in zip(lines, zip(texts, logits)) {
                XCTAssertEqual(line["text"] as? String, text)
                XCTAssertClose(line["logits"] as! [Double], want, tolerance: 1e-4, "\(name): \(text)")
                XCTAssertEqual(line["label"] as? Int, want.indices.max { want[$0] < want[$1] })
                XCTAssertEqual((line["probabilities"] as! [Double]).reduce(0, +), 1, accuracy: 1e-9)
            }
            XCTAssertTrue(r.stderr.contains("sequences/s"), r.stderr)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-predict-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("in.txt")
        try "a fine film\n\nawful\r\n".write(to: file, atomically: true, encoding: .utf8)
        let adapter = peft.appendingPathComponent("lora-r4-qv").path
        let fromFile = try run(["predict", "--adapter", adapter, "--file", file.path])
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        XCTAssertEqual(fromFile.stdout.split(separator: "\n").map { $0.split(separator: "\t").last! }, ["a fine film", "awful"])
        let (status, piped) = try TestBinary.execute(URL(fileURLWithPath: "/bin/bash"), ["-c", "printf 'one\\ntwo\\nthree\\n' | '\(TestBinary.url.path)' predict --adapter '\(adapter)' 2>/dev/null"])
        XCTAssertEqual(status, 0, piped)
        XCTAssertEqual(piped.split(separator: "\n").count, 3, piped)
        try Data([0x6f, 0x6b, 0x0a, 0x62, 0xff, 0x0a]).write(to: file)
        let bad = try run(["predict", "--adapter", adapter, "--file", file.path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("\(file.path):2") && bad.stderr.contains("UTF-8"), bad.stderr)
        let noHead = try run(["predict", "--adapter", adapter, "--task", "sst", "--json", "x"])
        XCTAssertEqual(noHead.status, 0, "a PEFT classifier takes the task's name")
        let missing = try run(["predict", "--adapter", folder.appendingPathComponent("nothing").path, "x"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("nothing") && missing.stderr.contains("no such file or folder"), missing.stderr)
    }

    func testLongPairIsTruncatedWithAWarning() throws {
        let long = Array(repeating: "word", count: 40).joined(separator: " ")
        let r = try run(["embed", "--json", "--max-length", "16", long, "short pair"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "warning: input truncated to 16 tokens (29 word pieces dropped, longest first)\n")
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["ids"].map { ($0 as! [Int]).count }, 16)
    }

    /// Each bad input: one line on stderr starting "error: ", naming what and where; exit 1 (64 for usage).
    func testBadInputGivesOneLineErrors() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        try "{}".write(to: tmp.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let table: [([String], Int32, String)] = [
            (["embed", "--model", "/nonexistent/m", "hi"], 1, "error: model folder '/nonexistent/m' does not exist"),
            (["embed", "--model", tmp.path, "hi"], 1, "error: \(tmp.path)/config.json: invalid BERT config: missing 'hidden_size'"),
            (["embed", "--max-length", "2", "hi"], 64, "--max-length must be at least 4, got 2."),
            (["embed", "--threads", "0", "hi"], 64, "--threads must be at least 1, got 0."),
            // the Model's choices are argument types: a wrong one is a usage error listing the allowed values
            (["train", "--mode", "bogus"], 64, "The value 'bogus' is invalid for '--mode <mode>'. Please provide one of 'full', 'head', 'lora', 'dora' or 'adalora'."),
            (["train", "--save", "x", "--format", "onnx"], 64, "Please provide one of 'lorabook' and 'peft'."),
            (["eval", "--adapter", "x", "--sample", "all"], 64, "The value 'all' is invalid for '--sample <sample>'."),
        ]
        for (args, status, expect) in table {
            let r = try run(args)
            XCTAssertEqual(r.status, status, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(expect), "\(args): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), "\(args) crashed")
        }
    }

    func testInvalidUTF8ArgumentIsRejected() throws {
        // arguments are passed as Swift Strings; go through sh with a shell-built byte string.
        let child = try Child("/bin/sh", ["-c", "\"\(executable.path)\" embed \"$(printf 'caf\\351')\""], cwd: TestBinary.repositoryRoot, environment: TestBinary.environment(), separateStderr: true)
        defer { child.clean() }
        XCTAssertEqual(child.wait(timeout: TestBinary.deadline), 1)
        XCTAssertEqual(child.errors,
                       "error: argument 2 is not valid UTF-8 (first bad byte at offset 3)\n")
    }
}

/// The tests' way of running programs: a child that leaves a daemon holding its output behind is
/// still seen to end, and one that runs past its deadline is killed with its process group.
final class ChildTests: XCTestCase {
    func testAChildThatLeavesADaemonBehindEndsAndADeadlineKills() throws {
        let started = Date()
        let (status, output) = try TestBinary.execute(URL(fileURLWithPath: "/bin/bash"), ["-c", "setsid sleep 30 & echo started; exit 3"], timeout: 20)
        XCTAssertEqual(status, 3, output)
        XCTAssertEqual(output, "started\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "the sleeper kept stdout open, yet the wait ended with bash")

        let (killed, said) = try TestBinary.execute(URL(fileURLWithPath: "/bin/bash"), ["-c", "echo waiting; sleep 61"], timeout: 1)
        XCTAssertEqual(killed, -1)
        XCTAssertTrue(said.hasPrefix("waiting\n") && said.contains("ran past 1 s"), said)
        XCTAssertFalse(try TestBinary.execute(URL(fileURLWithPath: "/bin/bash"), ["-c", "pgrep -fx 'sleep 61' || true"]).1.contains(where: \.isNumber), "the group's sleep was killed too")
    }
}
