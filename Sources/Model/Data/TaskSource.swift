// Where a task's training data comes from, as data: a built-in task in a data folder, or a
// delimited file registered with `data FILE name=… text=… label=…`. A job line carries its tasks'
// sources, so another process (a worker, a Slurm task) reads exactly the same examples; the run
// store keys a run on the sources' content (file digests and columns), not on their paths.
import Foundation

/// How a file became a task (`data "FILE" name=… text=… label=…`); paths are absolute.
public struct TaskRegistration: Codable, Sendable, Hashable {
    public var name: String, path: String, text: String, pair: String?, label: String, classes: Int?, devPath: String?
    public init(name: String, path: String, text: String, pair: String?, label: String, classes: Int?, devPath: String?) {
        self.name = name; self.path = path; self.text = text; self.pair = pair; self.label = label; self.classes = classes; self.devPath = devPath
    }

    /// The registered split's dataset ("dev" falls back to the training file when none was given).
    public func dataset(split: String, spec: TaskSpec? = nil) throws -> Dataset {
        let path = split == "dev" ? (devPath ?? self.path) : self.path
        return try Datasets.csv(URL(fileURLWithPath: path), name: name, text: text, pair: pair, label: label,
                                spec: spec ?? classes.map { TaskSpec(kind: .classification, classes: $0) })
    }
}

public enum TaskSource: Codable, Sendable, Equatable {
    /// A built-in task (sst, quora, sts, cfimdb, sst2) in a data folder (absolute path).
    case builtIn(task: String, folder: String)
    /// A registered file.
    case file(TaskRegistration)

    public var task: String {
        switch self {
        case .builtIn(let t, _): return t
        case .file(let r): return r.name
        }
    }

    /// The file a split is read from.
    public func path(split: String) -> String {
        switch self {
        case .builtIn(let task, let folder):
            let base = task == "sst2" ? "sst" : task
            let pattern = Datasets.builtIn[base]?.file ?? "\(base)-%@.csv"
            return URL(fileURLWithPath: folder).appendingPathComponent(String(format: pattern, split)).path
        case .file(let r): return split == "dev" ? (r.devPath ?? r.path) : r.path
        }
    }

    public func dataset(split: String) throws -> Dataset {
        switch self {
        case .builtIn(let task, let folder): return try Datasets.task(task, split: split, folder: URL(fileURLWithPath: folder))
        case .file(let r): return try r.dataset(split: split)
        }
    }

    /// What decides the examples of the training split, path-free: the task, how columns are read,
    /// and the file's SHA-256 (so a store shared by machines whose data sits elsewhere still hits).
    public func contentKey(digest: (String) -> String) -> String {
        switch self {
        case .builtIn(let task, _):
            return "builtin \(task) \(digest(path(split: "train")))"
        case .file(let r):
            return "file \(r.name) text=\(r.text) pair=\(r.pair ?? "-") label=\(r.label) classes=\(r.classes.map(String.init) ?? "-") \(digest(r.path))"
        }
    }
}

/// Training data read from task sources (each file once): what a job in another process uses.
public final class SourceData: TrainingData {
    public let sources: [String: TaskSource]
    public let tokenizer: BertTokenizer
    private var loaded: [String: Dataset] = [:]
    public init(sources: [TaskSource], tokenizer: BertTokenizer) {
        self.sources = Dictionary(sources.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a }); self.tokenizer = tokenizer
    }
    public func dataset(_ task: String) throws -> Dataset {
        if let d = loaded[task] { return d }
        guard let source = sources[task] else { throw ModelError.invalidArgument(name: "task '\(task)'", reason: "the job has no data source for it") }
        let d = try source.dataset(split: "train")
        loaded[task] = d
        return d
    }
    public func encoded(_ task: String, subset: Subset, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset {
        try EncodedDataset(try dataset(task).subset(subset), tokenizer: tokenizer, maxLength: maxLength, separatePairs: separatePairs)
    }
    public func dev(_ task: String, subset: Subset, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset {
        guard let source = sources[task] else { throw ModelError.invalidArgument(name: "task '\(task)'", reason: "the job has no data source for it") }
        var dev = try source.dataset(split: "dev")
        dev = dev.subset(subset)
        return try EncodedDataset(dev, tokenizer: tokenizer, maxLength: maxLength, separatePairs: separatePairs)
    }
}
