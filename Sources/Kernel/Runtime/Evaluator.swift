// The evaluator: runs statements against a session. Expressions evaluate to values; commands bind
// their arguments to their specs (positional in order, key=value by name), evaluate them with the
// parameter's type in mind (a bare name is a symbol where a name is expected), and run.
import Foundation
import Model

public struct Evaluator {
    public let session: Session
    /// Loop nesting while running; inside loops, records (settings, results) are not displayed.
    private let loopDepth = Box(0)
    final class Box { var value: Int; init(_ v: Int) { value = v } }

    public init(session: Session) { self.session = session }

    // MARK: statements

    /// Runs statements; commands standing alone display their results.
    public func run(_ statements: [Stmt]) throws {
        for s in statements {
            if session.abortRequested() { throw Diagnostic("interrupted before this statement ran", at: s.location) }
            try execute(s)
        }
    }

    func execute(_ s: Stmt) throws {
        switch s.kind {
        case .letBinding(let name, let e):
            session.variables[name] = try evaluate(e, displayed: false)
        case .assign(let name, let e):
            guard session.variables[name] != nil else {
                throw Diagnostic("assignment to '\(name)', which is not defined", at: s.location, hint: "define it first with `let \(name) = …`")
            }
            session.variables[name] = try evaluate(e, displayed: false)
        case .append(let name, let e):
            guard let current = session.variables[name] else {
                throw Diagnostic("'\(name)' is not defined", at: s.location, hint: "start it with `let \(name) = table()` or `let \(name) = []`")
            }
            let v = try evaluate(e)
            switch (current, v) {
            case (.unknown, _), (.table, .unknown): session.variables[name] = .unknown   // planning only
            case (.list(let items), _): session.variables[name] = try boundedAppend(items, v, at: e.location)
            case (.table(var t), .record(let r)): t.append(r); session.variables[name] = .table(t)
            case (.table(var t), .table(let other)): for r in other.rows { t.append(r) }; session.variables[name] = .table(t)
            case (.table, _): throw Diagnostic("a table takes records, got \(v.typeName) \(v.literal)", at: e.location, hint: "append a record: `\(name) += {rank: r, accuracy: a}`")
            default: throw Diagnostic("'+=' appends to a list or a table, and '\(name)' is a \(current.typeName)", at: s.location)
            }
        case .forLoop(let name, let seqExpr, let body):
            let seq = try evaluate(seqExpr)
            if case .unknown = seq { return skipUnknown(body, "a `for` loop over a result not trained yet", at: s.location) }
            let items: [Value]
            switch seq {
            case .list(let l): items = l
            case .table(let t): items = t.rows.map { .record($0) }
            default: throw Diagnostic("'for' needs a list, a range or a table, got \(seq.typeName) \(seq.literal)", at: seqExpr.location)
            }
            loopDepth.value += 1
            defer { loopDepth.value -= 1 }
            for item in items {
                session.variables[name] = item
                try run(body)
                if session.quitRequested { return }
            }
        case .ifElse(let c, let then, let otherwise):
            let v = try evaluate(c)
            if case .unknown = v { return skipUnknown(then + (otherwise ?? []), "an `if` on a result not trained yet", at: s.location) }
            guard case .bool(let b) = v else { throw Diagnostic("'if' needs true or false, got \(v.typeName) \(v.literal)", at: c.location) }
            if b { try run(then) } else if let otherwise { try run(otherwise) }
        case .command(let call):
            let v = try invoke(call, displayed: true)
            show(v, command: call.name)
        case .expression(let e):
            show(try evaluate(e), command: nil)
        }
    }

