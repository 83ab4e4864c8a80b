// The syntax tree. Every node knows where it starts; `dump` prints it with `line:col` for tests.

public struct Expr: Sendable {
    public indirect enum Kind: Sendable {
        case number(Double)
        case string(String)
        case bool(Bool)
        case identifier(String)
        case list([Expr])
        case record([(String, Expr)])
        case range(Expr, Expr)
        case unary(String, Expr)
        case binary(String, Expr, Expr)
        case field(Expr, String)
        case index(Expr, Expr)
        case call(String, [Expr])
        case command(CommandCall)
    }
    public let kind: Kind
    public let location: SourceLocation
    /// The height of this tree (1 for a leaf): the parser refuses trees deeper than
    /// `Parser.maxDepth`, so evaluating, printing or freeing one never overflows the stack.
    public let depth: Int
    public init(_ kind: Kind, _ location: SourceLocation) {
        self.kind = kind; self.location = location
        switch kind {
        case .number, .string, .bool, .identifier: depth = 1
        case .list(let items): depth = 1 + (items.map(\.depth).max() ?? 0)
        case .record(let fields): depth = 1 + (fields.map(\.1.depth).max() ?? 0)
        case .range(let a, let b), .binary(_, let a, let b), .index(let a, let b): depth = 1 + max(a.depth, b.depth)
        case .unary(_, let e), .field(let e, _): depth = 1 + e.depth
        case .call(_, let args): depth = 1 + (args.map(\.depth).max() ?? 0)
        case .command(let c): depth = 1 + (c.arguments.map(\.value.depth).max() ?? 0)
        }
    }
}

public struct CommandArgument: Sendable {
    /// nil for a positional argument.
    public let name: String?
    public let nameLocation: SourceLocation
    public let value: Expr
}

public struct CommandCall: Sendable {
    public let name: String
    public let location: SourceLocation
    public let arguments: [CommandArgument]
}

public struct Stmt: Sendable {
    public indirect enum Kind: Sendable {
        case letBinding(String, Expr)
        case assign(String, Expr)
        /// `x += value`: append to a list or a table.
        case append(String, Expr)
        case forLoop(String, Expr, [Stmt])
        case ifElse(Expr, [Stmt], [Stmt]?)
        case command(CommandCall)
        case expression(Expr)
    }
    public let kind: Kind
    public let location: SourceLocation
}

// MARK: dumps: (node@line:col children…)

extension Expr {
    public var dump: String {
        let at = "@\(location)"
        switch kind {
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? "\(Int(n))\(at)" : "\(n)\(at)"
        case .string(let s): return "\"\(s)\"\(at)"
        case .bool(let b): return "\(b)\(at)"
        case .identifier(let s): return "\(s)\(at)"
        case .list(let items): return "(list\(at)\(items.map { " " + $0.dump }.joined()))"
        case .record(let fields): return "(record\(at)\(fields.map { " \($0.0):\($0.1.dump)" }.joined()))"
        case .range(let a, let b): return "(..\(at) \(a.dump) \(b.dump))"
        case .unary(let op, let e): return "(\(op)\(at) \(e.dump))"
        case .binary(let op, let a, let b): return "(\(op)\(at) \(a.dump) \(b.dump))"
        case .field(let e, let name): return "(.\(name)\(at) \(e.dump))"
        case .index(let e, let i): return "([]\(at) \(e.dump) \(i.dump))"
        case .call(let name, let args): return "(call \(name)\(at)\(args.map { " " + $0.dump }.joined()))"
        case .command(let c): return c.dump
        }
    }
}

extension CommandCall {
    public var dump: String {
        "(command \(name)@\(location)" + arguments.map { a in a.name.map { " \($0)@\(a.nameLocation)=\(a.value.dump)" } ?? " \(a.value.dump)" }.joined() + ")"
    }
}

extension Stmt {
    public var dump: String {
        let at = "@\(location)"
        func block(_ b: [Stmt]) -> String { "{" + b.map { " " + $0.dump }.joined() + " }" }
        switch kind {
        case .letBinding(let n, let e): return "(let \(n)\(at) \(e.dump))"
        case .assign(let n, let e): return "(= \(n)\(at) \(e.dump))"
        case .append(let n, let e): return "(+= \(n)\(at) \(e.dump))"
        case .forLoop(let n, let e, let b): return "(for \(n)\(at) \(e.dump) \(block(b)))"
        case .ifElse(let c, let t, let e): return "(if\(at) \(c.dump) \(block(t))\(e.map { " else " + block($0) } ?? ""))"
        case .command(let c): return c.dump
        case .expression(let e): return e.dump
        }
    }
}
