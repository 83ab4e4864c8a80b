// Running a notebook: the session is prepared from the front matter and the -p overrides, then
// cells run in order through the Kernel's narrow interface (source in, outputs out). The result is
// a plain value, so rendering and its tests need no model.
import Foundation
import Kernel
import Model
import Sweeps

public struct ExecutedCell: Sendable, Codable {
    public enum Status: String, Sendable, Codable { case ok, failed, expectedError = "expected error", notRun = "not run" }
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

/// What a run of a notebook produced: every cell's outputs, diagnostics, status and time, and the
/// facts of the run. The report is rendered from it alone; it is Codable (as nbclient's executed
/// notebook is a file), so it can be kept and rendered again.
public struct ExecutedNotebook: Sendable, Codable {
    /// claimsFailed: a claim failed outright; claimsInconclusive: none failed, but one's interval straddled its bound.
    public enum Status: Equatable, Sendable, Codable { case success, claimsFailed, claimsInconclusive, failed(cell: Int) }
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
    enum Keys: String, CodingKey { case document, parameters, cells, status, started, seconds, environment, interruption }
    public init(document: NotebookDocument, parameters: [(String, Value)], cells: [ExecutedCell], status: Status, started: Date, seconds: Double,
                environment: [(String, String)], interruption: String? = nil) {
        self.document = document; self.parameters = parameters; self.cells = cells; self.status = status; self.started = started
        self.seconds = seconds; self.environment = environment; self.interruption = interruption
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        document = try c.decode(NotebookDocument.self, forKey: .document)
        parameters = try c.decode(Record.self, forKey: .parameters).fields
        cells = try c.decode([ExecutedCell].self, forKey: .cells)
        status = try c.decode(Status.self, forKey: .status)
        started = try c.decode(Date.self, forKey: .started)
        seconds = try c.decode(Double.self, forKey: .seconds)
        environment = try c.decode([[String]].self, forKey: .environment).map { pair in
            guard pair.count == 2 else { throw DecodingError.dataCorruptedError(forKey: .environment, in: c, debugDescription: "an environment fact is a [name, value] pair") }
            return (pair[0], pair[1])
        }
        interruption = try c.decodeIfPresent(String.self, forKey: .interruption)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(document, forKey: .document)
        try c.encode(Record(parameters.map { ($0.0, $0.1.shown) }), forKey: .parameters)
        try c.encode(cells.map { var e = $0; e.outputs = e.outputs.map(\.shown); return e }, forKey: .cells)
        try c.encode(status, forKey: .status)
        try c.encode(started, forKey: .started)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(environment.map { [$0.0, $0.1] }, forKey: .environment)
        try c.encodeIfPresent(interruption, forKey: .interruption)
    }
    public var claims: [(claim: Claim, cell: Cell)] {
        cells.flatMap { c in c.outputs.compactMap { if case .claim(let cl) = $0 { return (cl, c.cell) }; return nil } }
    }
}

public struct ExecutionOptions: Sendable {
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

public final class NotebookRunner {
    public let kernel: NotebookKernel
    /// Called with one line per cell start and end (the CLI prints it on stderr).
    public var log: (String) -> Void = { _ in }
    /// Set while planning (`plan`): handed to the kernel, which turns missing trainings into jobs.
    private var planner: Planner?

    public init(kernel: NotebookKernel) { self.kernel = kernel }

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

    /// Every problem the kernel finds in the cells without running them (cells marked expect-error
    /// are left out): a notebook with one does not start.
    public func check(_ document: NotebookDocument) -> [Diagnostic] {
        document.cells.filter { !$0.options.expectError }.flatMap { kernel.check($0.source, firstLine: $0.line) }
    }

