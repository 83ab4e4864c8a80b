// Values, outputs and session state in Codable form, for the notebook cell cache. Runs are stored
// by id; the caller saves and loads their weights (adapter files).
import Foundation
import Model

public indirect enum StoredValue: Codable, Equatable {
    case none, number(Double), string(String), bool(Bool)
    case list([StoredValue])
    case record([StoredField])
    case table(StoredTable)
    case chart(StoredChart)
    case claim(StoredClaim)
    case run(String)
    case unknown
}

public struct StoredField: Codable, Equatable { public var name: String; public var value: StoredValue }
public struct StoredTable: Codable, Equatable { public var columns: [String]; public var rows: [[StoredField]]; public var title: String? }
public struct StoredClaim: Codable, Equatable {
    public var label: String, passed: Bool, expression: String, values: [StoredField], detail: String?
    public var inconclusive: Bool?, interval: [Double]?
}
public struct StoredChart: Codable, Equatable {
    public struct Series: Codable, Equatable {
        public var name: String; public var x: [Double]; public var y: [Double]; public var error: [Double?]; public var categories: [String]?
    }
    public var kind: String, title: String?, xLabel: String, yLabel: String, logX: Bool, series: [Series], categories: [String]?
}
public struct StoredDiagnostic: Codable, Equatable {
    public var message: String, line: Int?, column: Int?, hint: String?, warning: Bool
}

public enum StoredOutput: Codable, Equatable {
    case text(String), table(StoredTable), metrics(String, [StoredField]), chart(StoredChart), claim(StoredClaim), warning(String), error(StoredDiagnostic)
}

/// The session state after a cell: what a later cell may read.
public struct StoredSession: Codable, Equatable {
    public var variables: [StoredField]
    public var seed: UInt64
    public var adaptation: AdaptationConfig
    public var lastRun: String?
    public var modelPath: String?
    public var dataFolder: String
    public var registrations: [TaskRegistration]
}

public enum Storage {
    // MARK: to stored form

    public static func store(_ v: Value, runs: (RunHandle) throws -> Void) rethrows -> StoredValue {
        switch v {
        case .none: return .none
        case .unknown: return .unknown
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .list(let l): return .list(try l.map { try store($0, runs: runs) })
        case .record(let r): return .record(try fields(r, runs: runs))
        case .table(let t): return .table(try table(t, runs: runs))
        case .chart(let c): return .chart(chart(c))
        case .claim(let c): return .claim(try claim(c, runs: runs))
        case .run(let r): try runs(r); return .run(r.id)
        }
    }

    static func fields(_ r: Record, runs: (RunHandle) throws -> Void) rethrows -> [StoredField] {
        try r.fields.map { StoredField(name: $0.0, value: try store($0.1, runs: runs)) }
    }
    static func table(_ t: Table, runs: (RunHandle) throws -> Void) rethrows -> StoredTable {
        StoredTable(columns: t.columns, rows: try t.rows.map { try fields($0, runs: runs) }, title: t.title)
    }
    static func claim(_ c: Claim, runs: (RunHandle) throws -> Void) rethrows -> StoredClaim {
        StoredClaim(label: c.label, passed: c.passed, expression: c.expression,
                    values: try c.values.map { StoredField(name: $0.0, value: try store($0.1, runs: runs)) }, detail: c.detail,
                    inconclusive: c.inconclusive ? true : nil, interval: c.interval)
    }
    static func chart(_ c: Chart) -> StoredChart {
        StoredChart(kind: c.kind.rawValue, title: c.title, xLabel: c.xLabel, yLabel: c.yLabel, logX: c.logX,
                    series: c.series.map { .init(name: $0.name, x: $0.points.map(\.x), y: $0.points.map(\.y), error: $0.points.map(\.error), categories: $0.categories) },
                    categories: c.categories)
    }

    /// What an output shows of a value: a run becomes its text, so a stored output never needs a run
    /// back (and decoding one never has to drop what it cannot rebuild).
    static func shown(_ v: Value) -> Value {
        switch v {
        case .run: return .string(v.text)
        case .list(let l): return .list(l.map(shown))
        case .record(let r): return .record(shown(r))
        case .table(var t): t.rows = t.rows.map(shown); return .table(t)
        case .claim(var c): c.values = c.values.map { ($0.0, shown($0.1)) }; return .claim(c)
        default: return v
        }
    }
    static func shown(_ r: Record) -> Record { Record(r.fields.map { ($0.0, shown($0.1)) }) }

    public static func store(_ o: Output) -> StoredOutput {
        let noRuns: (RunHandle) -> Void = { _ in }
        switch o {
        case .text(let t): return .text(t)
        case .table(var t): t.rows = t.rows.map(shown); return .table(table(t, runs: noRuns))
        case .metrics(let title, let r): return .metrics(title, fields(shown(r), runs: noRuns))
        case .chart(let c): return .chart(chart(c))
        case .claim(var c): c.values = c.values.map { ($0.0, shown($0.1)) }; return .claim(claim(c, runs: noRuns))
        case .warning(let w): return .warning(w)
        case .error(let d): return .error(store(d))
        }
    }

