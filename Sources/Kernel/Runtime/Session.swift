// The live session: variables, the loaded model, datasets, the adaptation and training settings,
// trained runs, and the outputs of what ran. The REPL and the notebook runner share it; a failed
// statement leaves it as it was (`transaction`).
import Foundation
import Project
import Model
import Sweeps

/// The session's persistent state: what a failed statement restores (`Interpreter`), what the
/// cell cache stores as each cell's changes and restores (`NotebookKernel`). A new field is
/// declared here once: Codable is synthesized and `Session` reads it by dynamic member lookup.
public struct SessionState: Codable {
    public var variables: [String: Value] = [:]
    public var seed: UInt64 = 0
    public var adaptation = AdaptationConfig(mode: .lora, rank: 8, targets: [.query, .value])
    public var lastRun: RunHandle?
    /// The folder of the loaded model (the session keeps the model itself).
    public var modelFolder: URL?
    public var dataFolder: URL
    /// Custom tasks registered by `data FILE …`, by name, and how (the session keeps their data).
    public var taskRegistrations: [String: TaskRegistration] = [:]
}

@dynamicMemberLookup
public final class Session: @unchecked Sendable {
    public var state: SessionState
    public subscript<T>(dynamicMember field: WritableKeyPath<SessionState, T>) -> T {
        get { state[keyPath: field] }
        set { state[keyPath: field] = newValue }
    }
    /// Models loaded so far, by folder (the state names the one in use).
    var models: [URL: BertModel] = [:]
    /// The model in use.
    public var model: BertModel? {
        get { state.modelFolder.flatMap { models[$0] } }
        set {
            if let m = newValue { models[m.folder] = m }
            state.modelFolder = newValue?.folder
        }
    }
    /// A model by folder: the one loaded already, or loaded now.
    public func model(folder: URL) throws -> BertModel {
        if let m = models[folder] { return m }
        let m = try ModelBoundary.diagnose { try BertModel.load(folder: folder) }
        models[folder] = m
        return m
    }
    /// Where `train` keeps and finds its runs (nil: every training runs, nothing is kept).
    public var store: RunStore?
    /// Set while a notebook is planned (`lorabook plan`): a training the store does not hold becomes
    /// a job and a placeholder run instead of training.
    public var planner: Planner?
    /// The file line of the running source's first line (a notebook cell's), for messages.
    public internal(set) var firstLine = 1
    /// Registered tasks' data, by registration; built-in tasks' data, by "task/split".
    var registeredData: [TaskRegistration: (train: Dataset, dev: Dataset)] = [:]
    var datasetCache: [String: Dataset] = [:]
    /// Paths of the data files read so far (reports list them with checksums).
    public var loadedDataFiles: Set<String> {
        Set((datasetCache.values.map(\.path) + registeredData.values.flatMap { [$0.train.path, $0.dev.path] }).filter { $0 != "-" })
    }
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
        state = SessionState(dataFolder: dataFolder ?? Locations.dataFolder().url)
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

    // MARK: data

    /// Registers a delimited file as a task (what `data FILE name=… text=… label=…` does).
    public func register(_ r: TaskRegistration) throws {
        _ = try data(of: r)
        state.taskRegistrations[r.name] = r
    }

    /// A registered task's data: read once per registration.
    func data(of r: TaskRegistration) throws -> (train: Dataset, dev: Dataset) {
        if let d = registeredData[r] { return d }
        let d = try ModelBoundary.diagnose { () throws -> (train: Dataset, dev: Dataset) in
            let train = try Datasets.csv(URL(fileURLWithPath: r.path), name: r.name, text: r.text, pair: r.pair, label: r.label,
                                         spec: r.classes.map { TaskSpec(kind: .classification, classes: $0) })
            let dev = try r.devPath.map { try Datasets.csv(URL(fileURLWithPath: $0), name: r.name, text: r.text, pair: r.pair, label: r.label, spec: train.spec) }
            return (train, dev ?? train)
        }
        registeredData[r] = d
        return d
    }

    /// A task's dataset: built-in (sst, quora, sts, cfimdb, sst2) or registered with `data FILE`.
    func dataset(_ task: String, split: String, subset: Subset = .all, at location: SourceLocation?) throws -> Dataset {
        if let r = state.taskRegistrations[task] {
            let d = try data(of: r)
            return (split == "train" ? d.train : d.dev).subset(subset)
        }
        let key = "\(state.dataFolder.standardizedFileURL.path)/\(task)/\(split)"
        if let cached = datasetCache[key] { return cached.subset(subset) }
        guard Datasets.builtIn[task] != nil || task == "sst2" else {
            let known = Datasets.builtIn.keys.sorted() + ["sst2"] + state.taskRegistrations.keys.sorted()
            throw Diagnostic("unknown task '\(task)'", at: location,
                             hint: Suggestions.didYouMean(task, among: known) ?? "tasks: \(known.joined(separator: ", ")), or register a file with `data \"FILE.csv\" name=… text=… label=…`")
        }
        let d = try ModelBoundary.diagnose(at: location) { try Datasets.task(task, split: split, folder: state.dataFolder) }
        datasetCache[key] = d
        return d.subset(subset)
    }

    /// Where a task's training data comes from (checked: an unknown task is an error here).
    func source(_ task: String, at location: SourceLocation?) throws -> TaskSource {
        _ = try dataset(task, split: "train", at: location)
        if let r = state.taskRegistrations[task] { return .file(r) }
        return .builtIn(task: task, folder: state.dataFolder.standardizedFileURL.path)
    }

    /// `separatePairs`: a pair's texts as two sequences (for a cosine head).
    func encoded(_ task: String, split: String, subset: Subset, maxLength: Int, separatePairs: Bool = false, at location: SourceLocation?) throws -> EncodedDataset {
        let model = try requireModel(at: location)
        // where the rows come from: the registration itself, or the data folder of a built-in task
        let origin = state.taskRegistrations[task].map { "\($0)" } ?? state.dataFolder.standardizedFileURL.path
        let key = "\(ObjectIdentifier(model).hashValue)/\(task)/\(origin)/\(split)/\(subset.limit ?? -1)/\(subset.sampling.rawValue)/\(subset.seed)/\(maxLength)/\(separatePairs)"
        if let e = encodedCache[key] { return e }
        let e = try EncodedDataset(try dataset(task, split: split, subset: subset, at: location), tokenizer: model.tokenizer, maxLength: maxLength,
                                   separatePairs: separatePairs)
        encodedCache[key] = e
        return e
    }
}