    /// Runs the notebook's cells in order, in the notebook's folder (relative paths in cells resolve
    /// there), reusing the cache where it can.
    public func run(_ document: NotebookDocument, options: ExecutionOptions = ExecutionOptions()) throws -> ExecutedNotebook {
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

    /// Plans the notebook: runs it with the store but without the cell cache, and instead of
    /// training, each training the store does not hold becomes a job (see `Planner`). The executed
    /// notebook says whether a cell failed (a plan of a notebook with an error is no plan).
    public func plan(_ document: NotebookDocument, options: ExecutionOptions) throws -> (planner: Planner, executed: ExecutedNotebook) {
        guard options.store != nil else { throw NotebookError.planning("planning needs a run store") }
        let planner = Planner()
        self.planner = planner
        defer { self.planner = nil }
        var o = options
        o.cache = false
        return (planner, try run(document, options: o))
    }

    /// One pass over the cells: what it has done so far.
    struct Pass {
        var cells: [ExecutedCell]
        var cache: CellCache?
        var key = ""
        var keys: [String] = []
        /// Once an entry cannot be written, later entries (which build on it) are not written either.
        var cacheWritable = true
        /// The changes of the cached cells since the kernel's state was last brought up to date.
        var pending: [StateChange] = []
        var cachedDataFiles = Set<String>()
        var interruption: String?
        var firstFailure: Int?
        func where_(_ i: Int) -> String { "cell \(i + 1)/\(cells.count) (\(cells[i].cell.anchor))" }
    }

    func runCells(_ document: NotebookDocument, notebook: URL, options: ExecutionOptions) throws -> ExecutedNotebook {
        let started = Date()
        let parameters = try configure(document, notebook: notebook, options: options)
        let start = kernel.facts
        var pass = Pass(cells: document.cells.map { ExecutedCell(cell: $0, outputs: [], diagnostics: [], status: .notRun, seconds: 0, memoryDelta: 0) },
                        cache: options.cache ? CellCache(notebook: notebook) : nil)
        if let cache = pass.cache {
            pass.key = cache.firstKey(parameters: parameters, seed: start.seed, model: start.model?.folder, data: start.dataFolder)
        }
        for i in pass.cells.indices {
            if let signal = options.interrupted() {
                pass.interruption = signal
                pass.cells[i].status = .failed
                pass.cells[i].diagnostics = [Diagnostic("interrupted (\(signal)) before this cell ran", at: SourceLocation(line: pass.cells[i].cell.line - 1, column: 1))]
                pass.firstFailure = i
                break
            }
            if try fromCache(i, &pass, options: options) { continue }
            let c = execute(pass.cells[i].cell, at: i, of: pass.cells.count, options: options, interruption: &pass.interruption)
            pass.cells[i] = c
            saveEntry(i, &pass)
            if c.status == .failed {
                if pass.firstFailure == nil { pass.firstFailure = i }
                if !options.continueOnError || pass.interruption != nil { break }
            }
            if kernel.facts.quitRequested { break }
        }
        if let cache = pass.cache {
            let collected = cache.gc(keep: Set(pass.keys), maxBytes: cache.bytes > options.cacheMaxBytes ? options.cacheMaxBytes : nil)
            if collected.runs + collected.entries > 0 {
                log("cache: collected \(collected.entries) old entries and \(collected.runs) unused runs (\(collected.bytes >> 20) MB)")
            }
        }
        var result = ExecutedNotebook(document: document, parameters: parameters, cells: pass.cells, status: Self.status(pass.cells, firstFailure: pass.firstFailure),
                                      started: started, seconds: Date().timeIntervalSince(started),
                                      environment: environment(seed: start.seed, extraDataFiles: pass.cachedDataFiles))
        result.interruption = pass.interruption
        return result
    }

    /// Sets the kernel up from the front matter and the overrides; the parameters as values.
    func configure(_ document: NotebookDocument, notebook: URL, options: ExecutionOptions) throws -> [(String, Value)] {
        let front = document.frontMatter
        let parameters = try Self.parameters(front, overrides: options.parameters)
        let base = notebook.deletingLastPathComponent()
        let model = front.model.map { $0 == "default" ? KernelSetup.ModelChoice.standard : .folder(URL(fileURLWithPath: $0, relativeTo: base).standardizedFileURL) }
        let setup = KernelSetup(seed: front.seed.map(UInt64.init), dataFolder: front.data.map { URL(fileURLWithPath: $0, relativeTo: base).standardizedFileURL },
                                model: model, parameters: parameters, store: options.store.map { RunStore(directory: $0) }, planner: planner)
        do { try kernel.configure(setup) } catch {
            throw NotebookError.model("front matter 'model: \(front.model ?? "")': \((error as? Diagnostic)?.message ?? "\(error)")")
        }
        return parameters
    }

    /// Takes cell `i` from the cache if it can (true); otherwise brings the kernel's state up to
    /// date for the cell to run (false).
    func fromCache(_ i: Int, _ pass: inout Pass, options: ExecutionOptions) throws -> Bool {
        guard let cache = pass.cache else { return false }
        let cell = pass.cells[i].cell
        pass.key = cache.key(previous: pass.key, cell: cell)
        pass.keys.append(pass.key)
        if !options.refresh, cell.options.cache {
            switch cache.lookup(pass.key) {
            case .hit(let entry):
                pass.cells[i].outputs = entry.outputs
                pass.cells[i].diagnostics = entry.diagnostics
                pass.cells[i].status = ExecutedCell.Status(rawValue: entry.status) ?? .ok
                pass.cells[i].seconds = entry.seconds
                pass.cells[i].memoryDelta = entry.memoryDelta
                pass.cells[i].cached = true
                pass.pending.append(entry.change)
                pass.cachedDataFiles.formUnion(entry.dataFiles)
                log("\(pass.where_(i)) from the cache")
                return true
            case .miss: break
            case .unusable(let why): log("\(pass.where_(i)): not from the cache: \(why)")
            }
        }
        if !pass.pending.isEmpty {
            do { try kernel.restore(pass.pending, runs: cache.runsFolder) } catch {
                throw CacheRestoreFailure(message: "the cache could not restore the state before cell \(i + 1) (\((error as? Diagnostic)?.message ?? "\(error)"))")
            }
            pass.pending = []
        }
        return false
    }

    /// Runs one cell: its outputs, diagnostics, status, time and memory.
    func execute(_ cell: Cell, at i: Int, of count: Int, options: ExecutionOptions, interruption: inout String?) -> ExecutedCell {
        log("cell \(i + 1)/\(count) (\(cell.anchor), line \(cell.line)) …")
        ProcessMemory.resetPeak()
        let t0 = Date(), m0 = ProcessMemory.resident
        let timeout = cell.options.timeout ?? options.timeout
        let result = kernel.execute(cell.source, firstLine: cell.line,
                                    stop: { options.interrupted() != nil || (timeout.map { Date().timeIntervalSince(t0) > $0 } ?? false) },
                                    abort: { options.interrupted() != nil })
        var c = ExecutedCell(cell: cell, outputs: result.outputs, diagnostics: result.diagnostics, status: .ok,
                             seconds: Date().timeIntervalSince(t0), memoryDelta: max(0, ProcessMemory.peakResident - m0))
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
        log("cell \(i + 1)/\(count) \(c.status.rawValue) in \(String(format: "%.1f", c.seconds)) s")
        return c
    }

    /// Writes cell `i`'s cache entry: its outputs and what it changed (a failed cell has none).
    func saveEntry(_ i: Int, _ pass: inout Pass) {
        let c = pass.cells[i]
        guard let cache = pass.cache, c.status != .failed, c.cell.options.cache, pass.cacheWritable else { return }
        do {
            let facts = kernel.facts
            let change = try kernel.saveChanges(runs: cache.runsFolder)
            try cache.save(CellCache.Entry(key: pass.key, outputs: c.outputs.map(\.shown), diagnostics: c.diagnostics, status: c.status.rawValue,
                                           seconds: c.seconds, memoryDelta: c.memoryDelta, change: change,
                                           dataFiles: Array(facts.dataFiles.union(pass.cachedDataFiles)).sorted(),
                                           writtenFiles: Dictionary(facts.writtenFiles.map { ($0, SHA256.file($0) ?? "missing") }, uniquingKeysWith: { _, b in b })))
        } catch {
            pass.cacheWritable = false
            log("warning: could not write the cache entry of cell \(i + 1) (\(error)); later cells will not be cached either")
        }
    }

    static func status(_ cells: [ExecutedCell], firstFailure: Int?) -> ExecutedNotebook.Status {
        let claims = cells.flatMap { $0.outputs.compactMap { if case .claim(let c) = $0 { return c }; return nil } }
        if let f = firstFailure { return .failed(cell: f) }
        if claims.contains(where: \.failed) { return .claimsFailed }
        if claims.contains(where: \.inconclusive) { return .claimsInconclusive }
        return .success
    }

    /// The title block's facts; `seed` is the seed the notebook started with (cells may change it).
    func environment(seed: UInt64, extraDataFiles: Set<String> = []) -> [(String, String)] {
        let facts = kernel.facts
        var env: [(String, String)] = [("lorabook", LorabookVersion.current)]
        if let commit = Self.shell(["git", "-C", FileManager.default.currentDirectoryPath, "rev-parse", "--short", "HEAD"]) {   // run() works in the notebook's folder
            env.append(("git commit", commit))
        }
        env.append(("BLAS", "OpenBLAS " + BLAS.summary))
        env.append(("amp (bf16)", BF16.note))
        env.append(("seed", String(seed)))
        if let m = facts.model { env.append(("model", "\(m.name) (\(m.folder.lastPathComponent))")) }
        for path in facts.dataFiles.union(extraDataFiles).sorted() {
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
