// Commands are data: a name, typed parameters with defaults and help, examples, and a function.
// The registry generates `help`, completion lists and docs/language.md from these specs.
import Foundation
import Model

public indirect enum ParameterType: Sendable, Equatable, CustomStringConvertible {
    case number, integer, string, bool, any, table, run
    /// One of these words (a bare name is accepted: `targets=all-linear`).
    case choice([String])
    /// A name or a string (a bare name is accepted: `train sst`; a variable holding a string wins).
    case name
    /// A table column: a bare word is always the column's name, even when a variable has that name
    /// (`group=rank` inside `for rank in …`); pass a name held in a variable as `str(v)`.
    case column
    /// A list of `element`, or one element standing for a list of one.
    case list(ParameterType)
    /// An expression evaluated per table row, with the row's fields as variables (`where=`).
    case predicate

    public var description: String {
        switch self {
        case .number: return "number"
        case .integer: return "integer"
        case .string: return "string"
        case .bool: return "bool"
        case .any: return "value"
        case .table: return "table"
        case .run: return "run"
        case .choice(let c): return c.joined(separator: "|")
        case .name: return "name"
        case .column: return "column"
        case .list(let t): return "list of \(t)"
        case .predicate: return "expression"
        }
    }

    /// Whether a bare identifier that is not a variable stands for its own name here.
    var acceptsSymbol: Bool {
        switch self {
        case .choice, .name, .string, .column: return true
        case .list(let t): return t.acceptsSymbol
        default: return false
        }
    }
}

public struct ParameterSpec: Sendable {
    public let name: String
    public let type: ParameterType
    public let positional: Bool
    public let required: Bool
    /// What a call that leaves the parameter out gets (nil: nothing; the command decides, as
    /// `defaultNote` says). Help and docs/language.md show it; `Invocation` supplies it.
    public let defaultValue: Value?
    let defaultNote: String?
    public let summary: String
    public init(_ name: String, _ type: ParameterType, positional: Bool = false, required: Bool = false,
                default defaultValue: Value? = nil, defaultNote: String? = nil, _ summary: String) {
        self.name = name; self.type = type; self.positional = positional; self.required = required
        self.defaultValue = defaultValue; self.defaultNote = defaultNote; self.summary = summary
    }
    /// The default as documented: the value's text, or what the command decides.
    public var defaultText: String? { defaultValue.map(\.text) ?? defaultNote }
}

public struct CommandSpec: Sendable {
    public let name: String
    public let group: String
    public let summary: String
    public let detail: String
    public let parameters: [ParameterSpec]
    /// A positional parameter that collects every remaining positional argument as a list.
    public let variadic: String?
    public let returns: String
    public let examples: [String]
    public let run: @Sendable (Invocation) throws -> Value

    public init(_ name: String, group: String, summary: String, detail: String = "", parameters: [ParameterSpec] = [],
                variadic: String? = nil, returns: String = "none", examples: [String] = [],
                run: @escaping @Sendable (Invocation) throws -> Value) {
        self.name = name; self.group = group; self.summary = summary; self.detail = detail; self.parameters = parameters
        self.variadic = variadic; self.returns = returns; self.examples = examples; self.run = run
    }

    public var usage: String {
        var parts = [name]
        for p in parameters where p.positional {
            let s = p.name == variadic ? "\(p.name)…" : p.name
            parts.append(p.required ? s.uppercased() : "[\(s.uppercased())]")
        }
        for p in parameters where !p.positional { parts.append(p.required ? "\(p.name)=\(p.type)" : "[\(p.name)=\(p.type)]") }
        return parts.joined(separator: " ")
    }
}

/// A command call with its arguments bound to parameters and evaluated.
public struct Invocation {
    public let spec: CommandSpec
    public let call: CommandCall
    public let session: Session
    /// Whether the result will be shown (the command stands alone as a statement).
    public let displayed: Bool
    var values: [String: (Value, SourceLocation)]
    var predicates: [String: Expr]

