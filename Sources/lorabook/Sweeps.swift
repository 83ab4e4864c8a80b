// Sweeps from the command line: the run store's options, `lorabook plan`, `lorabook job`,
// `lorabook runs ls|show|gc`, and the local executor behind `lorabook run --jobs N`.
import ArgumentParser
import Foundation
import Project
import Kernel
import Model
import Notebook
import Sweeps

/// `--store DIR` / `--no-store`, shared by the commands that train.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The run store (default: $LORABOOK_STORE, else .lorabook-runs beside the notebook, or in the current folder).") var store: String?
    @Flag(name: .long, help: "Use no run store: train every run, keep none.") var noStore = false

    func validate() throws {
        if noStore && store != nil { throw ValidationError("--store and --no-store contradict each other.") }
    }

    /// The store's folder, or nil with --no-store.
    func url(beside folder: URL) -> URL? { noStore ? nil : RunStore.location(option: store, fallback: folder) }
    var current: URL? { url(beside: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) }
}

/// A notebook loaded, checked and given its -p overrides: what run and plan share.
struct PreparedNotebook {
    let path: String
    let document: NotebookDocument
    let parameters: [(String, String)]

    init(path: String, params: [String], data: String?) throws {
        self.path = path
        let document: NotebookDocument
        do { document = try NotebookParser.load(URL(fileURLWithPath: path)) } catch let e as NotebookError {
            throw fail(e.description, NotebookExit.invalid)
        }
        self.document = document
        for w in document.warnings { FileHandle.standardError.write(Data((w.rendered(file: path, source: document.source) + "\n").utf8)) }
        // static checks of every cell first: nothing runs if the notebook cannot
        let problems = NotebookRunner(kernel: Interpreter()).check(document)
        if !problems.isEmpty {
            throw fail(problems.map { $0.rendered(file: path, source: document.source) }.joined(separator: "\n"), NotebookExit.invalid)
        }
        var pairs: [(String, String)] = []
        for p in params {
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else { throw fail("error: -p \(p): expected key=value", 64) }
            pairs.append((String(p[..<eq]), String(p[p.index(after: eq)...])))
        }
        parameters = pairs
    }

    var folder: URL { URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent() }

    func interpreter(data: String?) -> Interpreter {
        let interpreter = makeInterpreter(data: data)
        if data == nil, document.frontMatter.data == nil { interpreter.session.dataFolder = Locations.dataFolder().url }
        return interpreter
    }

    /// Plans the notebook once: the jobs the store lacks.
    func plan(data: String?, store: URL, log: @escaping (String) -> Void) throws -> Planner {
        var options = ExecutionOptions()
        options.parameters = parameters
        options.store = store
        options.interrupted = { Interrupt.name }
        let interpreter = self.interpreter(data: data)
        interpreter.session.progress = nil
        let runner = NotebookRunner(kernel: interpreter)
        runner.log = { line in if line.hasPrefix("warning") { log(line) } }
        let planned: (planner: Planner, executed: ExecutedNotebook)
        do { planned = try runner.plan(document, options: options) } catch let e as NotebookError { throw fail("error: \(e.description)", NotebookExit.invalid) }
        if case .failed(let i) = planned.executed.status {
            let c = planned.executed.cells[i]
            for d in c.diagnostics { FileHandle.standardError.write(Data((d.rendered(file: path, source: document.source) + "\n").utf8)) }
            if planned.executed.interruption != nil { throw ExitCode(130) }
            throw fail("error: cell \(i + 1) (\(c.cell.anchor)) failed while planning; no plan was written", NotebookExit.cellFailed)
        }
        return planned.planner
    }
}

extension Planner {
    var summary: String {
        "\(jobs.count) new job\(jobs.count == 1 ? "" : "s"), \(stored) training\(stored == 1 ? "" : "s") already stored"
            + (complete ? "" : "; not complete: \(blockedBy!) depends on these runs, so run the jobs and plan again")
    }
}

