// An expression written back as source text (claims show what they compared).
extension Expr {
    public var source: String {
        switch kind {
        case .number(let n): return Value.format(n)
        case .string(let s): return "\"\(s)\""
        case .bool(let b): return b ? "true" : "false"
        case .identifier(let s): return s
        case .list(let items): return "[" + items.map(\.source).joined(separator: ", ") + "]"
        case .record(let fields): return "{" + fields.map { "\($0.0): \($0.1.source)" }.joined(separator: ", ") + "}"
        case .range(let a, let b): return "\(a.source)..\(b.source)"
        case .unary(let op, let e): return op == "not" ? "not \(e.source)" : "-\(e.source)"
        case .binary(let op, let a, let b): return "\(a.source) \(op) \(b.source)"
        case .field(let e, let n): return "\(e.source).\(n)"
        case .index(let e, let i): return "\(e.source)[\(i.source)]"
        case .call(let n, let args): return "\(n)(" + args.map(\.source).joined(separator: ", ") + ")"
        case .command(let c): return "(\(c.name)" + c.arguments.map { a in " " + (a.name.map { "\($0)=" } ?? "") + a.value.source }.joined() + ")"
        }
    }
}
