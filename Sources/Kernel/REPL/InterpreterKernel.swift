// The language's interpreter as the notebook runner's kernel. Its persistent state is the
// session's `SessionState`; a cell's change is that state with only the variables the cell set
// (compared by their encoding) and the names it removed.
import Foundation
import Model

extension Interpreter: NotebookKernel {
    /// A cell's change: the state after it, holding only the variables it set; and those it removed.
    struct Change: Codable {
        var state: SessionState
        var removed: [String]
    }

    public func configure(_ setup: KernelSetup) throws {
        if let folder = setup.dataFolder { session.dataFolder = folder }
        if let seed = setup.seed { session.seed = seed }
        for (k, v) in setup.parameters { session.variables[k] = v }
        session.store = setup.store
        session.planner = setup.planner
        if let model = setup.model {
            let path: String?
            switch model {
            case .standard: path = nil
            case .folder(let url): path = url.path
            }
            if let d = loadModel(path: path) { throw d }
        }
        let encoder = RunArchive.encoder()   // parameters hold no runs: no archive needed
        savedVariables = session.variables.compactMapValues { try? encoder.encode($0) }
    }

    public func execute(_ source: String, firstLine: Int, stop: @escaping () -> Bool, abort: @escaping () -> Bool) -> ExecutionResult {
        let stopWas = session.shouldStop, abortWas = session.abortRequested
        session.shouldStop = { stopWas() || stop() }
        session.abortRequested = { abortWas() || abort() }
        defer { session.shouldStop = stopWas; session.abortRequested = abortWas }
        session.writtenFiles = []
        return execute(source, firstLine: firstLine)
    }

    func archive(_ folder: URL) -> RunArchive {
        if let a = archive, a.folder == folder { return a }
        let a = RunArchive(folder: folder, models: { [session] in try session.model(folder: $0) })
        archive = a
        return a
    }

    public func saveChanges(runs: URL) throws -> StateChange {
        let archive = archive(runs)
        let encoder = archive.encoder
        archive.referenced = []
        var encoded: [String: Data] = [:]
        var change = Change(state: session.state, removed: savedVariables.keys.filter { session.variables[$0] == nil }.sorted())
        change.state.variables = [:]
        for (name, value) in session.variables {
            let data = try encoder.encode(value)
            encoded[name] = data
            if savedVariables[name] != data { change.state.variables[name] = value }
        }
        let json = String(decoding: try encoder.encode(change), as: UTF8.self)
        savedVariables = encoded
        return StateChange(json: json, runs: archive.referenced.sorted())
    }

    public func restore(_ changes: [StateChange], runs: URL) throws {
        let decoder = archive(runs).decoder
        var state = session.state
        for c in changes {
            let change = try decoder.decode(Change.self, from: Data(c.json.utf8))
            var variables = state.variables
            for name in change.removed { variables[name] = nil }
            variables.merge(change.state.variables) { _, new in new }
            state = change.state
            state.variables = variables
        }
        if let folder = state.modelFolder { _ = try session.model(folder: folder) }
        for r in state.taskRegistrations.values { _ = try session.data(of: r) }
        session.state = state
        let encoder = archive(runs).encoder
        savedVariables = try state.variables.mapValues { try encoder.encode($0) }
    }

    public var facts: KernelFacts {
        KernelFacts(seed: session.seed, model: session.model.map { ($0.config.name, $0.folder) }, dataFolder: session.dataFolder,
                    dataFiles: session.loadedDataFiles, writtenFiles: session.writtenFiles, quitRequested: session.quitRequested)
    }
}