/// This executable's path, for the commands and scripts that run it again.
var selfExecutable: String {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a notebook without training: each training the run store lacks becomes a job in a plan file (JSON lines).",
        discussion: """
        Run the jobs with `lorabook job PLAN --index I` (one per job: GNU parallel, Slurm, any scheduler), then `lorabook run NOTEBOOK` \
        renders from the store. A notebook whose later trainings depend on earlier results plans in rounds: plan, run the jobs, plan \
        again until the plan is empty. See docs/sweeps.md.
        """)

    @Argument(help: "The notebook (.md).") var notebook: String
    @Option(name: [.customShort("p"), .customLong("param")], help: "Override a front-matter parameter: key=value (repeatable).") var params: [String] = []
    @Option(name: [.short, .long], help: "The plan file (default: the notebook's name with .plan.jsonl).") var output: String?
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }
    @OptionGroup var storeOptions: StoreOptions
    @Flag(name: .long, help: "Print one shell command per job on stdout (for GNU parallel or xargs).") var commands = false
    @Flag(name: .long, help: "Write an sbatch array script beside the plan and print the sbatch line.") var slurm = false
    @Option(name: .long, help: "Slurm partition.") var partition: String?
    @Option(name: .long, help: "Slurm time limit per task (e.g. 2:00:00).") var time: String?
    @Option(name: .long, help: "CPUs per Slurm task (its training threads).") var cpusPerTask = 1
    @Option(name: .long, help: "At most this many array tasks at once (%K).") var maxParallel: Int?
    @Option(name: .long, help: "Folder for the Slurm tasks' logs (default: logs beside the plan).") var logs: String?

    func run() throws {
        Interrupt.installHeadless()
        let prepared = try PreparedNotebook(path: notebook, params: params, data: data)
        guard let store = storeOptions.url(beside: prepared.folder) else { throw fail("error: planning needs a run store (drop --no-store)", 64) }
        let progress = ProgressPrinter(label: "plan:")
        let planner = try prepared.plan(data: data, store: store) { progress.line($0) }
        let planURL = URL(fileURLWithPath: output ?? (URL(fileURLWithPath: notebook).deletingPathExtension().path + ".plan.jsonl")).standardizedFileURL
        try PlanFile.write(planner.jobs, to: planURL)
        progress.line("\(planner.summary); store \(store.path); plan \(planURL.path)")
        if commands {
            for c in PlanFile.commands(plan: planURL, count: planner.jobs.count, executable: selfExecutable) { print(c) }
        }
        if slurm {
            guard !planner.jobs.isEmpty else { progress.line("nothing to submit"); return }
            var script = SlurmScript(logFolder: URL(fileURLWithPath: logs ?? planURL.deletingLastPathComponent().appendingPathComponent("logs").path).standardizedFileURL)
            script.jobName = "lorabook-" + URL(fileURLWithPath: notebook).deletingPathExtension().lastPathComponent.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
            script.partition = partition; script.time = time; script.cpusPerTask = cpusPerTask; script.maxParallel = maxParallel
            let text: String
            do { text = try script.render(plan: planURL, count: planner.jobs.count, executable: selfExecutable) } catch let e as PlanFile.Failure {
                throw fail("error: \(e.description)", 64)
            }
            try FileManager.default.createDirectory(at: script.logFolder, withIntermediateDirectories: true)
            let scriptURL = planURL.deletingPathExtension().appendingPathExtension("sbatch")
            try AtomicFile.write(Data(text.utf8), to: scriptURL)
            print("sbatch --wait \(PlanFile.shellWord(scriptURL.path))")
        }
    }
}

