// `table`: show, sort, filter and group tables of results.
import Foundation
import Model

enum TableCommands {
    static let all: [CommandSpec] = [table]

    static func asTable(_ v: Value, at location: SourceLocation) throws -> Table {
        switch v {
        case .table(let t): return t
        case .record(let r): return Table(rows: [r])
        case .list(let items):
            return Table(rows: try items.map { item in
                switch item {
                case .record(let r): return r
                case .run(let r): return r.record
                default: throw Diagnostic("a table is made of records, and this list holds a \(item.typeName)", at: location)
                }
            })
        case .run(let r): return Table(rows: [r.record])
        default: throw Diagnostic("expected a table, a record or a list of records, got \(v.typeName) \(v.literal)", at: location)
        }
    }

    static func number(_ v: Value?) -> Double? { if case .number(let n)? = v { return n }; if case .bool(let b)? = v { return b ? 1 : 0 }; return nil }

    /// Orders values: numbers by value, then text.
    static func less(_ a: Value?, _ b: Value?) -> Bool {
        switch (a, b) {
        case (.number(let x)?, .number(let y)?): return x < y
        case (.number?, _): return true
        case (_, .number?): return false
        default: return (a?.text ?? "") < (b?.text ?? "")
        }
    }

    static let table = CommandSpec(
        "table", group: "results", summary: "Show a table; sort, filter, group (mean and std per group) or pick columns.",
        detail: """
        group=[cols] makes one row per distinct value of those columns with n and, for every other numeric column C but seed \
        (or those named in values=), C_mean, C_std (sample standard deviation, 0 for one row) and C_ci (the half-width of the \
        mean's 95% interval, Student t; none for one row). where= is an expression over a row's fields.
        """,
        parameters: [
            ParameterSpec("value", .any, positional: true, required: true, "a table, a list of records, or a record"),
            ParameterSpec("where", .predicate, "keep rows where this holds, e.g. where=mode == \"lora\""),
            ParameterSpec("group", .list(.column), "group by these columns: n, and <column>_mean, _std and _ci (the 95% interval's half-width) of the numeric columns"),
            ParameterSpec("values", .list(.column), defaultNote: "every numeric column but seed", "the columns group= aggregates"),
            ParameterSpec("sort", .column, "sort by this column"),
            ParameterSpec("desc", .bool, default: false, "sort descending"),
            ParameterSpec("columns", .list(.column), "keep these columns, in this order"),
            ParameterSpec("limit", .integer, "keep the first N rows"),
            ParameterSpec("title", .string, "a title"),
        ],
        returns: "table",
        examples: ["let t = table()\nt += {rank: 1, acc: 0.30}\nt += {rank: 1, acc: 0.32}\nt += {rank: 8, acc: 0.41}\ntable t group=rank sort=rank"]
    ) { inv in
        // while planning, a table may hold results not trained yet: rows still filter and group on
        // known columns; what would depend on an unknown (a filter, an order, a mean) is unknown
        if case .unknown = inv.value("value")! { return .unknown }
        var t = try asTable(inv.value("value")!, at: inv.location("value"))
        let s = inv.session
        var undetermined = false
        if let predicate = inv.predicate("where") {
            let saved = s.variables
            defer { s.variables = saved }
            let evaluator = Evaluator(session: s)
            t.rows = try t.rows.filter { row in
                for (k, v) in row.fields { s.variables[k] = v }
                let v = try evaluator.evaluate(predicate)
                for (k, _) in row.fields { s.variables[k] = saved[k] }
                if case .unknown = v { undetermined = true; return false }
                guard case .bool(let keep) = v else { throw Diagnostic("where= needs true or false, got \(v.typeName) \(v.literal)", at: predicate.location) }
                return keep
            }
        }
        func checkColumns(_ names: [String], _ param: String) throws {
            for n in names where !t.columns.contains(n) {
                throw Diagnostic("the table has no column '\(n)'", at: inv.location(param), hint: Suggestions.didYouMean(n, among: t.columns) ?? "its columns: \(t.columns.joined(separator: ", "))")
            }
        }
        if let keys = try inv.strings("group") {
            try checkColumns(keys, "group")
            var groups: [[Value]] = [], members: [[Record]] = []
            for row in t.rows {
                let key = keys.map { row[$0] ?? .none }
                if let i = groups.firstIndex(of: key) { members[i].append(row) } else { groups.append(key); members.append([row]) }
            }
            func numberOrUnknown(_ v: Value?) -> Bool { if case .unknown? = v { return true }; return number(v) != nil }
            var numeric = t.columns.filter { c in !keys.contains(c) && t.rows.allSatisfy { numberOrUnknown($0[c]) || $0[c] == nil } && t.rows.contains { numberOrUnknown($0[c]) } }
            if let chosen = try inv.strings("values") {
                try checkColumns(chosen, "values")
                for c in chosen where !numeric.contains(c) { throw Diagnostic("values=: column '\(c)' is not numeric", at: inv.location("values")) }
                numeric = chosen
            } else {
                numeric.removeAll { $0 == "seed" }   // a replicate's id: its mean means nothing
            }
            var out = Table()
            for (key, rows) in zip(groups, members) {
                var r = Record(zip(keys, key).map { ($0, $1) })
                r["n"] = .number(Double(rows.count))
                for c in numeric {
                    if rows.contains(where: { $0[c] == .unknown }) { r[c + "_mean"] = .unknown; r[c + "_std"] = .unknown; r[c + "_ci"] = .unknown; continue }
                    let xs = rows.compactMap { number($0[c]) }
                    let m = xs.reduce(0, +) / Double(max(1, xs.count))
                    let sd = xs.count > 1 ? (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot() : 0
                    r[c + "_mean"] = .number(m); r[c + "_std"] = .number(sd)
                    r[c + "_ci"] = Statistics.interval(xs).map { Value.number($0.half) } ?? Value.none   // the 95% interval's half-width (error bars)
                }
                out.append(r)
            }
            t = out
        }
        if let key = try inv.string("sort") {
            try checkColumns([key], "sort")
            let desc = try inv.defaulted("desc", inv.bool)
            if t.rows.contains(where: { $0[key] == .unknown }) { undetermined = true }
            t.rows = t.rows.enumerated().sorted { a, b in
                let l = a.element[key], r = b.element[key]
                if less(l, r) != less(r, l) { return desc ? less(r, l) : less(l, r) }
                return a.offset < b.offset
            }.map(\.element)
        }
        if let cols = try inv.strings("columns") {
            try checkColumns(cols, "columns")
            t = Table(columns: cols, rows: t.rows.map { r in Record(cols.compactMap { c in r[c].map { (c, $0) } }) })
            t.columns = cols
        }
        if let n = try inv.count("limit", in: 0...Int(Int32.max)) { t.rows = Array(t.rows.prefix(n)) }
        if let title = try inv.string("title") { t.title = title }
        return undetermined ? .unknown : .table(t)
    }
}
