// Values of the language: numbers, strings, booleans, lists, records, tables, charts, claims, and
// handles to trained runs. Ranges evaluate to lists.
import Foundation
import Model

public indirect enum Value: Sendable {
    case none
    case number(Double)
    case string(String)
    case bool(Bool)
    case list([Value])
    case record(Record)
    case table(Table)
    case chart(Chart)
    case claim(Claim)
    case run(RunHandle)
    /// A result not known yet: while a notebook is planned (`lorabook plan`), a training the run
    /// store does not hold gives a placeholder run, and what is computed from it is unknown.
    case unknown

    /// Whether lists and records nest more than `limit` deep, or hold more than `budget` values in
    /// all (counted as a printer would meet them: `x += x` in a loop shares storage but doubles what
    /// a walk sees). Looks at no more than `budget` values. Tables are leaves: their cells come from
    /// records that were bounded when they were made.
    public func nestingExceeds(_ limit: Int, budget: inout Int) -> Bool {
        budget -= 1
        guard limit >= 0, budget >= 0 else { return true }
        switch self {
        case .list(let items): return items.contains { $0.nestingExceeds(limit - 1, budget: &budget) }
        case .record(let r): return r.fields.contains { $0.1.nestingExceeds(limit - 1, budget: &budget) }
        default: return false
        }
    }

    /// Whether the value is, holds, or was computed from something not known yet (a planned run).
    public var dependsOnUnknown: Bool {
        switch self {
        case .unknown: return true
        case .run(let r): return r.planned
        case .list(let items): return items.contains { $0.dependsOnUnknown }
        case .record(let r): return r.fields.contains { $0.1.dependsOnUnknown }
        case .table(let t): return t.rows.contains { $0.fields.contains { $0.1.dependsOnUnknown } }
        default: return false
        }
    }

    public var typeName: String {
        switch self {
        case .none: return "none"
        case .number: return "number"
        case .string: return "string"
        case .bool: return "bool"
        case .list: return "list"
        case .record: return "record"
        case .table: return "table"
        case .chart: return "chart"
        case .claim: return "claim"
        case .run: return "run"
        case .unknown: return "unknown"
        }
    }
}

/// Literals stand for values where a value is declared (a parameter's default: `default: 8`).
extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral s: String) { self = .string(s) }
    public init(integerLiteral n: Int) { self = .number(Double(n)) }
    public init(floatLiteral n: Double) { self = .number(n) }
    public init(booleanLiteral b: Bool) { self = .bool(b) }
}

/// Fields in order (a metrics result, a row of a table).
public struct Record: Sendable, Equatable {
    public var fields: [(String, Value)]
    public init(_ fields: [(String, Value)] = []) { self.fields = fields }
    public subscript(_ name: String) -> Value? {
        get { fields.first { $0.0 == name }?.1 }
        set {
            if let i = fields.firstIndex(where: { $0.0 == name }) {
                if let newValue { fields[i].1 = newValue } else { fields.remove(at: i) }
            } else if let newValue { fields.append((name, newValue)) }
        }
    }
    public var names: [String] { fields.map(\.0) }
    public static func == (a: Record, b: Record) -> Bool {
        a.fields.count == b.fields.count && zip(a.fields, b.fields).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// Rows of records with the union of their fields as columns, in first-seen order.
public struct Table: Sendable, Equatable, Codable {
    public var columns: [String] = []
    public var rows: [Record] = []
    public var title: String?
    public init(columns: [String] = [], rows: [Record] = [], title: String? = nil) {
        self.columns = columns; self.title = title
        for r in rows { append(r) }
    }
    public mutating func append(_ r: Record) {
        for n in r.names where !columns.contains(n) { columns.append(n) }
        rows.append(r)
    }
    public func column(_ name: String) -> [Value] { rows.map { $0[name] ?? .none } }
}

/// A claim checked by `expect`: a label, whether it held, and the values it compared.
public struct Claim: Sendable, Equatable, Codable {
    public var label: String
    public var passed: Bool
    public var expression: String
    @Fields public var values: [(String, Value)]
    public var detail: String?
    /// A claim on an interval that straddles its bound: neither held nor failed (`passed` is false).
    public var inconclusive = false
    /// The 95% interval a claim was judged on (low, high), if it was.
    public var interval: [Double]? = nil
    public init(label: String, passed: Bool, expression: String, values: [(String, Value)], detail: String?, inconclusive: Bool = false, interval: [Double]? = nil) {
        self.label = label; self.passed = passed; self.expression = expression; self.values = values; self.detail = detail
        self.inconclusive = inconclusive; self.interval = interval
    }
    /// Failed outright (not inconclusive).
    public var failed: Bool { !passed && !inconclusive }
    public static func == (a: Claim, b: Claim) -> Bool {
        a.label == b.label && a.passed == b.passed && a.inconclusive == b.inconclusive && a.expression == b.expression && a.values.map(\.0) == b.values.map(\.0)
    }
}

/// A trained configuration kept alive in the session, and the record of its run.
public final class RunHandle: @unchecked Sendable {
    /// Identity across saving and restoring (the cell cache stores runs by it).
    public let id: String
    public let name: String
    public let network: Network
    public var record: Record
    /// Encoded datasets by task name used to train it (for multitask evaluation defaults).
    public let tasks: [String]
    /// A placeholder while planning: the run is not trained yet, its network is untrained and its
    /// results are unknown.
    public let planned: Bool
    public init(name: String, network: Network, record: Record, tasks: [String], id: String = UUID().uuidString, planned: Bool = false) {
        self.name = name; self.network = network; self.record = record; self.tasks = tasks; self.id = id; self.planned = planned
    }
}

extension Value: Equatable {
    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.list(let x), .list(let y)): return x == y
        case (.record(let x), .record(let y)): return x == y
        case (.table(let x), .table(let y)): return x == y
        case (.chart(let x), .chart(let y)): return x == y
        case (.claim(let x), .claim(let y)): return x == y
        case (.run(let x), .run(let y)): return x === y
        case (.unknown, .unknown): return true
        default: return false
        }
    }
}