struct Job: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run jobs of a plan file into the run store (skipping those already stored).",
        discussion: "Without --index or --shard, every job runs in turn. Exit status: 0 every selected job is stored, 1 one failed (the others still ran), 130/143 interrupted.")

    @Argument(help: "The plan file (from lorabook plan).") var plan: String
    @Option(name: .long, help: "Run job I (0-based; repeatable).") var index: [Int] = []
    @Option(name: .long, help: "Run the jobs i, i+n, i+2n, … of the plan (i/n, 0-based).") var shard: String?
    @Option(name: .long, help: "The run store (default: the one recorded in each job).") var store: String?
    @Option(name: .long, help: "Training threads (default: one per core).") var threads: Int?

    func run() throws {
        if let threads { guard threads >= 1 else { throw fail("error: --threads \(threads): expected at least 1", 64) }; BLAS.setThreads(threads) }
        var shardOf: (i: Int, n: Int)?
        if let shard {
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, (0..<n).contains(i) else {
                throw fail("error: --shard \(shard): expected i/n with 0 ≤ i < n", 64)
            }
            shardOf = (i, n)
        }
        let jobs: [JobSpec]
        do { jobs = try PlanFile.read(URL(fileURLWithPath: plan)) } catch let e as PlanFile.Failure { throw fail("error: \(e.description)", 1) }
        var selected: [Int] = []
        for i in index {
            guard jobs.indices.contains(i) else { throw fail("error: --index \(i): the plan has \(jobs.count) jobs (0…\(max(0, jobs.count - 1)))", 64) }
            selected.append(i)
        }
        if let (i, n) = shardOf { selected += jobs.indices.filter { $0 % n == i } }
        if index.isEmpty && shard == nil { selected = Array(jobs.indices) }
        Interrupt.installHeadless()
        let runner = JobRunner(storeOverride: store.map { URL(fileURLWithPath: $0) })
        var failed = 0
        for i in selected {
            if Interrupt.requested { break }
            let job = jobs[i]
            let progress = ProgressPrinter(label: "job \(i) (\(job.label)):")
            let t0 = Date()
            do {
                let outcome = try runner.run(job, onEvent: { if case .step(let p) = $0 { progress.show(p) } }, shouldStop: { Interrupt.requested },
                                             warn: { progress.line("warning: \($0)") })
                switch outcome {
                case .stored: progress.line("stored already")
                case .trained(let r): progress.line(String(format: "trained and stored in %.1f s (loss %@)", Date().timeIntervalSince(t0), r.loss.map { String(format: "%.4f", $0) } ?? "-"))
                case .stopped: progress.line("stopped; not stored")
                }
            } catch {
                failed += 1
                progress.line("failed: \((error as? ModelError)?.description ?? "\(error)")")
            }
        }
        if let name = Interrupt.name { throw ExitCode(name == "SIGTERM" ? 143 : 130) }
        if failed > 0 { throw fail("\(failed) of \(selected.count) jobs failed", 1) }
    }
}

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show and prune the run store.",
        subcommands: [List.self, Show.self, GC.self])

    struct Location: ParsableArguments {
        @Option(name: .long, help: "The run store (default: $LORABOOK_STORE, else .lorabook-runs in the current folder).") var store: String?
        var runStore: RunStore { RunStore(directory: RunStore.location(option: store, fallback: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "One line per stored run, newest first (corrupt entries say why).")
        @OptionGroup var location: Location
        @Flag(name: .long, help: "One JSON object per line.") var json = false

        func run() throws {
            let store = location.runStore
            let listed = store.list()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                for l in listed {
                    if let m = l.manifest { print(String(decoding: try encoder.encode(m), as: UTF8.self)) }
                    else { print(String(decoding: try JSONSerialization.data(withJSONObject: ["key": l.key, "corrupt": l.problem ?? ""], options: [.sortedKeys]), as: UTF8.self)) }
                }
                return
            }
            print("\(store.directory.path): \(listed.count) runs, \(listed.reduce(0) { $0 + $1.bytes } >> 20) MB")
            let date = ISO8601DateFormatter()
            for l in listed {
                guard let m = l.manifest else { print("\(l.key.prefix(12))  CORRUPT: \(l.problem ?? "")"); continue }
                let r = m.result.request
                let adaptation = r.adaptation.mode.rawValue + (r.adaptation.usesAdapters ? " r=\(r.adaptation.rank)" : "")
                print("\(l.key.prefix(12))  \(r.tasks.joined(separator: "+"))  \(adaptation)  seed \(r.seed)  epochs \(r.training.epochs)  lr \(Value.format(Double(r.training.learningRate)))"
                      + "  limit \(r.limit.map(String.init) ?? "all")  loss \(m.result.loss.map { String(format: "%.4f", $0) } ?? "-")"
                      + "  \(String(format: "%.1f", m.result.seconds)) s  \(date.string(from: m.created))")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A stored run's manifest (request, result, data sources, checksums) as JSON.")
        @OptionGroup var location: Location
        @Argument(help: "The run's key, or its first 4 or more characters.") var key: String

        func run() throws {
            let store = location.runStore
            let keys = store.keys(matching: key)
            guard keys.count == 1 else {
                throw fail("error: \(keys.isEmpty ? "no run" : "\(keys.count) runs") in \(store.directory.path) with a key starting '\(key)'" + (key.count < 4 ? " (give at least 4 characters)" : ""), 1)
            }
            switch store.lookup(keys[0]) {
            case .hit(let m):
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                encoder.dateEncodingStrategy = .iso8601
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                print(String(decoding: try encoder.encode(m), as: UTF8.self))
            case .corrupt(let why): throw fail("error: run \(keys[0]) is corrupt: \(why) (`lorabook runs gc` removes it)", 1)
            case .miss: throw fail("error: run \(keys[0]) is gone", 1)
            }
        }
    }

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc", abstract: "Remove corrupt entries and writers' leftovers; with --older-than or --max-mb, also old runs.",
            discussion: "Temporary folders younger than an hour are kept: on a shared store another machine may still be writing them.")
        @OptionGroup var location: Location
        @Option(name: .long, help: "Remove runs stored more than this many days ago.") var olderThan: Double?
        @Option(name: .long, help: "Remove the oldest runs until the store is at most this many megabytes.") var maxMb: Int?
        @Flag(name: .long, help: "Say what would be removed; remove nothing.") var dryRun = false

        func run() throws {
            if let d = olderThan, !(d >= 0) { throw fail("error: --older-than \(d): expected a number of days ≥ 0", 64) }
            if let m = maxMb, m < 0 { throw fail("error: --max-mb \(m): expected at least 0", 64) }
            let store = location.runStore
            let p = store.gc(olderThan: olderThan.map { Date().addingTimeInterval(-$0 * 86_400) }, maxBytes: maxMb.map { $0 << 20 }, dryRun: dryRun)
            print("\(store.directory.path): \(dryRun ? "would remove" : "removed") \(p.entries) runs, \(p.corrupt) corrupt entries and \(p.temporary) leftovers, \(p.bytes >> 20) MB")
        }
    }
}

