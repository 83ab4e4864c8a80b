// Running a notebook: the session is prepared from the front matter and the -p overrides, then
// cells run in order through the Kernel's narrow interface (source in, outputs out). The result is
// a plain value, so rendering and its tests need no model.
import Foundation
import Kernel
import Model
import Sweeps

public struct ExecutedCell: Sendable {
    public enum Status: String, Sendable { case ok, failed, expectedError = "expected error", notRun = "not run" }
    public var cell: Cell
    public var outputs: [Output]
    public var diagnostics: [Diagnostic]
    public var status: Status
    public var seconds: Double
    /// How far the cell raised the process's peak resident memory above what it held when the cell
    /// began, bytes (the peak is reset at the start of each cell).
    public var memoryDelta: Int
    /// Restored from the cell cache (outputs and time are those of the run that made the entry).
    public var cached = false
}

public struct ExecutedNotebook: Sendable {
    /// claimsFailed: a claim failed outright; claimsInconclusive: none failed, but one's interval straddled its bound.
    public enum Status: Equatable, Sendable { case success, claimsFailed, claimsInconclusive, failed(cell: Int) }
    public var document: NotebookDocument
    public var parameters: [(String, Value)]
    public var cells: [ExecutedCell]
    public var status: Status
    public var started: Date
    public var seconds: Double
    /// Facts for the title block, in order: version, commit, BLAS, threads, seed, model, data files.
    public var environment: [(String, String)]
    /// The signal that interrupted the run ("SIGINT", "SIGTERM"), if one did.
    public var interruption: String? = nil
    public var claims: [(claim: Claim, cell: Cell)] {
        cells.flatMap { c in c.outputs.compactMap { if case .claim(let cl) = $0 { return (cl, c.cell) }; return nil } }
    }
}

public struct RunOptions: Sendable {
    /// `-p key=value` overrides, as written.
    public var parameters: [(String, String)] = []
    public var continueOnError = false
    /// Default per-cell timeout in seconds (a cell's timeout= wins).
    public var timeout: Double?
    /// Read and write the cell cache (`--no-cache`: neither).
    public var cache = true
    /// Write the cache but do not read it (`--refresh`).
    public var refresh = false
    /// Whether (and by which signal) the run was interrupted: asked between cells, between
    /// statements and between training steps; an interrupted cell fails and is not cached.
    public var interrupted: @Sendable () -> String? = { nil }
    /// Past this many bytes the cache drops its least recently used entries (other chains) after a
    /// run; orphaned run files are collected after every run.
    public var cacheMaxBytes = 4 << 30
    /// The run store `train` uses (nil: none; every training runs and nothing is kept).
    public var store: URL?
    public init() {}
}

/// Why a notebook could not start: a `-p` override that is no declared parameter or has the wrong
/// type, the front matter's model that does not load, or planning asked for without a run store.
public enum NotebookError: Error, CustomStringConvertible {
    case parameter(String)
    case model(String)
    case planning(String)
    public var description: String {
        switch self {
        case .parameter(let s), .model(let s), .planning(let s): return s
        }
    }
}

public final class NotebookRunner {
    public let interpreter: Interpreter
    /// Called with one line per cell start and end (the CLI prints it on stderr).
    public var log: (String) -> Void = { _ in }

    public init(interpreter: Interpreter) { self.interpreter = interpreter }

    /// The declared parameters with the overrides applied; an override must name a declared
    /// parameter and have its default's type.
    public static func parameters(_ front: FrontMatter, overrides: [(String, String)]) throws -> [(String, Value)] {
        var result = front.parameters
        for (key, text) in overrides {
            guard let i = result.firstIndex(where: { $0.0 == key }) else {
                let names = front.parameters.map(\.0)
                throw NotebookError.parameter("unknown parameter '\(key)' in -p \(key)=\(text) (the notebook declares: \(names.isEmpty ? "none" : names.joined(separator: ", ")))"
                                              + (Suggestions.didYouMean(key, among: names).map { ". " + $0 } ?? ""))
            }
            let old = result[i].1
            var value = Value(literal: text) ?? .string(text)
            if case .string = old, value.typeName != "string" { value = .string(text) }
            guard value.typeName == old.typeName else {
                throw NotebookError.parameter("parameter '\(key)' expects a \(old.typeName) like its default \(old.literal), got '\(text)'")
            }
            result[i].1 = value
        }
        return result
    }

