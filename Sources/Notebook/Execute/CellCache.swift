// The cell cache: one JSON entry per cell key in <notebook folder>/.lorabook-cache/<notebook>/,
// holding the cell's outputs and the session after it; trained runs are saved once as adapter
// files beside the entries. Entries are written atomically.
//
// A cell's key hashes: the previous cell's key (so a change re-runs everything after it), the
// cell's source and options, and the content hashes of files the cell names in string literals.
// The first key also hashes the lorabook version, the parameters, the model's files and the data
// folder's files.
import Foundation
import Kernel
import Model

public final class CellCache {
    public let directory: URL
    private var runs: [String: RunHandle] = [:]
    private var fileHashes: [String: String] = [:]

    public struct Entry: Codable {
        public var key: String
        public var outputs: [StoredOutput]
        public var diagnostics: [StoredDiagnostic]
        public var status: String
        public var seconds: Double
        public var memoryDelta: Int
        public var session: StoredSession
        public var dataFiles: [String]
    }

    struct RunInfo: Codable { var id: String; var name: String; var record: [StoredField]; var tasks: [String] }

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

    /// The SHA-256 of a file's content (sha256sum), remembered for the run.
    public func fileHash(_ path: String) -> String {
        if let h = fileHashes[path] { return h }
        let h = NotebookRunner.shell(["sha256sum", path]).map { String($0.prefix(64)) } ?? "missing"
        fileHashes[path] = h
        return h
    }

    /// Files named by string literals in a cell's source that exist (data files, adapter files).
    func namedFiles(_ source: String) -> [String] {
        let (tokens, _) = Lexer.tokenize(source)
        return tokens.compactMap { t -> String? in
            guard case .string(let s) = t.kind, !s.isEmpty else { return nil }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: s, isDirectory: &isDir), !isDir.boolValue else { return nil }
            return s
        }
    }

    public func firstKey(parameters: [(String, Value)], model: URL?, data: URL) -> String {
        var parts = ["lorabook " + Lorabook.version]
        parts += parameters.map { "\($0.0)=\($0.1.literal)" }
        if let model {
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

    public func load(_ key: String) -> Entry? {
        guard let data = FileManager.default.contents(atPath: entryURL(key).path) else { return nil }
        return try? JSONDecoder().decode(Entry.self, from: data)
    }

    public func save(_ entry: Entry) throws {
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("runs"), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(entry), to: entryURL(entry.key))
    }

    /// Saves a run's weights and record once.
    public func saveRun(_ run: RunHandle) throws {
        runs[run.id] = run
        let base = directory.appendingPathComponent("runs/\(run.id)")
        let weights = base.appendingPathExtension("safetensors")
        if FileManager.default.fileExists(atPath: weights.path) { return }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("runs"), withIntermediateDirectories: true)
        try AdapterFile.save(run.network, to: weights)
        let info = RunInfo(id: run.id, name: run.name, record: Storage.store(.record(run.record), runs: { _ in }).fields, tasks: run.tasks)
        try AtomicFile.write(try JSONEncoder().encode(info), to: base.appendingPathExtension("json"))
    }

    /// A run by id: the one in memory, or rebuilt from its files on `model`.
    public func loadRun(_ id: String, model: BertModel?) throws -> RunHandle {
        if let r = runs[id] { return r }
        guard let model else { throw Diagnostic("restoring run \(id) from the cache needs the model it was trained on") }
        let base = directory.appendingPathComponent("runs/\(id)")
        guard let data = FileManager.default.contents(atPath: base.appendingPathExtension("json").path),
              let info = try? JSONDecoder().decode(RunInfo.self, from: data) else {
            throw Diagnostic("the cache lost run \(id); run with --refresh")
        }
        let network: Network
        do { network = try AdapterFile.load(base.appendingPathExtension("safetensors"), model: model) } catch let e as ModelError { throw Diagnostic(e.description) }
        let record = try Storage.value(.record(info.record), runs: { _ in throw Diagnostic("nested run") })
        guard case .record(let r) = record else { throw Diagnostic("bad run record in the cache") }
        let run = RunHandle(name: info.name, network: network, record: r, tasks: info.tasks, id: info.id)
        runs[id] = run
        return run
    }
}

extension StoredValue {
    var fields: [StoredField] { if case .record(let f) = self { return f }; return [] }
}
