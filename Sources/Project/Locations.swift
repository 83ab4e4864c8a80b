// Where lorabook finds its default model and its data, without the user having to say.
//
// Project root: the nearest folder, above the current directory or above the executable, that holds
// `scripts/setup.sh` and `Package.swift` (a clone of lorabook).
// Model: `--model DIR`, else $LORABOOK_MODEL, else <root>/models/minilm-l6 (put there by setup).
// Data:  `--data DIR`, else $LORABOOK_DATA, else <root>/../shared/data.
import Foundation

public enum Locations {
    public static func projectRoot() -> URL? {
        var starts = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        if exe.path.hasPrefix("/") { starts.append(exe.deletingLastPathComponent()) }
        if let proc = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: proc).deletingLastPathComponent())
        }
        for start in starts {
            var dir = start.standardizedFileURL
            while true {
                let fm = FileManager.default
                if fm.fileExists(atPath: dir.appendingPathComponent("scripts/setup.sh").path),
                   fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
                let up = dir.deletingLastPathComponent()
                if up.path == dir.path { break }
                dir = up
            }
        }
        return nil
    }

    /// The model folder to use, and how it was chosen.
    public static func modelFolder(_ explicit: String? = nil) -> (url: URL, source: String) {
        folder(explicit, flag: "--model", environment: "LORABOOK_MODEL", default: "models/minilm-l6")
    }

    /// The data folder to use, and how it was chosen.
    public static func dataFolder(_ explicit: String? = nil) -> (url: URL, source: String) {
        folder(explicit, flag: "--data", environment: "LORABOOK_DATA", default: "../shared/data")
    }

    /// The explicit folder, else the environment variable's, else `path` below the project root.
    static func folder(_ explicit: String?, flag: String, environment: String, default path: String) -> (url: URL, source: String) {
        if let explicit { return (URL(fileURLWithPath: explicit), flag) }
        if let env = ProcessInfo.processInfo.environment[environment], !env.isEmpty {
            return (URL(fileURLWithPath: env), "$" + environment)
        }
        let root = projectRoot() ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return (root.appendingPathComponent(path).standardizedFileURL, "default")
    }
}