    /// Runs the notebook's cells in order, in the notebook's folder (relative paths in cells resolve
    /// there), reusing the cache where it can.
    public func run(_ document: NotebookDocument, options: RunOptions = RunOptions()) throws -> ExecutedNotebook {
        let fm = FileManager.default
        let previous = fm.currentDirectoryPath
        let notebook = URL(fileURLWithPath: document.path).standardizedFileURL   // absolute, before the folder changes
        _ = fm.changeCurrentDirectoryPath(notebook.deletingLastPathComponent().path)
        defer { _ = fm.changeCurrentDirectoryPath(previous) }
        do {
            return try runCells(document, notebook: notebook, options: options)
        } catch let e as CacheRestoreFailure {
            // a cache that cannot be restored is a miss, never a dead end: run every cell again
            log("warning: \(e.message); running every cell again")
            var again = options
            again.refresh = true
            return try runCells(document, notebook: notebook, options: again)
        }
    }

    struct CacheRestoreFailure: Error { let message: String }

    /// A cache entry's outputs, or nil (a miss, said through `log`) when one cannot be rebuilt.
    static func outputs(of entry: CellCache.Entry, log: (String) -> Void) -> [Output]? {
        do { return try entry.outputs.map(Storage.output) } catch {
            log("its outputs could not be rebuilt (\((error as? Diagnostic)?.message ?? "\(error)"))")
            return nil
        }
    }

    /// Plans the notebook: runs it with the store but without the cell cache, and instead of
    /// training, each training the store does not hold becomes a job (see `Planner`). The executed
    /// notebook says whether a cell failed (a plan of a notebook with an error is no plan).
    public func plan(_ document: NotebookDocument, options: RunOptions) throws -> (planner: Planner, executed: ExecutedNotebook) {
        guard options.store != nil else { throw NotebookError.planning("planning needs a run store") }
        let planner = Planner()
        interpreter.session.planner = planner
        defer { interpreter.session.planner = nil }
        var o = options
        o.cache = false
        return (planner, try run(document, options: o))
    }

