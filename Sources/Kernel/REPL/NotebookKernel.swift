// What the notebook runner needs of a kernel, and nothing more (as nbclient needs of a Jupyter
// kernel): set it up, check and execute sources, save what a cell changed and restore it, stop it.
// The language's `Interpreter` is one; the runner's and the cache's tests use a fake one (no model).
import Foundation
import Sweeps

/// How a notebook sets the kernel up before its first cell.
public struct KernelSetup {
    public enum ModelChoice: Equatable, Sendable { case standard, folder(URL) }
    public var seed: UInt64?
    public var dataFolder: URL?
    /// The model loaded before the first cell (nil: none).
    public var model: ModelChoice?
    /// The notebook's parameters, as values: they become variables.
    public var parameters: [(String, Value)] = []
    /// Where trainings are kept and found (nil: none).
    public var store: RunStore?
    /// Set while planning: trainings the store lacks become jobs.
    public var planner: Planner?
    public init(seed: UInt64? = nil, dataFolder: URL? = nil, model: ModelChoice? = nil, parameters: [(String, Value)] = [],
                store: RunStore? = nil, planner: Planner? = nil) {
        self.seed = seed; self.dataFolder = dataFolder; self.model = model; self.parameters = parameters
        self.store = store; self.planner = planner
    }
}

/// What the runner reports and keys its cache on.
public struct KernelFacts: Sendable {
    public var seed: UInt64
    /// The loaded model's name and folder.
    public var model: (name: String, folder: URL)?
    public var dataFolder: URL
    /// Data files read so far (absolute paths).
    public var dataFiles: Set<String>
    /// Files the last `execute` wrote (absolute paths).
    public var writtenFiles: [String]
    /// The last source asked to end the session (`quit`).
    public var quitRequested: Bool
    public init(seed: UInt64, model: (name: String, folder: URL)?, dataFolder: URL, dataFiles: Set<String>, writtenFiles: [String], quitRequested: Bool) {
        self.seed = seed; self.model = model; self.dataFolder = dataFolder; self.dataFiles = dataFiles
        self.writtenFiles = writtenFiles; self.quitRequested = quitRequested
    }
}

/// What one cell changed in the kernel's persistent state, as the cell cache keeps it: the kernel's
/// own JSON (opaque to the runner) and the ids of the runs it refers to (saved in the runs folder).
public struct StateChange: Codable, Sendable, Equatable {
    public var json: String
    public var runs: [String]
    public init(json: String, runs: [String]) { self.json = json; self.runs = runs }
}

public protocol NotebookKernel: AnyObject {
    /// Prepares the kernel for a notebook. A model that does not load throws its diagnostic.
    func configure(_ setup: KernelSetup) throws
    /// Every problem found without running (syntax, unknown commands and parameters).
    func check(_ source: String, firstLine: Int) -> [Diagnostic]
    /// Runs a source. `stop` ends a training early and keeps what it learned (a timeout); `abort`
    /// fails the running statement (an interrupted headless run).
    func execute(_ source: String, firstLine: Int, stop: @escaping () -> Bool, abort: @escaping () -> Bool) -> ExecutionResult
    /// What the persistent state changed since the last `configure`, `saveChanges` or `restore`;
    /// the runs it refers to are saved in `runs` (once each).
    func saveChanges(runs: URL) throws -> StateChange
    /// Applies saved changes in order on top of the current state (a chain of cached cells).
    func restore(_ changes: [StateChange], runs: URL) throws
    var facts: KernelFacts { get }
}
