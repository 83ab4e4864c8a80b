// The REPL as a person uses it, in a real terminal (tmux): Tab completes, Up recalls history across
// restarts, Ctrl-C during a training returns to the prompt with the session intact.
import XCTest
import Foundation

final class ReplTerminalTests: XCTestCase {
    /// A fresh tmux server (socket) for every start: a server that is still shutting down from the
    /// previous start or test can never be reused by mistake.
    var socket = ""
    var sockets: [String] = []
    var history = ""

    override func setUp() {
        history = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-history-\(UUID().uuidString)").path
    }

    override func tearDown() {
        for s in sockets { socket = s; _ = tmux(["kill-server"]) }
        try? FileManager.default.removeItem(atPath: history)
    }

    var binary: String { TestBinary.url.path }

    /// Runs tmux through libc (Foundation's Process can wait forever on a client whose server
    /// daemonises); returns what it printed.
    @discardableResult
    func tmux(_ args: [String]) -> String {
        let command = (["tmux", "-L", socket] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        guard let f = popen(command + " 2>/dev/null", "r") else { return "" }
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        pclose(f)
        return String(decoding: out, as: UTF8.self)
    }

    func start() {
        socket = "lorabook-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        sockets.append(socket)
        // the server must not hold the popen pipe: start it with its output elsewhere
        let command = "tmux -L \(socket) new-session -d -s repl -x 150 -y 50 'env LORABOOK_HISTORY=\(history) \(binary) repl; sleep 30' >/dev/null 2>&1"
        XCTAssertEqual(system(command), 0, "tmux starts")
        XCTAssertTrue(waitFor { $0.contains("lorabook>") }, "the prompt appears (capture-pane drops trailing spaces)")
    }

    func keys(_ k: String...) { tmux(["send-keys", "-t", "repl"] + k) }
    var screen: String { tmux(["capture-pane", "-p", "-t", "repl", "-S", "-200"]) }

    /// Polls the screen until `condition` holds or `timeout` seconds pass.
    func waitFor(_ timeout: Double = 10, _ condition: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(screen) { return true }
            usleep(100_000)
        }
        return false
    }

    func testTmuxIsInstalled() {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "scripts/setup.sh installs tmux")
    }

    func testTabCompletesCommandsParametersChoicesAndVariables() {
        start()
        keys("let abcd = 41", "Enter")
        keys("print abc", "Tab")
        XCTAssertTrue(waitFor { $0.contains("print abcd") }, screen)
        keys(" + 1", "Enter")
        XCTAssertTrue(waitFor { $0.contains("\n42") }, screen)
        keys("lora ran", "Tab")
        XCTAssertTrue(waitFor { $0.contains("lora rank=") }, screen)
        keys("2 targets=all-l", "Tab")
        XCTAssertTrue(waitFor { $0.contains("targets=all-linear") }, screen)
        keys("Enter")
        XCTAssertTrue(waitFor { $0.contains("\"intermediate\", \"output\"]") }, screen)
        keys("help pl", "Tab")
        XCTAssertTrue(waitFor { $0.contains("help plot") }, screen)
        keys("Enter")
        XCTAssertTrue(waitFor { $0.contains("Chart a table") }, screen)
    }

    func testHistoryIsRecalledAcrossRestarts() {
        start()
        keys("print 12345 + 1", "Enter")
        XCTAssertTrue(waitFor { $0.contains("12346") }, screen)
        keys("quit", "Enter")
        XCTAssertTrue(waitFor { !$0.contains("lorabook>\n") && $0.contains("lorabook> quit") }, "quit leaves the REPL")
        _ = tmux(["kill-server"])
        usleep(300_000)
        start()
        keys("Up")
        XCTAssertTrue(waitFor { $0.contains("lorabook> quit") }, "Up recalls the last line: \(screen)")
        keys("Up")
        XCTAssertTrue(waitFor { $0.contains("lorabook> print 12345 + 1") }, "and the one before: \(screen)")
    }

    func testCtrlCStopsTrainingAndKeepsTheSession() {
        start()
        keys("model", "Enter")
        XCTAssertTrue(waitFor(30) { $0.contains("layers") }, screen)
        keys("let keep = 7", "Enter")
        keys("lora rank=2", "Enter")
        keys("let r = train sst limit=8000 batch=8", "Enter")
        XCTAssertTrue(waitFor(60) { $0.contains("step ") }, "training shows progress: \(screen)")
        keys("C-c")
        XCTAssertTrue(waitFor(60) { $0.contains("training stopped after step") }, "Ctrl-C stops the training: \(screen)")
        XCTAssertTrue(waitFor(30) { $0.components(separatedBy: "\n").last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?.hasPrefix("lorabook>") == true }, screen)
        keys("print keep * 6 r.stopped", "Enter")
        XCTAssertTrue(waitFor { $0.contains("42 true") }, "the session is intact and the run kept: \(screen)")
    }
}
