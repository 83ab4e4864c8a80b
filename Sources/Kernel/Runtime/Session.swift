// The live session: variables, the loaded model, datasets, the adaptation and training settings,
// trained runs, and the outputs of what ran. The REPL and the notebook runner share it; a failed
// statement leaves it as it was (`transaction`).
import Foundation
import Model
import Sweeps

public final class Session: @unchecked Sendable {
    public var variables: [String: Value] = [:]
    public var model: BertModel?
    public var dataFolder: URL
    public var seed: UInt64 = 0
    public var adaptation = AdaptationConfig(mode: .lora, rank: 8, targets: [.query, .value])
    public var lastRun: RunHandle?
    /// Where `train` keeps and finds its runs (nil: every training runs, nothing is kept).
    public var store: RunStore?
    /// Set while a notebook is planned (`lorabook plan`): a training the store does not hold becomes
    /// a job and a placeholder run instead of training.
    public var planner: Planner?
    /// The file line of the running source's first line (a notebook cell's), for messages.
    public internal(set) var firstLine = 1
    /// Custom tasks registered by `data FILE …`, by name, and how they were registered (to restore them).
    public var customTasks: [String: Dataset] = [:]
    public var taskRegistrations: [String: TaskRegistration] = [:]
    var datasetCache: [String: Dataset] = [:]
    /// Paths of the data files read so far (reports list them with checksums).
    public var loadedDataFiles: Set<String> { Set(datasetCache.values.map(\.path).filter { $0 != "-" }) }
    var encodedCache: [String: EncodedDataset] = [:]
    public private(set) var outputs: [Output] = []
    public var quitRequested = false
    public let registry: CommandRegistry
    /// Where long work reports progress (the front end draws it); nil: silent.
    public var progress: ((TrainingProgress) -> Void)?
    /// Asked between training steps; true stops the training (Ctrl-C).
    public var shouldStop: () -> Bool = { false }
    /// A headless run was interrupted (SIGINT, SIGTERM): unlike `shouldStop` at the REPL, which
    /// stops a training and keeps what it learned, the statement that is running fails and no
    /// further statement runs (so no partial run is saved over a good file).
    public var abortRequested: () -> Bool = { false }
    /// Files written by `save` since the runner last cleared this (absolute paths): a cached cell
    /// whose file is gone runs again, and a cell's own output is not part of its cache key.
    public var writtenFiles: [String] = []
    /// How charts are drawn as text at the REPL (nil: not drawn).
    public var chartText: ((Chart) -> String?)?

    public init(dataFolder: URL? = nil, registry: CommandRegistry = .standard) {
        self.dataFolder = dataFolder ?? Locations.dataFolder().url
        self.registry = registry
    }

    public func emit(_ o: Output) { outputs.append(o) }

    /// Takes the outputs produced so far.
    public func takeOutputs() -> [Output] { defer { outputs = [] }; return outputs }

    func requireModel(at location: SourceLocation?) throws -> BertModel {
        guard let model else {
            throw Diagnostic("no model loaded", at: location, hint: "run `model` first (the default MiniLM-L6 from setup, or `model \"DIR\"`)")
        }
        return model
    }

    // MARK: transactions

    struct Snapshot {
        let variables: [String: Value], model: BertModel?, seed: UInt64, adaptation: AdaptationConfig
        let lastRun: RunHandle?, customTasks: [String: Dataset], dataFolder: URL, registrations: [String: TaskRegistration]
    }

    func snapshot() -> Snapshot {
        Snapshot(variables: variables, model: model, seed: seed, adaptation: adaptation, lastRun: lastRun,
                 customTasks: customTasks, dataFolder: dataFolder, registrations: taskRegistrations)
    }

    func restore(_ s: Snapshot) {
        variables = s.variables; model = s.model; seed = s.seed; adaptation = s.adaptation; lastRun = s.lastRun
        customTasks = s.customTasks; dataFolder = s.dataFolder; taskRegistrations = s.registrations
    }

    // MARK: data

    /// Registers a delimited file as a task (what `data FILE name=… text=… label=…` does).
    public func register(_ r: TaskRegistration) throws {
        let train = try Datasets.csv(URL(fileURLWithPath: r.path), name: r.name, text: r.text, pair: r.pair, label: r.label,
                                     spec: r.classes.map { TaskSpec(kind: .classification, classes: $0) })
        customTasks[r.name] = train
        taskRegistrations[r.name] = r
        datasetCache["\(r.name)/train"] = train
        if let dev = r.devPath {
            datasetCache["\(r.name)/dev"] = try Datasets.csv(URL(fileURLWithPath: dev), name: r.name, text: r.text, pair: r.pair, label: r.label, spec: train.spec)
        } else {
            datasetCache["\(r.name)/dev"] = train
        }
        encodedCache = encodedCache.filter { !$0.key.contains("/\(r.name)/") }
    }

    /// A task's dataset: built-in (sst, quora, sts, cfimdb, sst2) or registered with `data FILE`.
    func dataset(_ task: String, split: String, subset: Subset = .all, at location: SourceLocation?) throws -> Dataset {
        let key = "\(task)/\(split)"
        if let cached = datasetCache[key] { return cached.subset(subset) }
        let d: Dataset
        do {
            if let custom = customTasks[task] {
                d = custom
            } else {
                guard Datasets.builtIn[task] != nil || task == "sst2" else {
                    let known = Datasets.builtIn.keys.sorted() + ["sst2"] + customTasks.keys.sorted()
                    throw Diagnostic("unknown task '\(task)'", at: location,
                                     hint: Suggestions.didYouMean(task, among: known) ?? "tasks: \(known.joined(separator: ", ")), or register a file with `data \"FILE.csv\" name=… text=… label=…`")
                }
                d = try Datasets.task(task, split: split, folder: dataFolder)
            }
        } catch let e as ModelError {
            throw Diagnostic(e.description, at: location)
        }
        datasetCache[key] = d
        return d.subset(subset)
    }

    /// Where a task's training data comes from (checked: an unknown task is an error here).
    func source(_ task: String, at location: SourceLocation?) throws -> TaskSource {
        _ = try dataset(task, split: "train", at: location)
        if let r = taskRegistrations[task] { return .file(r) }
        return .builtIn(task: task, folder: dataFolder.standardizedFileURL.path)
    }

    /// `separatePairs`: a pair's texts as two sequences (for a cosine head).
    func encoded(_ task: String, split: String, subset: Subset, maxLength: Int, separatePairs: Bool = false, at location: SourceLocation?) throws -> EncodedDataset {
        let model = try requireModel(at: location)
        let key = "\(ObjectIdentifier(model).hashValue)/\(task)/\(split)/\(subset.limit ?? -1)/\(subset.sampling.rawValue)/\(subset.seed)/\(maxLength)/\(separatePairs)"
        if let e = encodedCache[key] { return e }
        let e = try EncodedDataset(try dataset(task, split: split, subset: subset, at: location), tokenizer: model.tokenizer, maxLength: maxLength,
                                   separatePairs: separatePairs)
        encodedCache[key] = e
        return e
    }
}