    public static func store(_ d: Diagnostic) -> StoredDiagnostic {
        StoredDiagnostic(message: d.message, line: d.location?.line, column: d.location?.column, hint: d.hint, warning: d.severity == .warning)
    }

    public static func store(_ s: Session, runs: (RunHandle) throws -> Void) throws -> StoredSession {
        if let r = s.lastRun { try runs(r) }
        return StoredSession(
            variables: try s.variables.keys.sorted().map { StoredField(name: $0, value: try store(s.variables[$0]!, runs: runs)) },
            seed: s.seed, adaptation: s.adaptation, lastRun: s.lastRun?.id, modelPath: s.model?.folder.path,
            dataFolder: s.dataFolder.path, registrations: s.taskRegistrations.keys.sorted().map { s.taskRegistrations[$0]! })
    }

    // MARK: back to values

    public static func value(_ v: StoredValue, runs: (String) throws -> RunHandle) rethrows -> Value {
        switch v {
        case .none: return .none
        case .unknown: return .unknown
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .list(let l): return .list(try l.map { try value($0, runs: runs) })
        case .record(let f): return .record(try record(f, runs: runs))
        case .table(let t): return .table(try table(t, runs: runs))
        case .chart(let c): return .chart(chart(c))
        case .claim(let c): return .claim(try claim(c, runs: runs))
        case .run(let id): return .run(try runs(id))
        }
    }

    static func record(_ f: [StoredField], runs: (String) throws -> RunHandle) rethrows -> Record {
        Record(try f.map { ($0.name, try value($0.value, runs: runs)) })
    }
    static func table(_ t: StoredTable, runs: (String) throws -> RunHandle) rethrows -> Table {
        var out = Table(columns: t.columns, rows: [], title: t.title)
        for r in t.rows { out.rows.append(try record(r, runs: runs)) }
        return out
    }
    static func claim(_ c: StoredClaim, runs: (String) throws -> RunHandle) rethrows -> Claim {
        Claim(label: c.label, passed: c.passed, expression: c.expression, values: try c.values.map { ($0.name, try value($0.value, runs: runs)) }, detail: c.detail,
              inconclusive: c.inconclusive ?? false, interval: c.interval)
    }
    static func chart(_ c: StoredChart) -> Chart {
        Chart(kind: Chart.Kind(rawValue: c.kind) ?? .line, title: c.title, xLabel: c.xLabel, yLabel: c.yLabel, logX: c.logX,
              series: c.series.map { s in Chart.Series(name: s.name, points: s.x.indices.map { (s.x[$0], s.y[$0], s.error[$0]) }, categories: s.categories) },
              categories: c.categories)
    }

    /// An output back. One that refers to a run (written before outputs stored runs as their text)
    /// cannot be rebuilt: it throws, and the cache treats the entry as a miss and says so.
    public static func output(_ o: StoredOutput) throws -> Output {
        let noRuns: (String) throws -> RunHandle = { id in throw Diagnostic("a stored output refers to run \(id)") }
        switch o {
        case .text(let t): return .text(t)
        case .table(let t): return .table(try table(t, runs: noRuns))
        case .metrics(let title, let f): return .metrics(title, try record(f, runs: noRuns))
        case .chart(let c): return .chart(chart(c))
        case .claim(let c): return .claim(try claim(c, runs: noRuns))
        case .warning(let w): return .warning(w)
        case .error(let d): return .error(diagnostic(d))
        }
    }

    public static func diagnostic(_ d: StoredDiagnostic) -> Diagnostic {
        Diagnostic(d.message, at: d.line.map { SourceLocation(line: $0, column: d.column ?? 1) }, hint: d.hint, severity: d.warning ? .warning : .error)
    }

    /// Puts a stored session back: variables, settings, the model, registered tasks and runs.
    public static func restore(_ stored: StoredSession, into s: Session, runs: (String) throws -> RunHandle) throws {
        s.dataFolder = URL(fileURLWithPath: stored.dataFolder)
        if let path = stored.modelPath, s.model?.folder.path != path {
            do { s.model = try BertModel.load(folder: URL(fileURLWithPath: path)) } catch let e as ModelError { throw Diagnostic(e.description) }
        }
        for r in stored.registrations where s.taskRegistrations[r.name] != r {
            do { try s.register(r) } catch let e as ModelError { throw Diagnostic(e.description) }
        }
        s.seed = stored.seed
        s.adaptation = stored.adaptation
        s.variables = [:]
        for f in stored.variables { s.variables[f.name] = try value(f.value, runs: runs) }
        s.lastRun = try stored.lastRun.map(runs)
    }
}
