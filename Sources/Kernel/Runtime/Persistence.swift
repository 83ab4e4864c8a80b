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

/// Named values in order, stored as a record: `@Fields var values: [(String, Value)]` makes the
/// type that holds them Codable without a hand-written coder.
@propertyWrapper
public struct Fields: Codable, Sendable {
    public var wrappedValue: [(String, Value)]
    public init(wrappedValue: [(String, Value)]) { self.wrappedValue = wrappedValue }
    public init(from decoder: Decoder) throws { wrappedValue = try Record(from: decoder).fields }
    public func encode(to encoder: Encoder) throws { try Record(wrappedValue).encode(to: encoder) }
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
