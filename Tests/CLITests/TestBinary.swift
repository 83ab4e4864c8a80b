// Where the built `lorabook` executable is: beside the test runner (on Linux the .xctest is the
// running binary), and the repository root the tests run commands from.
import Foundation

enum TestBinary {
    static var url: URL {
        let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: runner).deletingLastPathComponent().appendingPathComponent("lorabook")
    }
    static var repositoryRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL }

    /// An environment for a test's lorabook: a fresh, empty run store unless the test names one
    /// (so that no test finds runs another test or an earlier `swift test` stored).
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["LORABOOK_STORE"] = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-test-store-\(UUID().uuidString)").path
        for (k, v) in extra { environment[k] = v }
        return environment
    }

    /// Runs `lorabook ARGS` in `cwd` (the repository root by default); its status and stdout+stderr.
    static func run(_ args: [String], cwd: URL? = nil, env: [String: String] = [:]) throws -> (Int32, String) {
        try execute(url, args, cwd: cwd, env: env)
    }

    /// How long one command of a test may run before it is killed and the test fails.
    static let deadline: TimeInterval = 900

    /// Runs any program (lorabook, bash) the same way: in `cwd` (the repository root by default),
    /// with a test's environment, bounded by `timeout` seconds; its status and stdout+stderr. A
    /// command that runs past it is killed with its process group, and the status is -1 with the
    /// output saying so.
    static func execute(_ executable: URL, _ args: [String], cwd: URL? = nil, env: [String: String] = [:], timeout: TimeInterval = deadline) throws -> (Int32, String) {
        let child = try Child(executable.path, args, cwd: cwd ?? repositoryRoot, environment: environment(env))
        defer { child.clean() }
        guard let status = child.wait(timeout: timeout) else {
            return (-1, child.output + "\n[killed: `\(([executable.lastPathComponent] + args).joined(separator: " "))` ran past \(Int(timeout)) s]")
        }
        return (status, child.output)
    }
}
