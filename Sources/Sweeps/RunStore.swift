// The run store: every training run kept once, keyed by what decides its result, so that a run is
// trained once whoever asks for it (a notebook cell, `lorabook train`, a Slurm task) and loaded in
// well under a second afterwards.
//
// Layout: DIR/KEY/manifest.json (a checksum line, then the request, the result and the sources as
// JSON) and DIR/KEY/run.safetensors (adapters or encoder weights, and heads). An entry is written
// into DIR/.tmp-KEY-UUID/ and renamed into place in one step, so a reader sees a whole entry or
// none: a kill -9, a full disk or two writers of one key never leave half an entry under its key.
// An entry whose checksum (manifest or weights) does not match is corrupt: it is never loaded, and
// the caller trains again and replaces it.
//
// The key is the SHA-256 of: the store format version, the model's files (config, vocabulary,
// weights: their digests), each task's data (the training file's digest and how its columns are
// read, not its path), and the request without its name (adaptation, training settings with the
// seed, limit, max length, similarity, weights). Not the thread count, the machine or the paths.
import Foundation
import Model

public final class RunStore: @unchecked Sendable {
    /// 2: requests carry `sample` (limit= draws a stratified subset by default).
    public static let formatVersion = 2
    /// The folder name used beside a notebook (or in the REPL's current folder).
    public static let defaultFolderName = ".lorabook-runs"

    public let directory: URL
    /// Runs this process trained and stored, and runs it loaded from the store.
    public private(set) var trained = 0, loaded = 0

    public init(directory: URL) { self.directory = directory.standardizedFileURL }

    /// `--store DIR`, else `$LORABOOK_STORE`, else `fallback` (a notebook's folder, the current folder).
    public static func location(option: String?, fallback: URL, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let option, !option.isEmpty { return URL(fileURLWithPath: option).standardizedFileURL }
        if let env = environment["LORABOOK_STORE"], !env.isEmpty { return URL(fileURLWithPath: env).standardizedFileURL }
        return fallback.appendingPathComponent(defaultFolderName).standardizedFileURL
    }

    // MARK: keys

    /// A file's SHA-256, remembered per process while its size and modification time stay the same.
    public static func digest(_ path: String) -> String { SHA256.remembered(path) ?? "missing" }

    /// The key of a training: see the file's header for what it covers.
    public static func key(_ request: TrainRequest, model: URL, sources: [TaskSource]) throws -> String {
        var unnamed = request
        unnamed.name = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var parts = ["lorabook run store \(formatVersion)"]
        for f in ["config.json", "vocab.txt", "model.safetensors"] { parts.append("model \(f) " + digest(model.appendingPathComponent(f).path)) }
        for task in request.tasks {
            guard let source = sources.first(where: { $0.task == task }) else {
                throw ModelError.invalidArgument(name: "task '\(task)'", reason: "no data source for it")
            }
            parts.append("data " + source.contentKey(digest: digest))
            // curves scored on dev (no validation split) choose the kept weights with the dev file
            if let e = request.evaluation, e.validation == nil, e.tasks.contains(task) { parts.append("dev " + digest(source.path(split: "dev"))) }
        }
        parts.append("request " + String(decoding: try encoder.encode(unnamed), as: UTF8.self))
        var sha = SHA256()
        sha.update(Data(parts.joined(separator: "\n").utf8))
        return sha.finish()
    }

    // MARK: entries

    /// What an entry says about its run; its first line in the file is a checksum of the rest.
    public struct Manifest: Codable, Sendable {
        public var format: Int
        public var key: String
        public var created: Date
        public var lorabook: String
        public var host: String
        /// The model folder it was trained from (for people; the key holds the files' digests).
        public var model: String
        public var sources: [TaskSource]
        public var result: TrainResult
        /// SHA-256 of the entry's other files.
        public var files: [String: String]
    }

    public enum Lookup { case hit(Manifest), miss, corrupt(String) }

    static let manifestName = "manifest.json", weightsName = "run.safetensors", checksumPrefix = "lorabook-run sha256:"