    func runCells(_ document: NotebookDocument, notebook: URL, options: RunOptions) throws -> ExecutedNotebook {
        let session = interpreter.session
        let started = Date()
        let front = document.frontMatter
        let parameters = try Self.parameters(front, overrides: options.parameters)
        let base = notebook.deletingLastPathComponent()
        if let data = front.data { session.dataFolder = URL(fileURLWithPath: data, relativeTo: base).standardizedFileURL }
        if let seed = front.seed { session.seed = UInt64(seed) }
        for (k, v) in parameters { session.variables[k] = v }
        let startSeed = session.seed
        session.store = options.store.map { RunStore(directory: $0) }
        var executed: [ExecutedCell] = document.cells.map {
            ExecutedCell(cell: $0, outputs: [], diagnostics: [], status: .notRun, seconds: 0, memoryDelta: 0)
        }
        var status = ExecutedNotebook.Status.success
        var firstFailure: Int?
        // the model named in the front matter loads before the first cell
        if let model = front.model {
            let path = model == "default" ? nil : URL(fileURLWithPath: model, relativeTo: base).standardizedFileURL.path
            if let d = interpreter.loadModel(path: path) {
                throw NotebookError.model("front matter 'model: \(model)': \(d.message)")
            }
        }
        let stopWas = session.shouldStop, abortWas = session.abortRequested
        session.abortRequested = { abortWas() || options.interrupted() != nil }
        defer { session.shouldStop = stopWas; session.abortRequested = abortWas }
        let cache = options.cache ? CellCache(notebook: notebook) : nil
        var key = cache?.firstKey(parameters: parameters, seed: session.seed, model: session.model?.folder, data: session.dataFolder) ?? ""
        var keys: [String] = []
        var cacheWritable = true   // once an entry cannot be written, later entries (which build on it) are not written either
        var interruption: String?
        var pending: StoredSession?     // the session after the last cached cell, restored before a cell runs
        var cachedDataFiles = Set<String>()
        for i in executed.indices {
            let cell = executed[i].cell
            if let signal = options.interrupted() {
                interruption = signal
                executed[i].status = .failed
                executed[i].diagnostics = [Diagnostic("interrupted (\(signal)) before this cell ran", at: SourceLocation(line: cell.line - 1, column: 1))]
                firstFailure = i
                break
            }
            if let cache {
                key = cache.key(previous: key, cell: cell)
                keys.append(key)
                var hit: CellCache.Entry?
                if !options.refresh, cell.options.cache {
                    switch cache.lookup(key) {
                    case .hit(let e): hit = e
                    case .miss: break
                    case .unusable(let why): log("cell \(i + 1)/\(executed.count) (\(cell.anchor)): not from the cache: \(why)")
                    }
                }
                if let entry = hit, let outputs = Self.outputs(of: entry, log: { log("cell \(i + 1)/\(executed.count) (\(cell.anchor)): not from the cache: \($0)") }) {
                    executed[i].outputs = outputs
                    executed[i].diagnostics = entry.diagnostics.map(Storage.diagnostic)
                    executed[i].status = ExecutedCell.Status(rawValue: entry.status) ?? .ok
                    executed[i].seconds = entry.seconds
                    executed[i].memoryDelta = entry.memoryDelta
                    executed[i].cached = true
                    pending = entry.session
                    cachedDataFiles.formUnion(entry.dataFiles)
                    log("cell \(i + 1)/\(executed.count) (\(cell.anchor)) from the cache")
                    continue
                }
                if let stored = pending {
                    do { try Storage.restore(stored, into: session, runs: { try cache.loadRun($0, model: session.model) }) } catch {
                        throw CacheRestoreFailure(message: "the cache could not restore the session before cell \(i + 1) (\((error as? Diagnostic)?.message ?? "\(error)"))")
                    }
                    pending = nil
                }
            }
            log("cell \(i + 1)/\(executed.count) (\(cell.anchor), line \(cell.line)) …")
            ProcessMemory.resetPeak()
            let t0 = Date(), m0 = ProcessMemory.resident
            let timeout = cell.options.timeout ?? options.timeout
            session.shouldStop = { stopWas() || options.interrupted() != nil || (timeout.map { Date().timeIntervalSince(t0) > $0 } ?? false) }
            session.writtenFiles = []
            let result = interpreter.run(cell.source, firstLine: cell.line)
            var c = executed[i]
            c.seconds = Date().timeIntervalSince(t0)
            c.memoryDelta = max(0, ProcessMemory.peakResident - m0)
            c.outputs = result.outputs
            c.diagnostics = result.diagnostics
            if let timeout, c.seconds > timeout, result.ok {
                c.diagnostics = [Diagnostic("the cell ran \(Int(c.seconds)) s, past its timeout of \(Value.format(timeout)) s (training was stopped)",
                                            at: SourceLocation(line: cell.line, column: 1), hint: "raise timeout= on the cell or --timeout")]
            }
            if cell.options.expectError {
                if c.diagnostics.isEmpty {
                    c.status = .failed
                    c.diagnostics = [Diagnostic("this cell is marked expect-error but ran without an error", at: SourceLocation(line: cell.line - 1, column: 1))]
                } else {
                    c.status = .expectedError
                }
            } else {
                c.status = c.diagnostics.isEmpty ? .ok : .failed
            }
            if let signal = options.interrupted() {
                // an interrupted cell fails whatever it printed, and is never cached
                interruption = signal
                c.status = .failed
                if !c.diagnostics.contains(where: { $0.message.hasPrefix("interrupted") }) {
                    c.diagnostics.append(Diagnostic("interrupted (\(signal))", at: SourceLocation(line: cell.line - 1, column: 1)))
                }
            }
            executed[i] = c
            log("cell \(i + 1)/\(executed.count) \(c.status.rawValue) in \(String(format: "%.1f", c.seconds)) s")
            if let cache, c.status != .failed, cell.options.cache, cacheWritable {
                do {
                    let stored = try Storage.store(session, runs: { try cache.saveRun($0) })
                    try cache.save(CellCache.Entry(key: key, outputs: c.outputs.map(Storage.store), diagnostics: c.diagnostics.map(Storage.store),
                                                   status: c.status.rawValue, seconds: c.seconds, memoryDelta: c.memoryDelta, session: stored,
                                                   dataFiles: Array(session.loadedDataFiles.union(cachedDataFiles)).sorted(),
                                                   writtenFiles: Dictionary(session.writtenFiles.map { ($0, SHA256.file($0) ?? "missing") }, uniquingKeysWith: { _, b in b })))
                } catch {
                    cacheWritable = false
                    log("warning: could not write the cache entry of cell \(i + 1) (\(error)); later cells will not be cached either")
                }
            }
            if c.status == .failed {
                if firstFailure == nil { firstFailure = i }
                if !options.continueOnError || interruption != nil { break }
            }
            if session.quitRequested { break }
        }
        if let cache {
            let collected = cache.gc(keep: Set(keys), maxBytes: cache.bytes > options.cacheMaxBytes ? options.cacheMaxBytes : nil)
            if collected.runs + collected.entries > 0 {
                log("cache: collected \(collected.entries) old entries and \(collected.runs) unused runs (\(collected.bytes >> 20) MB)")
            }
        }
        if let f = firstFailure { status = .failed(cell: f) }
        else if executed.contains(where: { $0.outputs.contains { if case .claim(let c) = $0 { return c.failed }; return false } }) { status = .claimsFailed }
        else if executed.contains(where: { $0.outputs.contains { if case .claim(let c) = $0 { return c.inconclusive }; return false } }) { status = .claimsInconclusive }
        var result = ExecutedNotebook(document: document, parameters: parameters, cells: executed, status: status, started: started,
                                      seconds: Date().timeIntervalSince(started),
                                      environment: environment(session: session, notebook: document, seed: startSeed, extraDataFiles: cachedDataFiles))
        result.interruption = interruption
        return result
    }

    /// The title block's facts; `seed` is the seed the notebook started with (cells may change it).
    func environment(session: Session, notebook: NotebookDocument, seed: UInt64, extraDataFiles: Set<String> = []) -> [(String, String)] {
        var env: [(String, String)] = [("lorabook", LorabookVersion.current)]
        if let commit = Self.shell(["git", "-C", FileManager.default.currentDirectoryPath, "rev-parse", "--short", "HEAD"]) {   // run() works in the notebook's folder
            env.append(("git commit", commit))
        }
        env.append(("BLAS", "OpenBLAS " + BLAS.summary))
        env.append(("amp (bf16)", BF16.note))
        env.append(("seed", String(seed)))
        if let m = session.model { env.append(("model", "\(m.config.name) (\(m.folder.lastPathComponent))")) }
        for path in session.loadedDataFiles.union(extraDataFiles).sorted() {
            let sum = SHA256.file(path).map { String($0.prefix(16)) } ?? "?"
            env.append(("data", "\(URL(fileURLWithPath: path).lastPathComponent) sha256:\(sum)…"))
        }
        return env
    }

    static func shell(_ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out; p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