    public func has(_ name: String) -> Bool { values[name] != nil || predicates[name] != nil }
    /// The argument given, or the parameter's declared default.
    public func value(_ name: String) -> Value? { values[name]?.0 ?? spec.parameters.first { $0.name == name }?.defaultValue }
    /// A parameter declared with a default: its value through `get` (`inv.string`, `inv.count`…),
    /// given or defaulted. One declared without a default is an error of lorabook, never a crash.
    public func defaulted<T>(_ name: String, _ get: (String) throws -> T?) throws -> T {
        guard let v = try get(name) else { throw Diagnostic("internal error: parameter '\(name)' of '\(spec.name)' has no default", at: call.location) }
        return v
    }
    public func location(_ name: String) -> SourceLocation { values[name]?.1 ?? call.location }

    /// `body`'s ModelError reported at the argument `parameter` (or the command), through `ModelBoundary`.
    public func at<T>(_ parameter: String? = nil, _ body: () throws -> T) throws -> T {
        try ModelBoundary.diagnose(at: parameter.map(location) ?? call.location, body)
    }
    public func predicate(_ name: String) -> Expr? { predicates[name] }

    func typeError(_ name: String, _ expected: String, _ v: Value) -> Diagnostic {
        Diagnostic("parameter '\(name)' of '\(spec.name)' expects \(expected), got \(v.typeName) \(v.literal)", at: location(name))
    }

    public func number(_ name: String) throws -> Double? {
        try typed(name, "a number") { if case .number(let n) = $0 { return n }; return nil }
    }
    public func integer(_ name: String) throws -> Int? {
        guard let n = try number(name) else { return nil }
        guard n == n.rounded(), abs(n) < 1e15 else { throw Diagnostic("parameter '\(name)' of '\(spec.name)' expects an integer, got \(Value.format(n))", at: location(name)) }
        return Int(n)
    }
    /// A whole number in `range` (a count, a size, a limit): anything else is a located error, so
    /// that `limit=-1` or `batch=0` never reaches code that would trap on it.
    public func count(_ name: String, in range: ClosedRange<Int> = 1...Int(Int32.max)) throws -> Int? {
        guard let n = try integer(name) else { return nil }
        guard range.contains(n) else {
            let expected = range.upperBound >= Int(Int32.max) ? "at least \(range.lowerBound)" : "\(range.lowerBound)…\(range.upperBound)"
            throw Diagnostic("parameter '\(name)' of '\(spec.name)' must be \(expected), got \(n)", at: location(name))
        }
        return n
    }
    /// A parameter's value through `extract`; a value it does not take is a type error saying `expected`.
    func typed<T>(_ name: String, _ expected: String, _ extract: (Value) -> T?) throws -> T? {
        guard let v = value(name) else { return nil }
        guard let t = extract(v) else { throw typeError(name, expected, v) }
        return t
    }
    public func string(_ name: String) throws -> String? {
        try typed(name, "a string") { if case .string(let s) = $0 { return s }; return nil }
    }
    public func bool(_ name: String) throws -> Bool? {
        try typed(name, "true or false") { if case .bool(let b) = $0 { return b }; return nil }
    }
    public func list(_ name: String) throws -> [Value]? {
        guard let v = value(name) else { return nil }
        if case .list(let items) = v { return items }
        return [v]
    }
    public func strings(_ name: String) throws -> [String]? {
        try list(name)?.map { v in
            guard case .string(let s) = v else { throw typeError(name, "names or strings", v) }
            return s
        }
    }
    public func table(_ name: String) throws -> Table? {
        try typed(name, "a table") { if case .table(let t) = $0 { return t }; return nil }
    }
    public func run(_ name: String) throws -> RunHandle? {
        try typed(name, "a run (the value of 'train' or 'load')") { if case .run(let r) = $0 { return r }; return nil }
    }
}