    public func entryURL(_ key: String) -> URL { directory.appendingPathComponent(key) }

    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        e.dateEncodingStrategy = .iso8601
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// The manifest of a stored run, checked: the checksum line, the key, the format and the
    /// weights' digest. Anything that does not check out is corrupt (never loaded).
    public func lookup(_ key: String) -> Lookup {
        let folder = entryURL(key)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir) else { return .miss }
        guard isDir.boolValue else { return .corrupt("\(folder.path) is not a folder") }
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(Self.manifestName).path) else {
            return .corrupt("it has no manifest")
        }
        guard let newline = data.firstIndex(of: 0x0A) else { return .corrupt("its manifest has no checksum line") }
        let head = String(decoding: data[..<newline], as: UTF8.self), body = data[(newline + 1)...]
        guard head.hasPrefix(Self.checksumPrefix), String(head.dropFirst(Self.checksumPrefix.count)) == SHA256.hex(Data(body)) else {
            return .corrupt("its manifest does not match its checksum")
        }
        guard let manifest = try? Self.decoder.decode(Manifest.self, from: Data(body)) else { return .corrupt("its manifest cannot be read") }
        guard manifest.format == Self.formatVersion else { return .corrupt("it has store format \(manifest.format), this lorabook writes \(Self.formatVersion)") }
        guard manifest.key == key else { return .corrupt("its manifest names another key") }
        for (name, sha) in manifest.files.sorted(by: { $0.key < $1.key }) where SHA256.file(folder.appendingPathComponent(name).path) != sha {
            return .corrupt("its \(name) does not match its checksum")
        }
        return .hit(manifest)
    }

    /// The network of a checked entry, on `model`.
    public func network(_ manifest: Manifest, model: BertModel) throws -> Network {
        try AdapterFile.load(entryURL(manifest.key).appendingPathComponent(Self.weightsName), model: model)
    }

    /// Stores a run under `key`: written beside the store, then renamed into place. When another
    /// process stored the key first, its entry is kept (both are the same run).
    public func save(key: String, network: Network, result: TrainResult, sources: [TaskSource], model: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let tmp = directory.appendingPathComponent(".tmp-\(key.prefix(16))-\(UUID().uuidString)")
        do {
            try fm.createDirectory(at: tmp, withIntermediateDirectories: false)
            let weights = tmp.appendingPathComponent(Self.weightsName)
            try AdapterFile.save(network, to: weights)
            guard let sha = SHA256.file(weights.path) else { throw ModelError.fileUnreadable(path: weights.path, reason: "cannot read back what was written") }
            let manifest = Manifest(format: Self.formatVersion, key: key, created: Date(), lorabook: LorabookVersion.current,
                                    host: ProcessInfo.processInfo.hostName, model: model.path, sources: sources, result: result,
                                    files: [Self.weightsName: sha])
            let body = try Self.encoder.encode(manifest)
            var data = Data((Self.checksumPrefix + SHA256.hex(body) + "\n").utf8)
            data.append(body)
            let manifestURL = tmp.appendingPathComponent(Self.manifestName)
            try data.write(to: manifestURL)
            Self.sync(weights); Self.sync(manifestURL); Self.sync(tmp)
            let target = entryURL(key)
            if rename(tmp.path, target.path) != 0 {
                // the key exists: keep a good entry (another process stored the same run), replace a corrupt one
                if case .hit = lookup(key) { try? fm.removeItem(at: tmp); return }
                discard(key)
                if rename(tmp.path, target.path) != 0 {
                    throw ModelError.fileUnwritable(path: target.path, reason: "cannot store the run: \(String(cString: strerror(errno)))")
                }
            }
            Self.sync(directory)
        } catch {
            try? fm.removeItem(at: tmp)
            if let e = error as? ModelError { throw e }
            throw ModelError.fileUnwritable(path: directory.path, reason: "cannot store the run: \((error as NSError).localizedDescription)")
        }
    }

    /// Removes an entry: renamed aside first, so no reader meets it half deleted.
    public func discard(_ key: String) {
        let aside = directory.appendingPathComponent(".trash-\(key.prefix(16))-\(UUID().uuidString)")
        if rename(entryURL(key).path, aside.path) == 0 { try? FileManager.default.removeItem(at: aside) }
    }

    static func sync(_ url: URL) {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    // MARK: train or load

    /// The run stored under `key`, loaded on `model` and named as `request` asks; nil when there is
    /// none, or when the entry is corrupt or cannot be loaded (`warn` says which: it will be trained again).
    public func stored(_ key: String, request: TrainRequest, model: BertModel, warn: (String) -> Void = { _ in }) -> (network: Network, result: TrainResult)? {
        switch lookup(key) {
        case .hit(let manifest):
            do {
                let network = try network(manifest, model: model)
                var result = manifest.result
                result.request.name = request.name
                result.name = request.name ?? request.defaultName
                loaded += 1
                return (network, result)
            } catch {
                warn("run store: entry \(key.prefix(12)) cannot be loaded (\(error)); training it again")
            }
        case .corrupt(let why):
            warn("run store: entry \(key.prefix(12)) is corrupt (\(why)); training it again")
        case .miss: break
        }
        return nil
    }

    public enum Origin: String, Sendable { case trained, stored }

    /// A run from the store when it is there (and checks out), else trained and stored. A run that
    /// was stopped before its last step is not stored (it is not what the request describes); a
    /// store that cannot be written is a warning, never a lost run.
    /// `key` when the caller computed it already (the request's key on `model` and `sources`).
    public func obtain(_ request: TrainRequest, model: BertModel, sources: [TaskSource], data: TrainingData, key: String? = nil,
                       onEvent: (TrainingEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false }, start: Network? = nil,
                       warn: (String) -> Void = { _ in }) throws -> (network: Network, result: TrainResult, origin: Origin, key: String) {
        let key = try key ?? Self.key(request, model: model.folder, sources: sources)
        if let (network, result) = stored(key, request: request, model: model, warn: warn) { return (network, result, .stored, key) }
        let (network, result) = try TrainingPipeline.run(request, model: model, data: data, onEvent: onEvent, shouldStop: shouldStop, start: start)
        if !result.stopped {
            do {
                try save(key: key, network: network, result: result, sources: sources, model: model.folder)
                trained += 1
            } catch { warn("run store: the run was not stored (\(error))") }
        }
        return (network, result, .trained, key)
    }
}
