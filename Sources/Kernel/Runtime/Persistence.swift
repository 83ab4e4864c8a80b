// The language's values, outputs, charts and diagnostics are themselves Codable: the cell cache
// and the session's saved state store them as they are (no mirror types). A value is an object
// with one key naming its kind (`{"number": 0.5}`, `{"list": […]}`, `{"run": "ID"}`); a record is
// a list of `{name, value}` in order; NaN and infinities are whatever the coder's strategy says.
// A run is stored by id: encoding one saves it in the `RunArchive` the encoder's userInfo holds,
// decoding one loads it from there; without an archive a run cannot be stored, and an output shows
// a run as its text (`shown`) so that it never needs one.
import Foundation
import Model

extension CodingUserInfoKey {
    /// The `RunArchive` runs are saved in and loaded from.
    public static let runArchive = CodingUserInfoKey(rawValue: "lorabook.runArchive")!
}

extension Value: Codable {
    enum Kind: String, CodingKey { case none, number, string, bool, list, record, table, chart, claim, run, unknown }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Kind.self)
        switch self {
        case .none: try c.encode(true, forKey: .none)
        case .unknown: try c.encode(true, forKey: .unknown)
        case .number(let n): try c.encode(n, forKey: .number)
        case .string(let s): try c.encode(s, forKey: .string)
        case .bool(let b): try c.encode(b, forKey: .bool)
        case .list(let l): try c.encode(l, forKey: .list)
        case .record(let r): try c.encode(r, forKey: .record)
        case .table(let t): try c.encode(t, forKey: .table)
        case .chart(let ch): try c.encode(ch, forKey: .chart)
        case .claim(let cl): try c.encode(cl, forKey: .claim)
        case .run(let r): try c.encode(r, forKey: .run)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Kind.self)
        guard c.allKeys.count == 1, let kind = c.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "a value is an object with one key, its kind"))
        }
        switch kind {
        case .none: self = .none
        case .unknown: self = .unknown
        case .number: self = .number(try c.decode(Double.self, forKey: .number))
        case .string: self = .string(try c.decode(String.self, forKey: .string))
        case .bool: self = .bool(try c.decode(Bool.self, forKey: .bool))
        case .list: self = .list(try c.decode([Value].self, forKey: .list))
        case .record: self = .record(try c.decode(Record.self, forKey: .record))
        case .table: self = .table(try c.decode(Table.self, forKey: .table))
        case .chart: self = .chart(try c.decode(Chart.self, forKey: .chart))
        case .claim: self = .claim(try c.decode(Claim.self, forKey: .claim))
        case .run: self = .run(try c.decode(RunHandle.self, forKey: .run))
        }
    }

    /// What an output shows of a value: a run becomes its text, so a stored output never needs a run back.
    public var shown: Value {
        switch self {
        case .run: return .string(text)
        case .list(let l): return .list(l.map(\.shown))
        case .record(let r): return .record(r.shown)
        case .table(var t): t.rows = t.rows.map(\.shown); return .table(t)
        case .claim(var c): c.values = c.values.map { ($0.0, $0.1.shown) }; return .claim(c)
        default: return self
        }
    }
}

/// One named value of a record or a claim, as stored.
private struct Field: Codable {
    var name: String
    var value: Value
}

extension Record: Codable {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(fields.map { Field(name: $0.0, value: $0.1) })
    }
    public init(from decoder: Decoder) throws {
        self.init(try decoder.singleValueContainer().decode([Field].self).map { ($0.name, $0.value) })
    }
    public var shown: Record { Record(fields.map { ($0.0, $0.1.shown) }) }
}

extension Claim: Codable {
    enum Keys: String, CodingKey { case label, passed, expression, values, detail, inconclusive, interval }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(label, forKey: .label)
        try c.encode(passed, forKey: .passed)
        try c.encode(expression, forKey: .expression)
        try c.encode(Record(values), forKey: .values)
        try c.encodeIfPresent(detail, forKey: .detail)
        try c.encode(inconclusive, forKey: .inconclusive)
        try c.encodeIfPresent(interval, forKey: .interval)
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        self.init(label: try c.decode(String.self, forKey: .label), passed: try c.decode(Bool.self, forKey: .passed),
                  expression: try c.decode(String.self, forKey: .expression), values: try c.decode(Record.self, forKey: .values).fields,
                  detail: try c.decodeIfPresent(String.self, forKey: .detail), inconclusive: try c.decode(Bool.self, forKey: .inconclusive),
                  interval: try c.decodeIfPresent([Double].self, forKey: .interval))
    }
}

extension Chart.Series: Codable {
    enum Keys: String, CodingKey { case name, x, y, error, categories }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(name, forKey: .name)
        try c.encode(points.map(\.x), forKey: .x)
        try c.encode(points.map(\.y), forKey: .y)
        try c.encode(points.map(\.error), forKey: .error)
        try c.encodeIfPresent(categories, forKey: .categories)
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let x = try c.decode([Double].self, forKey: .x), y = try c.decode([Double].self, forKey: .y), e = try c.decode([Double?].self, forKey: .error)
        guard x.count == y.count, x.count == e.count else {
            throw DecodingError.dataCorruptedError(forKey: .y, in: c, debugDescription: "a series' x, y and error lists differ in length")
        }
        self.init(name: try c.decode(String.self, forKey: .name), points: x.indices.map { (x[$0], y[$0], e[$0]) },
                  categories: try c.decodeIfPresent([String].self, forKey: .categories))
    }
}

extension Output {
    /// The output as it is stored: runs shown as their text.
    public var shown: Output {
        switch self {
        case .table(var t): t.rows = t.rows.map(\.shown); return .table(t)
        case .metrics(let title, let r): return .metrics(title, r.shown)
        case .claim(var c): c.values = c.values.map { ($0.0, $0.1.shown) }; return .claim(c)
        default: return self
        }
    }
}

extension RunHandle: Codable {
    public func encode(to encoder: Encoder) throws {
        guard let archive = encoder.userInfo[.runArchive] as? RunArchive else {
            throw EncodingError.invalidValue(id, .init(codingPath: encoder.codingPath, debugDescription: "a run is stored only in a run archive"))
        }
        try archive.save(self)
        var c = encoder.singleValueContainer()
        try c.encode(id)
    }

    /// The run the archive holds under the stored id (a handle on the same network and record).
    public convenience init(from decoder: Decoder) throws {
        let id = try decoder.singleValueContainer().decode(String.self)
        guard let archive = decoder.userInfo[.runArchive] as? RunArchive else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "run \(id) can be restored only from a run archive"))
        }
        let r = try archive.load(id)
        self.init(name: r.name, network: r.network, record: r.record, tasks: r.tasks, id: r.id, planned: r.planned)
    }
}

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