    /// While planning, a branch or loop that depends on a result not trained yet is skipped: the
    /// variables it would set become unknown, and when it would train or change a setting the plan
    /// is only a round (after its jobs ran, the value is known and the next round plans the rest).
    func skipUnknown(_ body: [Stmt], _ what: String, at location: SourceLocation) {
        var trains = false
        var settings: Set<String> = []
        func visit(_ statements: [Stmt]) {
            for s in statements {
                switch s.kind {
                case .letBinding(let name, let e), .assign(let name, let e), .append(let name, let e):
                    session.variables[name] = .unknown; visit(e)
                case .expression(let e): visit(e)
                case .command(let c): visit(c)
                case .forLoop(let name, let e, let b): session.variables[name] = .unknown; visit(e); visit(b)
                case .ifElse(let e, let a, let b): visit(e); visit(a); visit(b ?? [])
                }
            }
        }
        func visit(_ c: CommandCall) {
            if let spec = session.registry[c.name], Self.changesTraining(spec) {
                if let part = Self.setting(spec) { settings.insert(part) } else { trains = true }
            }
            for a in c.arguments { visit(a.value) }
        }
        func visit(_ e: Expr) {
            switch e.kind {
            case .command(let c): visit(c)
            case .list(let items): items.forEach(visit)
            case .record(let fields): fields.forEach { visit($0.1) }
            case .binary(_, let a, let b), .range(let a, let b), .index(let a, let b): visit(a); visit(b)
            case .unary(_, let a), .field(let a, _): visit(a)
            case .call(_, let args): args.forEach(visit)
            default: break
            }
        }
        visit(body)
        let reason = "\(what) (line \(location.line + session.firstLine - 1))"
        for part in settings { session.planner?.unknownSetting(part, reason) }
        if trains { session.planner?.needsRound(reason) }
    }

    /// Which part of the session a command sets (nil: it trains or loads, and sets none).
    static func setting(_ spec: CommandSpec) -> String? {
        switch spec.group {
        case "adaptation": return "adaptation"
        case "setup": return spec.name == "seed" ? "seed" : "setup"
        default: return nil
        }
    }

    /// Commands that train or change what a later training does (setup, adaptation, train, load).
    static func changesTraining(_ spec: CommandSpec) -> Bool {
        ["setup", "adaptation", "training"].contains(spec.group) && !["eval", "ensemble", "report", "spectrum"].contains(spec.name)
    }

    /// Shows a statement's value: text for plain values, structured outputs for the rest.
    func show(_ v: Value, command: String?) {
        if loopDepth.value > 0, case .record = v { return }
        if loopDepth.value > 0, case .run = v { return }
        switch v {
        case .none: return
        case .table(let t): session.emit(.table(t))
        case .chart(let c): session.emit(.chart(c))
        case .claim, .unknown: return   // `expect` already recorded it; an unknown shows nothing
        case .record(let r): session.emit(.metrics(command ?? "value", r))
        case .run(let r): session.emit(.metrics("run \(r.name)", r.record))
        default: session.emit(.text(v.text))
        }
    }

    // MARK: commands

    func invoke(_ call: CommandCall, displayed: Bool) throws -> Value {
        guard let spec = session.registry[call.name] else {
            throw Diagnostic("unknown command '\(call.name)'", at: call.location,
                             hint: Suggestions.didYouMean(call.name, among: session.registry.order) ?? "type 'help' for the list of commands")
        }
        let (bindings, problems) = ArgumentBinder.bind(call, to: spec)
        if let first = problems.first { throw first }
        var values: [String: (Value, SourceLocation)] = [:]
        var predicates: [String: Expr] = [:]
        var variadic: [Value] = []
        for b in bindings {
            let param = b.parameter, arg = b.argument
            if param.type == .predicate { predicates[param.name] = arg.value; continue }
            let v = try evaluate(arg.value, expecting: param.type)
            if session.planner == nil || !v.dependsOnUnknown { try check(v, param.type, param: param.name, command: spec.name, at: arg.value.location) }
            if b.variadic {
                variadic.append(v)
                values[param.name] = (.list(variadic), arg.value.location)
            } else {
                values[param.name] = (v, arg.value.location)
            }
        }
        // While planning, a command given something not known yet (or the last run, a placeholder)
        // does not run: its result is unknown. One that would change the session's settings or
        // train makes the plan a round (what follows it cannot be planned for sure).
        if session.planner != nil {
            let usesLastRun = spec.parameters.contains { ($0.type == .run || $0.type == .list(.run)) && values[$0.name] == nil } && session.lastRun?.planned == true
            if usesLastRun || (spec.name != "table" && values.values.contains(where: { $0.0.dependsOnUnknown })) {
                if Self.changesTraining(spec) {
                    let reason = "'\(spec.name)' with a result not trained yet (line \(call.location.line + session.firstLine - 1))"
                    if let part = Self.setting(spec) { session.planner?.unknownSetting(part, reason) } else { session.planner?.needsRound(reason) }
                }
                return .unknown
            }
        }
        let invocation = Invocation(spec: spec, call: call, session: session, displayed: displayed, values: values, predicates: predicates)
        let result = try invocation.at { try spec.run(invocation) }
        // while planning, a setting applied with known values is known again (model and data are not: they never reset everything)
        if let part = Self.setting(spec), part != "setup" { session.planner?.knownSetting(part) }
        return result
    }

