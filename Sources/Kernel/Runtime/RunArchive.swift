// Where the cell cache keeps trained runs: one folder, each run saved once by id.
import Foundation
import Model

/// Trained runs saved by id in a folder, once each: `<id>.safetensors` (the adapters and heads)
/// and `<id>.json` (name, record, tasks and the model it was trained on). Loading rebuilds a run on
/// its model (`models` loads one by folder; the kernel hands it the models it has loaded).
public final class RunArchive {
    public let folder: URL
    let models: (URL) throws -> BertModel
    private var runs: [String: RunHandle] = [:]
    /// The ids of the runs encoded since this was last cleared (what a stored state refers to).
    public var referenced = Set<String>()

    struct Info: Codable { var id: String, name: String, record: Record, tasks: [String], model: String }

    public init(folder: URL, models: @escaping (URL) throws -> BertModel) {
        self.folder = folder
        self.models = models
    }

    /// The coders that store runs here.
    public var encoder: JSONEncoder { let e = Self.encoder(); e.userInfo[.runArchive] = self; return e }
    public var decoder: JSONDecoder { let d = Self.decoder(); d.userInfo[.runArchive] = self; return d }

    /// Sorted keys; NaN and infinities as "nan", "inf", "-inf".
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    func file(_ id: String, _ ext: String) -> URL { folder.appendingPathComponent(id).appendingPathExtension(ext) }

    /// Saves a run's weights and record, unless the archive holds it already.
    public func save(_ run: RunHandle) throws {
        referenced.insert(run.id)
        if runs[run.id] != nil { return }
        runs[run.id] = run
        let weights = file(run.id, "safetensors")
        if FileManager.default.fileExists(atPath: weights.path) { return }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AdapterFile.save(run.network, to: weights)
        let info = Info(id: run.id, name: run.name, record: run.record.shown, tasks: run.tasks, model: run.network.model.folder.path)
        try AtomicFile.write(try Self.encoder().encode(info), to: file(run.id, "json"))
    }

    /// A run by id: the one in memory, or rebuilt from its files on the model it was trained on.
    public func load(_ id: String) throws -> RunHandle {
        if let r = runs[id] { return r }
        guard let data = FileManager.default.contents(atPath: file(id, "json").path),
              let info = try? Self.decoder().decode(Info.self, from: data) else {
            throw Diagnostic("run \(id) is missing from \(folder.path)")
        }
        let network = try ModelBoundary.diagnose { try AdapterFile.load(file(id, "safetensors"), model: try models(URL(fileURLWithPath: info.model))) }
        let run = RunHandle(name: info.name, network: network, record: info.record, tasks: info.tasks, id: info.id)
        runs[id] = run
        return run
    }
}
