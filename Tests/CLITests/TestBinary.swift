// Where the built `lorabook` executable is: beside the test runner (on Linux the .xctest is the
// running binary), and the repository root the tests run commands from.
import Foundation

enum TestBinary {
    static var url: URL {
        let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: runner).deletingLastPathComponent().appendingPathComponent("lorabook")
    }
    static var repositoryRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL }
}