    /// Type check against a parameter; lists of one type accept a single value.
    func check(_ v: Value, _ type: ParameterType, param: String, command: String, at location: SourceLocation) throws {
        func fail(_ expected: String) -> Diagnostic {
            Diagnostic("parameter '\(param)' of '\(command)' expects \(expected), got \(v.typeName) \(v.literal)", at: location)
        }
        switch (type, v) {
        case (.any, _), (.predicate, _): return
        case (.number, .number), (.string, .string), (.bool, .bool), (.table, .table), (.run, .run), (.name, .string), (.column, .string): return
        case (.integer, .number(let n)):
            if n != n.rounded() { throw fail("an integer") }
        case (.choice(let options), .string(let s)):
            if !options.contains(s) {
                throw Diagnostic("parameter '\(param)' of '\(command)' expects one of \(options.joined(separator: ", ")), got '\(s)'", at: location,
                                 hint: Suggestions.didYouMean(s, among: options))
            }
        case (.list(let element), .list(let items)):
            for item in items { try check(item, element, param: param, command: command, at: location) }
        case (.list(let element), _):
            try check(v, element, param: param, command: command, at: location)
        default:
            let expected: String
            switch type {
            case .integer: expected = "an integer"
            case .number: expected = "a number"
            case .bool: expected = "true or false"
            case .choice(let o): expected = "one of \(o.joined(separator: ", "))"
            case .name, .string, .column: expected = "a name or a string"
            case .table: expected = "a table"
            case .run: expected = "a run (the value of 'train' or 'load')"
            default: expected = "\(type)"
            }
            throw fail(expected)
        }
    }

    // MARK: expressions

    public func evaluate(_ e: Expr, expecting type: ParameterType? = nil, displayed: Bool = false) throws -> Value {
        switch e.kind {
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .identifier(let name):
            return try identifier(name, expecting: type, at: e.location)
        case .list(let items):
            let element: ParameterType? = { if case .list(let t)? = type { return t }; return type }()
            return try boundedNesting(.list(try items.map { try evaluate($0, expecting: element) }), at: e.location)
        case .record(let fields):
            return try boundedNesting(.record(Record(try fields.map { ($0.0, try evaluate($0.1)) })), at: e.location)
        case .range(let a, let b):
            let lo = try integerValue(a), hi = try integerValue(b)
            guard hi >= lo else { return .list([]) }
            guard hi - lo <= 1_000_000 else { throw Diagnostic("range \(lo)..\(hi) is too long (at most a million items)", at: e.location) }
            return .list((lo...hi).map { .number(Double($0)) })
        case .unary(let op, let x):
            let v = try evaluate(x)
            switch (op, v) {
            case (_, .unknown): return .unknown
            case ("-", .number(let n)): return .number(-n)
            case ("not", .bool(let b)): return .bool(!b)
            default: throw Diagnostic("'\(op)' needs \(op == "-" ? "a number" : "true or false"), got \(v.typeName) \(v.literal)", at: e.location)
            }
        case .binary(let op, let a, let b):
            return try binary(op, a, b, at: e.location)
        case .field(let x, let name):
            let v = try evaluate(x)
            return try field(v, name, at: e.location)
        case .index(let x, let i):
            return try index(try evaluate(x), try evaluate(i), at: e.location)
        case .call(let name, let args):
            let values = try args.map { try evaluate($0) }
            // len, column and table do not look at the values themselves (a table's length is known
            // while its accuracies are not); every other function's result depends on them
            if values.contains(where: { $0 == .unknown }) || (!["len", "column", "table"].contains(name) && values.contains(where: { $0.dependsOnUnknown })) {
                return .unknown
            }
            return try Builtins.call(name, values, at: e.location)
        case .command(let c):
            return try invoke(c, displayed: displayed)
        }
    }

