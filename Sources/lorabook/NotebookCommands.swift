// The notebook commands: `lorabook run NOTEBOOK.md`, `lorabook check NOTEBOOK.md` and `lorabook cache`.
//
// Exit codes (docs/notebook.md): 0 success; 1 a cell failed; 2 the notebook is invalid (front
// matter, fences, syntax, unknown commands or parameters, an unknown -p parameter); 3 every cell ran
// but a claim failed; 4 the report could not be written; 64 usage.
import ArgumentParser
import Foundation
import Kernel
import Model
import Notebook

enum NotebookExit {
    static let cellFailed: Int32 = 1, invalid: Int32 = 2, claimsFailed: Int32 = 3, unwritable: Int32 = 4, claimsInconclusive: Int32 = 5
}

func fail(_ message: String, _ code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return ExitCode(code)
}

struct RunNotebook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a Markdown notebook and write a self-contained HTML report.",
        discussion: """
        Exit status: 0 success, 1 a cell failed, 2 the notebook is invalid, 3 a claim failed, 4 the report could not be written, 5 no claim failed but one was inconclusive (its interval straddles its bound). \
        A failed run writes NAME.failed.html and leaves an existing good report untouched.
        """)

    @Argument(help: "The notebook (.md).") var notebook: String
    @Option(name: [.customShort("p"), .customLong("param")], help: "Override a front-matter parameter: key=value (repeatable; typed like its default).") var params: [String] = []
    @Option(name: [.short, .long], help: "The report (default: the notebook's name with .html).") var output: String?
    @Flag(name: .long, help: "Run every cell even after one fails.") var continueOnError = false
    @Option(name: .long, help: "Seconds a cell may run (a cell's timeout= wins).") var timeout: Double?
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }
    @Flag(name: .long, help: "Neither read nor write the cell cache.") var noCache = false
    @Flag(name: .long, help: "Run every cell again (ignore the cache) and write the cache anew.") var refresh = false
    @Flag(name: [.short, .long], help: "Quiet: no progress on stderr.") var quiet = false
    @Flag(name: [.short, .long], help: "Verbose: also print every cell's outputs on stderr.") var verbose = false
    @Option(name: .long, help: "Also write every table and chart's data of the report as CSV files into this folder.") var export: String?
    @OptionGroup var storeOptions: StoreOptions
    @Option(name: .long, help: "Run the trainings the store lacks in N worker processes first (the cores split between them), then render.") var jobs: Int?

    func run() throws {
        if let jobs, jobs < 1 { throw fail("error: --jobs \(jobs): expected at least 1", 64) }
        let prepared = try PreparedNotebook(path: notebook, params: params, data: data)
        let document = prepared.document, pairs = prepared.parameters
        let store = storeOptions.url(beside: prepared.folder)
        let progress = ProgressPrinter(label: "run:")
        // SIGINT or SIGTERM stops the run (not only the training, as at the REPL): exit 130/143,
        // the good report and saved files untouched, completed cells cached; a second one exits at once
        Interrupt.installHeadless()
        if let jobs {
            guard let store else { throw fail("error: --jobs needs a run store (drop --no-store)", 64) }
            try LocalExecutor.fill(prepared, data: data, store: store, workers: jobs, quiet: quiet, log: { if !quiet { progress.line($0) } })
        }
        let interpreter = prepared.interpreter(data: data)
        var options = ExecutionOptions()
        options.parameters = pairs; options.continueOnError = continueOnError; options.timeout = timeout
        options.cache = !noCache; options.refresh = refresh; options.store = store
        options.interrupted = { Interrupt.name }
        let runner = NotebookRunner(kernel: interpreter)
        if !quiet { runner.log = { progress.line($0) } }
        if quiet { interpreter.session.progress = nil }
        let executed: ExecutedNotebook
        do { executed = try runner.run(document, options: options) } catch let e as NotebookError {
            throw fail("error: \(e.description)", NotebookExit.invalid)
        }
        if verbose {
            for c in executed.cells { printOutputs(c.outputs, file: notebook, source: c.cell.source, session: interpreter.session) }
        }
        let target = try writeReport(executed, progress: progress)
        let stored = interpreter.session.store.map { "; runs: \($0.trained) trained, \($0.loaded) from the store" } ?? ""
        try finish(executed, target: target, stored: stored, document: document, progress: progress)
    }

    /// Writes the report (a failed run to NAME.failed.html, never over a good report) and the CSV
    /// export; the report's path.
    func writeReport(_ executed: ExecutedNotebook, progress: ProgressPrinter) throws -> URL {
        // where it goes: a failed run never replaces a report
        let base = output ?? (URL(fileURLWithPath: notebook).deletingPathExtension().path + ".html")
        var target = URL(fileURLWithPath: base)
        let failedTarget = target.deletingPathExtension().appendingPathExtension("failed.html")
        if case .failed = executed.status { target = failedTarget }
        let html: String
        do { html = try HTMLRenderer.render(executed) } catch let e as NotebookError {
            throw fail(e.description, NotebookExit.cellFailed)
        }
        do { try AtomicFile.write(Data(html.utf8), to: target) } catch {
            throw fail("error: cannot write the report \(target.path): \(error)", NotebookExit.unwritable)
        }
        if case .failed = executed.status {} else {
            try? FileManager.default.removeItem(at: failedTarget)   // a good run leaves no stale failed report beside it
            if let export {
                do {
                    let files = try ReportData.export(executed, to: URL(fileURLWithPath: export))
                    if !quiet { progress.line("exported \(files.count) CSV file\(files.count == 1 ? "" : "s") to \(export)") }
                } catch { throw fail("error: cannot export to \(export): \(error)", NotebookExit.unwritable) }
            }
        }
        return target
    }

    /// The summary line, each claim that did not hold, and the exit status.
    func finish(_ executed: ExecutedNotebook, target: URL, stored: String, document: NotebookDocument, progress: ProgressPrinter) throws {
        let claims = executed.claims
        let summary = "\(executed.cells.filter { $0.status != .notRun }.count) of \(executed.cells.count) cells ran in \(String(format: "%.1f", executed.seconds)) s\(stored)"
            + (claims.isEmpty ? "" : "; claims: \(claims.filter { $0.claim.passed }.count) of \(claims.count) hold")
        switch executed.status {
        case .success:
            if !quiet { progress.line("\(summary); report: \(target.path)") }
        case .claimsFailed, .claimsInconclusive:
            for (c, cell) in claims where !c.passed {
                FileHandle.standardError.write(Data("\(notebook):\(cell.line): claim \(c.inconclusive ? "inconclusive" : "failed"): \(OutputText.claim(c))\n".utf8))
            }
            progress.line("\(summary); report: \(target.path)")
            throw ExitCode(executed.status == .claimsFailed ? NotebookExit.claimsFailed : NotebookExit.claimsInconclusive)
        case .failed(let i):
            let c = executed.cells[i]
            if let signal = executed.interruption {
                progress.line("\(summary); interrupted by \(signal) at cell \(i + 1) (\(c.cell.anchor)); partial report: \(target.path)")
                throw ExitCode(signal == "SIGTERM" ? 143 : 130)
            }
            for d in c.diagnostics { FileHandle.standardError.write(Data((d.rendered(file: notebook, source: document.source) + "\n").utf8)) }
            progress.line("\(summary); stopped at cell \(i + 1) (\(c.cell.anchor)); report of the failed run: \(target.path)")
            throw ExitCode(NotebookExit.cellFailed)
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse and validate a notebook (or a .lb script) without running it (exit 0 valid, 2 invalid).")

    @Argument(help: "The notebook (.md).") var notebook: String

    func run() throws {
        if notebook.hasSuffix(".lb") {
            // a script of the language: checked as a script (not as a notebook with no cells)
            guard let data = FileManager.default.contents(atPath: notebook) else { throw fail("\(notebook): error: no such file", NotebookExit.invalid) }
            let source: String
            do { source = try NotebookParser.text(data, path: notebook) } catch let e as NotebookError { throw fail(e.description, NotebookExit.invalid) }
            let problems = Interpreter().check(source)
            for p in problems { FileHandle.standardError.write(Data((p.rendered(file: notebook, source: source) + "\n").utf8)) }
            if problems.contains(where: { $0.severity == .error }) { throw ExitCode(NotebookExit.invalid) }
            print("\(notebook): script, \(source.split(separator: "\n", omittingEmptySubsequences: false).count) lines, valid")
            return
        }
        let document: NotebookDocument
        do { document = try NotebookParser.load(URL(fileURLWithPath: notebook)) } catch let e as NotebookError {
            throw fail(e.description, NotebookExit.invalid)
        }
        let problems = document.warnings + NotebookRunner(kernel: Interpreter()).check(document)
        for p in problems { FileHandle.standardError.write(Data((p.rendered(file: notebook, source: document.source) + "\n").utf8)) }
        if problems.contains(where: { $0.severity == .error }) { throw ExitCode(NotebookExit.invalid) }
        print("\(notebook): \(document.cells.count) cells, valid")
    }
}

struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage a notebook's cell cache.",
        subcommands: [GC.self])

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove unused runs and temporary files from a notebook's cache; with --max-mb, also its least recently used entries.",
            discussion: "Every `lorabook run` does the first part by itself, and the second past 4096 MB.")

        @Argument(help: "The notebook (.md) whose .lorabook-cache folder to collect.") var notebook: String
        @Option(name: .long, help: "Drop least recently used entries until the cache is at most this many megabytes.") var maxMb: Int?

        func run() throws {
            if let m = maxMb, m < 0 { throw fail("error: --max-mb \(m): expected at least 0", 64) }
            let cache = CellCache(notebook: URL(fileURLWithPath: notebook).standardizedFileURL)
            let before = cache.bytes
            let c = cache.gc(maxBytes: maxMb.map { $0 << 20 })
            print("\(cache.directory.path): removed \(c.entries) entries and \(c.runs) unused runs, \(c.bytes >> 20) MB; \(cache.bytes >> 20) MB left (was \(before >> 20) MB)")
        }
    }
}