// MARK: text rendering

extension Value {
    /// How a value reads in text: numbers without needless digits, strings bare at top level.
    public var text: String {
        switch self {
        case .string(let s): return s
        default: return literal
        }
    }

    /// How a value reads inside a list or record (strings quoted).
    public var literal: String {
        switch self {
        case .none: return "none"
        case .number(let n): return Value.format(n)
        case .string(let s): return "\"\(s)\""
        case .bool(let b): return b ? "true" : "false"
        case .list(let items): return "[" + items.map(\.literal).joined(separator: ", ") + "]"
        case .record(let r): return "{" + r.fields.map { "\($0.0): \($0.1.literal)" }.joined(separator: ", ") + "}"
        case .table(let t): return "<table: \(t.rows.count) rows × \(t.columns.count) columns>"
        case .chart(let c): return "<chart: \(c.title ?? c.kind.rawValue)>"
        case .claim(let c): return "<claim \(c.passed ? "passed" : "FAILED"): \(c.label)>"
        case .run(let r): return "<run \(r.name)>"
        case .unknown: return "unknown"
        }
    }

    /// Up to 6 significant digits, no trailing zeros; integers as integers.
    public static func format(_ n: Double) -> String {
        if n.isNaN { return "nan" }
        if n.isInfinite { return n > 0 ? "inf" : "-inf" }
        if n == n.rounded() && abs(n) < 1e15 { return String(Int(n)) }
        let a = abs(n)
        if a >= 1e-4 && a < 1e6 {
            var s = String(format: "%.6g", n)
            if s.contains("e") { s = String(format: "%.6f", n) }
            if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
            return s
        }
        return String(format: "%.4g", n)
    }
}

extension Value {
    /// A value written as a literal, as `-p key=VALUE` gives it: a number (`-3`, `5e-4`), a string,
    /// true or false, or a list or record of literals (`[1, 8]`, `{lr: 0.002}`). Nil for anything
    /// else (a bare word, an expression): the caller decides (`-p` takes it as text).
    public init?(literal text: String) {
        let parsed = Parser.parse("let __literal = " + text, commands: [])
        guard parsed.diagnostics.isEmpty, parsed.statements.count == 1, case .letBinding(_, let e) = parsed.statements[0].kind,
              let v = Self.literal(e) else { return nil }
        self = v
    }

    private static func literal(_ e: Expr) -> Value? {
        switch e.kind {
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .unary("-", let x): if case .number(let n) = x.kind { return .number(-n) }; return nil
        case .list(let items):
            var values: [Value] = []
            for item in items { guard let v = literal(item) else { return nil }; values.append(v) }
            return .list(values)
        case .record(let fields):
            var record = Record()
            for (k, x) in fields { guard let v = literal(x) else { return nil }; record[k] = v }
            return .record(record)
        default: return nil
        }
    }
}