    /// A name: a column's or a choice's word taken literally before any variable, then a variable,
    /// then (where the parameter accepts one) the name itself.
    func identifier(_ name: String, expecting type: ParameterType?, at location: SourceLocation) throws -> Value {
        switch type {
        case .column?, .list(.column)?: return .string(name)
        case .choice(let options)?, .list(.choice(let options))? where options.contains(name): return .string(name)
        default: break
        }
        if let v = session.variables[name] { return v }
        if let type, type.acceptsSymbol { return .string(name) }
        if session.registry[name] != nil {
            throw Diagnostic("'\(name)' is a command, not a value", at: location, hint: "to use its result write `(\(name) …)` or `let x = \(name) …`")
        }
        throw Diagnostic("unknown variable '\(name)'", at: location,
                         hint: Suggestions.didYouMean(name, among: Array(session.variables.keys)) ?? (type == nil ? nil : "a name here must be a variable; quote text: \"\(name)\""))
    }

    /// `x[i]`: a list's item, a table's row, a record's field.
    func index(_ v: Value, _ iv: Value, at location: SourceLocation) throws -> Value {
        switch (v, iv) {
        case (.unknown, _), (_, .unknown): return .unknown
        case (.list(let items), .number(let n)):
            guard let k = Self.position(n, count: items.count) else { throw Diagnostic("index \(Value.format(n)) is out of range for a list of \(items.count)", at: location) }
            return items[k]
        case (.table(let t), .number(let n)):
            guard let k = Self.position(n, count: t.rows.count) else { throw Diagnostic("row \(Value.format(n)) is out of range for a table of \(t.rows.count) rows", at: location) }
            return .record(t.rows[k])
        case (.record, .string(let s)): return try field(v, s, at: location)
        default: throw Diagnostic("cannot index a \(v.typeName) with a \(iv.typeName)", at: location)
        }
    }

    /// A list position from an index (negative counts from the end); nil unless it is a whole number
    /// inside the list (checked before any conversion, so 1e300 or NaN is an error, not a trap).
    static func position(_ n: Double, count: Int) -> Int? {
        guard n == n.rounded(), abs(n) <= Double(count) else { return nil }
        let k = n < 0 ? count + Int(n) : Int(n)
        return k >= 0 && k < count ? k : nil
    }

    /// Lists and records nest at most this deep (as the parser bounds source nesting), so that
    /// printing, storing or freeing a value never overflows the stack: `x = [x]` in a loop stops
    /// here. A value that a walk would meet more than `maxValueElements` times (`x += x` in a loop
    /// doubles it each time) is refused too, before printing it could hang.
    public static let maxValueDepth = 256, maxValueElements = 4_000_000

    func boundedNesting(_ v: Value, at location: SourceLocation) throws -> Value {
        var budget = Self.maxValueElements
        if v.nestingExceeds(Self.maxValueDepth, budget: &budget) {
            if budget < 0 {
                throw Diagnostic("a value with more than \(Self.maxValueElements) elements (counting shared parts each time they appear)", at: location)
            }
            throw Diagnostic("a value nested deeper than \(Self.maxValueDepth) levels", at: location, hint: "lists and records nest at most \(Self.maxValueDepth) deep")
        }
        return v
    }

