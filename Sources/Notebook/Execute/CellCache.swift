// The cell cache: one JSON entry per cell key in <notebook folder>/.lorabook-cache/<notebook>/,
// holding the cell's outputs and what it changed in the kernel's state (`StateChange`); the runs a
// change refers to are saved once, by the kernel, in runs/. Entries are written atomically.
//
// A cell's key hashes: the previous cell's key (so a change re-runs everything after it), the
// cell's source and options, and the content hashes of regular files the cell names in string
// literals, except the files it writes with `save`. The first key also hashes the lorabook version
// and the build (the running binary's SHA-256), the parameters, the seed, the model's path and
// files, and the data folder's path and files. An entry also records the files its cell wrote,
// with their hashes: a hit whose file is gone or changed runs again. NaN and infinities are stored
// as such. Runs no entry references are collected (`gc`).
import Foundation
import Kernel
import Model

public final class CellCache {
    public let directory: URL
    private var fileHashes: [String: String] = [:]

    public struct Entry: Codable {
        public var key: String
        /// Shown as they were (runs as their text: `Output.shown`).
        public var outputs: [Output]
        public var diagnostics: [Diagnostic]
        public var status: String
        public var seconds: Double
        public var memoryDelta: Int
        /// What the cell changed in the kernel's state.
        public var change: StateChange
        public var dataFiles: [String]
        /// Files the cell wrote (absolute path → SHA-256 when written).
        public var writtenFiles: [String: String]?
    }

    /// Where the runs the entries' changes refer to are saved (by the kernel).
    public var runsFolder: URL { directory.appendingPathComponent("runs") }

    public init(notebook: URL) {
        directory = notebook.deletingLastPathComponent().appendingPathComponent(".lorabook-cache")
            .appendingPathComponent(notebook.deletingPathExtension().lastPathComponent)
    }

    // MARK: keys

    /// A 128-bit FNV-1a over the parts (two 64-bit lanes with different offsets), as hex.
    public static func hash(_ parts: [String]) -> String {
        var a: UInt64 = 0xcbf29ce484222325, b: UInt64 = 0x84222325cbf29ce4
        for part in parts {
            for byte in part.utf8 + [0] {
                a = (a ^ UInt64(byte)) &* 0x100000001b3
                b = (b ^ UInt64(byte)) &* 0x100000001b3 &+ 0x9E3779B97F4A7C15
            }
        }
        return String(format: "%016llx%016llx", a, b)
    }

    /// The SHA-256 of a regular file's content (in process; "missing" for anything else), remembered for the run.
    public func fileHash(_ path: String) -> String {
        if let h = fileHashes[path] { return h }
        let h = SHA256.file(path) ?? "missing"
        fileHashes[path] = h
        return h
    }

    /// Regular files named by string literals in a cell's source (data files, adapter files), less
    /// the paths the cell's `save` commands write: a cell's output is not part of its key.
    func namedFiles(_ source: String) -> [String] {
        let (tokens, _) = Lexer.tokenize(source)
        let written = Set(Self.savedPaths(source))
        return tokens.compactMap { t -> String? in
            guard case .string(let s) = t.kind, !s.isEmpty, !written.contains(s) else { return nil }
            return fileHash(s) == "missing" ? nil : s   // regular files only (never /dev/zero or a FIFO); the hash is kept for the key
        }
    }

    /// The path literals of every `save` in a source.
    static func savedPaths(_ source: String) -> [String] {
        var paths: [String] = []
        func visit(_ statements: [Stmt]) { for s in statements { visit(s) } }
        func visit(_ s: Stmt) {
            switch s.kind {
            case .command(let c): visit(c)
            case .letBinding(_, let e), .assign(_, let e), .append(_, let e), .expression(let e): visit(e)
            case .forLoop(_, let e, let body): visit(e); visit(body)
            case .ifElse(let e, let a, let b): visit(e); visit(a); visit(b ?? [])
            }
        }
        func visit(_ c: CommandCall) {
            for (i, a) in c.arguments.enumerated() {
                if c.name == "save", a.name == "path" || (a.name == nil && i == 1), case .string(let p) = a.value.kind { paths.append(p) }
                visit(a.value)
            }
        }
        func visit(_ e: Expr) { if case .command(let c) = e.kind { visit(c) } }
        visit(Parser.parse(source, commands: CommandRegistry.standard.names).statements)
        return paths
    }

    /// The running binary's SHA-256: a rebuilt lorabook (other numerics) never reuses old results.
    public static let build: String = SHA256.file("/proc/self/exe") ?? (CommandLine.arguments.first.flatMap(SHA256.file) ?? "unknown build")