/// `lorabook run --jobs N`: plan, run the new jobs in N worker processes on this machine (the
/// cores split between them), and again while the plan is only a round.
enum LocalExecutor {
    static let maxRounds = 20

    static func fill(_ prepared: PreparedNotebook, data: String?, store: URL, workers: Int, quiet: Bool = false, log: @escaping (String) -> Void) throws {
        for round in 1...maxRounds {
            let planner = try prepared.plan(data: data, store: store, log: log)
            log("round \(round): \(planner.summary)")
            if planner.jobs.isEmpty { return }
            let planURL = store.appendingPathComponent(".plans").appendingPathComponent("\(URL(fileURLWithPath: prepared.path).deletingPathExtension().lastPathComponent)-\(ProcessInfo.processInfo.processIdentifier).jsonl")
            try FileManager.default.createDirectory(at: planURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try PlanFile.write(planner.jobs, to: planURL)
            defer { try? FileManager.default.removeItem(at: planURL) }
            let n = min(workers, planner.jobs.count)
            let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / n)
            log("running \(planner.jobs.count) jobs in \(n) worker\(n == 1 ? "" : "s") of \(threads) thread\(threads == 1 ? "" : "s")")
            var environment = ProcessInfo.processInfo.environment
            environment["LORABOOK_PROGRESS"] = "worker"   // plain lines every second; the board below draws them
            let board = WorkerBoard(workers: n, quiet: quiet)
            var processes: [Process] = []
            for i in 0..<n {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: selfExecutable)
                p.arguments = ["job", planURL.path, "--shard", "\(i)/\(n)", "--threads", String(threads), "--store", store.path]
                p.environment = environment
                let pipe = Pipe()
                p.standardError = pipe
                board.attach(pipe.fileHandleForReading, worker: i)
                try p.run()
                processes.append(p)
            }
            // a signal to this process stops the workers too (they keep what they stored)
            while processes.contains(where: \.isRunning) {
                if Interrupt.requested { for p in processes where p.isRunning { kill(p.processIdentifier, SIGTERM) } }
                usleep(100_000)
            }
            board.finish()
            if let name = Interrupt.name { throw ExitCode(name == "SIGTERM" ? 143 : 130) }
            let failed = processes.filter { $0.terminationStatus != 0 }.count
            if failed > 0 { throw fail("error: \(failed) of \(n) workers failed (their jobs' logs are above); the runs they stored are kept", NotebookExit.cellFailed) }
            if planner.complete { return }
        }
        throw fail("error: the notebook still plans new trainings after \(maxRounds) rounds", NotebookExit.cellFailed)
    }
}

