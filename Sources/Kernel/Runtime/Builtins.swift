// The built-in functions of expressions, each declared once: its name, its doc (help, completion,
// docs/language.md and the static check read them from here) and what it does.
import Foundation
import Model

/// The arguments of a call to a built-in function, with the checks the functions share.
struct BuiltinCall {
    let name: String
    let args: [Value]
    let location: SourceLocation

    func fail(_ message: String, hint: String? = nil) -> Diagnostic { Diagnostic(message, at: location, hint: hint) }

    /// Numbers: one list of numbers, or the numbers passed one by one.
    func numbers() throws -> [Double] {
        let items: [Value]
        if args.count == 1, case .list(let l) = args[0] { items = l } else { items = args }
        return try items.map { v in
            guard case .number(let n) = v else { throw fail("\(name)() needs numbers, got \(v.typeName) \(v.literal)") }
            return n
        }
    }

    /// Exactly one number.
    func one() throws -> Double {
        guard args.count == 1, case .number(let n) = args[0] else { throw fail("\(name)() needs one number") }
        return n
    }

    /// A list of numbers (not a single number).
    func list(_ v: Value) throws -> [Double] {
        guard case .list(let items) = v else { throw fail("\(name)() takes lists of numbers, got \(v.typeName) \(v.literal)") }
        return try items.map { x in
            guard case .number(let n) = x else { throw fail("\(name)() needs numbers, got \(x.typeName) \(x.literal)") }
            return n
        }
    }
}

/// A built-in function.
struct Builtin {
    let name: String
    /// Signature and meaning, one line: what `help`, docs/language.md and completion show.
    let doc: String
    let run: (BuiltinCall) throws -> Value
}

public enum Builtins {
    static let all: [Builtin] = [
        Builtin(name: "mean", doc: "mean(list): the arithmetic mean") { c in
            let xs = try c.numbers()
            guard !xs.isEmpty else { throw c.fail("mean() of an empty list") }
            return .number(xs.reduce(0, +) / Double(xs.count))
        },
        Builtin(name: "std", doc: "std(list): the sample standard deviation (n − 1), of two or more values") { c in
            let xs = try c.numbers()
            guard xs.count >= 2 else { throw c.fail("std() needs at least two values, got \(xs.count)") }
            let m = xs.reduce(0, +) / Double(xs.count)
            return .number((xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot())
        },
        Builtin(name: "min", doc: "min(list) or min(a, b, …)") { c in
            let xs = try c.numbers()
            guard let m = xs.min() else { throw c.fail("min() of an empty list") }
            return .number(m)
        },
        Builtin(name: "max", doc: "max(list) or max(a, b, …)") { c in
            let xs = try c.numbers()
            guard let m = xs.max() else { throw c.fail("max() of an empty list") }
            return .number(m)
        },
        Builtin(name: "sum", doc: "sum(list)") { c in .number(try c.numbers().reduce(0, +)) },
        Builtin(name: "len", doc: "len(list, string, table or record)") { c in
            guard c.args.count == 1 else { throw c.fail("len() takes one value") }
            switch c.args[0] {
            case .list(let l): return .number(Double(l.count))
            case .string(let s): return .number(Double(s.count))
            case .table(let t): return .number(Double(t.rows.count))
            case .record(let r): return .number(Double(r.fields.count))
            default: throw c.fail("len() of a \(c.args[0].typeName)")
            }
        },
        Builtin(name: "abs", doc: "abs(x)") { c in .number(abs(try c.one())) },
        Builtin(name: "round", doc: "round(x, digits = 0)") { c in
            guard let first = c.args.first, case .number(let x) = first else { throw c.fail("round() needs a number") }
            var digits = 0.0
            if c.args.count > 1, case .number(let d) = c.args[1] { digits = d }
            let f = pow(10, digits)
            return .number((x * f).rounded() / f)
        },
        Builtin(name: "sqrt", doc: "sqrt(x)") { c in .number(try c.one().squareRoot()) },
        Builtin(name: "table", doc: "table(): an empty table") { _ in .table(Table()) },
        Builtin(name: "column", doc: "column(table, name): a column as a list") { c in
            guard c.args.count == 2, case .table(let t) = c.args[0], case .string(let name) = c.args[1] else {
                throw c.fail("column(table, \"name\") takes a table and a column name")
            }
            guard t.columns.contains(name) else { throw c.fail("the table has no column '\(name)'", hint: Suggestions.didYouMean(name, among: t.columns)) }
            return .list(t.column(name))
        },
        Builtin(name: "str", doc: "str(x): as text") { c in
            guard c.args.count == 1 else { throw c.fail("str() takes one value") }
            return .string(c.args[0].text)
        },
        Builtin(name: "ratio", doc: "ratio(a, b): a / b") { c in
            let xs = try c.numbers()
            guard xs.count == 2, xs[1] != 0 else { throw c.fail("ratio(a, b) needs two numbers, b not 0") }
            return .number(xs[0] / xs[1])
        },
        Builtin(name: "ci", doc: "ci(xs): the mean and its 95% interval over xs (Student t for n ≤ 30, normal beyond): {mean, low, high, half, n}; ci(xs, ys): of the paired differences xs − ys") { c in
            guard c.args.count == 1 || c.args.count == 2 else { throw c.fail("ci() takes one list, or two lists of paired values") }
            var xs = try c.list(c.args[0])
            if c.args.count == 2 {
                let ys = try c.list(c.args[1])
                guard xs.count == ys.count else { throw c.fail("ci(xs, ys) pairs values: xs has \(xs.count), ys \(ys.count)", hint: "pair runs by seed, in the same order") }
                xs = zip(xs, ys).map { $0 - $1 }
            }
            guard let interval = Statistics.interval(xs) else { throw c.fail("ci() needs at least two values, got \(xs.count)") }
            return .record(Record([("mean", .number(interval.mean)), ("low", .number(interval.low)), ("high", .number(interval.high)),
                                   ("half", .number(interval.half)), ("n", .number(Double(xs.count)))]))
        },
    ]

    static let byName: [String: Builtin] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    public static var names: [String] { all.map(\.name).sorted() }

    /// The diagnostic for a name that is no built-in function.
    static func unknown(_ name: String, at location: SourceLocation) -> Diagnostic {
        Diagnostic("unknown function '\(name)'", at: location,
                   hint: Suggestions.didYouMean(name, among: names) ?? "functions: \(names.joined(separator: ", "))")
    }

    static func call(_ name: String, _ args: [Value], at location: SourceLocation) throws -> Value {
        guard let f = byName[name] else { throw unknown(name, at: location) }
        return try f.run(BuiltinCall(name: name, args: args, location: location))
    }
}