    /// `list += v`: the list is bounded already, so only `v` one level down is walked.
    func boundedAppend(_ items: [Value], _ v: Value, at location: SourceLocation) throws -> Value {
        _ = try boundedNesting(.list([v]), at: location)
        return .list(items + [v])
    }

    func integerValue(_ e: Expr) throws -> Int {
        let v = try evaluate(e)
        guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e15 else {
            throw Diagnostic("a range needs integers, got \(v.typeName) \(v.literal)", at: e.location)
        }
        return Int(n)
    }

    func field(_ v: Value, _ name: String, at location: SourceLocation) throws -> Value {
        let record: Record
        switch v {
        case .unknown: return .unknown
        case .record(let r): record = r
        case .run(let r): record = r.record
        case .claim(let c): record = Record([("label", .string(c.label)), ("passed", .bool(c.passed))] + c.values)
        case .table(let t):
            if name == "rows" { return .number(Double(t.rows.count)) }
            if t.columns.contains(name) { return .list(t.column(name)) }
            throw Diagnostic("the table has no column '\(name)'", at: location, hint: Suggestions.didYouMean(name, among: t.columns) ?? "its columns: \(t.columns.joined(separator: ", "))")
        default:
            throw Diagnostic("a \(v.typeName) has no fields (reading '.\(name)')", at: location)
        }
        if let f = record[name] { return f }
        throw Diagnostic("no field '\(name)' in this \(v.typeName)", at: location,
                         hint: Suggestions.didYouMean(name, among: record.names) ?? "its fields: \(record.names.joined(separator: ", "))")
    }

    func binary(_ op: String, _ a: Expr, _ b: Expr, at location: SourceLocation) throws -> Value {
        if op == "and" || op == "or" {
            let x = try evaluate(a)
            if case .unknown = x { return .unknown }
            guard case .bool(let l) = x else { throw Diagnostic("'\(op)' needs true or false, got \(x.typeName) \(x.literal)", at: a.location) }
            if op == "and" && !l { return .bool(false) }
            if op == "or" && l { return .bool(true) }
            let y = try evaluate(b)
            if case .unknown = y { return .unknown }
            guard case .bool(let r) = y else { throw Diagnostic("'\(op)' needs true or false, got \(y.typeName) \(y.literal)", at: b.location) }
            return .bool(r)
        }
        let x = try evaluate(a), y = try evaluate(b)
        if x.dependsOnUnknown || y.dependsOnUnknown { return .unknown }
        switch (op, x, y) {
        case ("==", _, _): return .bool(x == y)
        case ("!=", _, _): return .bool(x != y)
        case (_, .number(let l), .number(let r)):
            switch op {
            case "+": return .number(l + r)
            case "-": return .number(l - r)
            case "*": return .number(l * r)
            case "/":
                guard r != 0 else { throw Diagnostic("division by zero", at: location) }
                return .number(l / r)
            case "%":
                guard r != 0 else { throw Diagnostic("division by zero", at: location) }
                return .number(l.truncatingRemainder(dividingBy: r))
            case "<": return .bool(l < r)
            case "<=": return .bool(l <= r)
            case ">": return .bool(l > r)
            case ">=": return .bool(l >= r)
            default: break
            }
        case ("+", .string(let l), _): return .string(l + y.text)
        case ("+", _, .string(let r)): return .string(x.text + r)
        case ("+", .list(let l), .list(let r)): return .list(l + r)
        case (_, .string(let l), .string(let r)) where ["<", "<=", ">", ">="].contains(op):
            return .bool(op == "<" ? l < r : op == "<=" ? l <= r : op == ">" ? l > r : l >= r)
        default: break
        }
        throw Diagnostic("'\(op)' cannot combine a \(x.typeName) and a \(y.typeName) (\(x.literal) \(op) \(y.literal))", at: location)
    }
}