/// The workers' progress on stderr: on a terminal, one line per worker redrawn in place (its
/// latest progress), with results and warnings printed above it as they come; elsewhere, each
/// worker's progress every 10 s and every other line as it comes.
final class WorkerBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var latest: [String], pending: [Data], lastShown: [Double]
    private var drawn = 0
    private let tty = isatty(STDERR_FILENO) != 0, quiet: Bool, started = Date()

    init(workers: Int, quiet: Bool) {
        latest = Array(repeating: "", count: workers); pending = Array(repeating: Data(), count: workers)
        lastShown = Array(repeating: -100, count: workers); self.quiet = quiet
    }

    func attach(_ handle: FileHandle, worker: Int) {
        handle.readabilityHandler = { [weak self] h in
            let data = h.availableData
            guard let self else { return }
            if data.isEmpty { h.readabilityHandler = nil; self.flush(worker); return }
            self.receive(data, worker: worker)
        }
    }

    private func receive(_ data: Data, worker: Int) {
        lock.lock(); defer { lock.unlock() }
        pending[worker].append(data)
        while let newline = pending[worker].firstIndex(of: 0x0A) {
            let line = String(decoding: pending[worker][pending[worker].startIndex..<newline], as: UTF8.self)
            pending[worker] = Data(pending[worker][(newline + 1)...])
            show(line, worker: worker)
        }
    }

    private func flush(_ worker: Int) {
        lock.lock(); defer { lock.unlock() }
        if !pending[worker].isEmpty { show(String(decoding: pending[worker], as: UTF8.self), worker: worker); pending[worker] = Data() }
    }

    /// Called with the lock held.
    private func show(_ line: String, worker: Int) {
        let progress = line.contains(" step ") && line.contains(" ETA ")
        if !progress {
            if tty { clear() }
            FileHandle.standardError.write(Data((line + "\n").utf8))
            if tty { draw() }
            return
        }
        if quiet { return }
        latest[worker] = line
        if tty { clear(); draw(); return }
        let now = Date().timeIntervalSince(started)
        if now - lastShown[worker] >= 10 { lastShown[worker] = now; FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    private func clear() {
        if drawn > 0 { FileHandle.standardError.write(Data("\u{1B}[\(drawn)A\r\u{1B}[J".utf8)) }
        drawn = 0
    }

    private func draw() {
        guard !quiet else { return }
        let width = 160
        var text = ""
        for (i, l) in latest.enumerated() {
            let shown = l.isEmpty ? "worker \(i + 1): starting" : l
            text += String(shown.prefix(width)) + "\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
        drawn = latest.count
    }

    /// The workers are done: the board's lines go.
    func finish() {
        usleep(50_000)   // the last lines the pipes hold
        lock.lock(); defer { lock.unlock() }
        if tty { clear() }
    }
}