    public func firstKey(parameters: [(String, Value)], seed: UInt64, model: URL?, data: URL, build: String = CellCache.build) -> String {
        var parts = ["lorabook " + LorabookVersion.current, "build " + build, "seed \(seed)", "data " + data.standardizedFileURL.path]
        parts += parameters.map { "\($0.0)=\($0.1.literal)" }
        if let model {
            parts.append("model " + model.standardizedFileURL.path)
            for f in ["config.json", "vocab.txt", "model.safetensors"] { parts.append(f + ":" + fileHash(model.appendingPathComponent(f).path)) }
        }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: data.path)) ?? []).filter { $0.hasSuffix(".csv") }.sorted()
        for f in files { parts.append(f + ":" + fileHash(data.appendingPathComponent(f).path)) }
        return Self.hash(parts)
    }

    public func key(previous: String, cell: Cell) -> String {
        let o = cell.options
        var parts = [previous, cell.source, "echo=\(o.echo) output=\(!o.hideOutput) expect-error=\(o.expectError) timeout=\(o.timeout ?? 0)"]
        parts += namedFiles(cell.source).map { $0 + ":" + fileHash($0) }
        return Self.hash(parts)
    }

    // MARK: entries

    func entryURL(_ key: String) -> URL { directory.appendingPathComponent("\(key).json") }

    public enum Lookup { case hit(Entry), miss, unusable(String) }

    /// An entry, if there is one that can be used: one that does not decode, or whose cell wrote a
    /// file that is now gone or changed, is a miss that says why.
    public func lookup(_ key: String) -> Lookup {
        guard let data = FileManager.default.contents(atPath: entryURL(key).path) else { return .miss }
        let entry: Entry
        do { entry = try RunArchive.decoder().decode(Entry.self, from: data) } catch {
            return .unusable("its cache entry cannot be read (\(Self.reason(error)))")
        }
        for (path, hash) in (entry.writtenFiles ?? [:]).sorted(by: { $0.key < $1.key }) where SHA256.file(path) != hash {
            return .unusable("the file it wrote, \(path), is \(FileManager.default.fileExists(atPath: path) ? "changed" : "missing")")
        }
        return .hit(entry)
    }


    public func save(_ entry: Entry) throws {
        try FileManager.default.createDirectory(at: runsFolder, withIntermediateDirectories: true)
        try AtomicFile.write(try RunArchive.encoder().encode(entry), to: entryURL(entry.key))
    }

    /// A decoding error in a few words: what was wrong, and where in the entry.
    static func reason(_ error: Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let c)?: return "no '\(key.stringValue)' at \(path(c.codingPath))"
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?, .dataCorrupted(let c)?:
            return "\(c.debugDescription) at \(path(c.codingPath))"
        default: return "\(error)"
        }
    }
    static func path(_ keys: [CodingKey]) -> String { keys.isEmpty ? "the top" : keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
}

// MARK: collecting

extension CellCache {
    /// What `gc` removed.
    public struct Collected: Sendable { public var entries = 0, runs = 0, bytes = 0 }

    /// Removes run files no entry references (left by --refresh and interrupted runs), stray
    /// temporary files, and, while the folder is larger than `maxBytes`, the least recently used
    /// entries outside `keep` (the current chain of keys) with the runs only they referenced.
    @discardableResult
    public func gc(keep: Set<String> = [], maxBytes: Int? = nil) -> Collected {
        let fm = FileManager.default
        var collected = Collected()
        func size(_ url: URL) -> Int { ((try? fm.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0 }
        /// Removes a file; returns the bytes freed.
        @discardableResult func remove(_ url: URL) -> Int {
            let n = size(url)
            guard (try? fm.removeItem(at: url)) != nil else { return 0 }
            collected.bytes += n
            return n
        }
        var entries: [(url: URL, key: String, used: Date, runs: Set<String>)] = []
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] {
            let url = directory.appendingPathComponent(name)
            if name.hasPrefix(".") || name.contains(".tmp") { remove(url); continue }
            guard name.hasSuffix(".json") else { continue }
            let used = ((try? fm.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date) ?? .distantPast
            entries.append((url, String(name.dropLast(5)), used, Self.runIDs(in: url)))
        }
        let runsFolder = directory.appendingPathComponent("runs")
        var runFiles = ((try? fm.contentsOfDirectory(atPath: runsFolder.path)) ?? []).map { runsFolder.appendingPathComponent($0) }
        var removedRuns = Set<String>()
        /// Removes the run files no remaining entry references (and stray temporary ones); returns the bytes freed.
        func removeUnreferencedRuns() -> Int {
            let referenced = entries.reduce(into: Set<String>()) { $0.formUnion($1.runs) }
            var freed = 0
            runFiles.removeAll { f in
                let id = Self.runID(of: f)
                guard !referenced.contains(id) || f.lastPathComponent.contains(".tmp") else { return false }
                freed += remove(f)
                removedRuns.insert(id)
                return true
            }
            return freed
        }
        _ = removeUnreferencedRuns()   // orphans first: every run does this
        if let maxBytes {
            var current = entries.reduce(0) { $0 + size($1.url) } + runFiles.reduce(0) { $0 + size($1) }
            for e in entries.sorted(by: { $0.used < $1.used }) where current > maxBytes && !keep.contains(e.key) {
                current -= remove(e.url)
                collected.entries += 1
                entries.removeAll { $0.key == e.key }
                current -= removeUnreferencedRuns()
            }
        }
        collected.runs = removedRuns.count
        return collected
    }

    static func runID(of file: URL) -> String { String(file.lastPathComponent.prefix { $0 != "." }) }

    /// The run ids an entry's change refers to (none for an entry that does not decode).
    static func runIDs(in entry: URL) -> Set<String> {
        struct References: Decodable { struct Change: Decodable { var runs: [String] }; var change: Change }
        guard let data = FileManager.default.contents(atPath: entry.path),
              let refs = try? JSONDecoder().decode(References.self, from: data) else { return [] }
        return Set(refs.change.runs)
    }

    /// The folder's size in bytes.
    public var bytes: Int {
        let fm = FileManager.default
        guard let e = fm.enumerator(at: directory, includingPropertiesForKeys: [.fileSizeKey]) else { return 0 }
        var n = 0
        for case let url as URL in e { n += (try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0) ?? 0 }
        return n
    }
}
