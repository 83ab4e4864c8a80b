// The narrow interface to the language: source in, outputs out. The REPL, `lorabook exec` and the
// notebook runner all go through `execute`. A statement that fails changes nothing in the session.
import Foundation

public struct ExecutionResult: Sendable {
    public var outputs: [Output]
    /// Syntax errors (nothing ran) or the runtime error that stopped the run.
    public var diagnostics: [Diagnostic]
    /// True when the diagnostics were found before running (syntax, unknown commands or parameters).
    public var isStatic = false
    public var ok: Bool { diagnostics.isEmpty }
    public var failedClaims: Int { outputs.filter { if case .claim(let c) = $0 { return c.failed }; return false }.count }
    public var inconclusiveClaims: Int { outputs.filter { if case .claim(let c) = $0 { return c.inconclusive }; return false }.count }
}

public final class Interpreter: @unchecked Sendable {
    public let session: Session
    /// The variables as last saved or restored, encoded (what `saveChanges` compares against).
    var savedVariables: [String: Data] = [:]
    /// Where the cell cache's runs are saved and loaded (one archive per folder).
    var archive: RunArchive?

    public init(session: Session = Session()) { self.session = session }

    /// Parses `source` whole (every syntax error is reported, nothing runs if there is one), then runs
    /// its statements in order, stopping at the first runtime error. Locations are shifted so that the
    /// source's first line is `firstLine` (a notebook cell's line in its file).
    public func execute(_ source: String, firstLine: Int = 1) -> ExecutionResult {
        let (statements, problems) = analyze(source, firstLine: firstLine)
        if !problems.isEmpty { return ExecutionResult(outputs: session.takeOutputs(), diagnostics: problems, isStatic: true) }
        let evaluator = Evaluator(session: session)
        session.firstLine = firstLine
        for s in statements {
            let saved = session.state
            do {
                try evaluator.run([s])
            } catch let d as Diagnostic {
                session.state = saved
                return ExecutionResult(outputs: session.takeOutputs(), diagnostics: [shift(d, firstLine)])
            } catch {
                session.state = saved
                return ExecutionResult(outputs: session.takeOutputs(), diagnostics: [Diagnostic("\(error)", at: shift(s.location, firstLine))])
            }
            if session.quitRequested { break }
        }
        return ExecutionResult(outputs: session.takeOutputs(), diagnostics: [])
    }

    /// Loads a model (nil: the default one) as `model PATH` would, with the path as a value, never
    /// as source text: a path holding any character loads. The first problem, or nil.
    public func loadModel(path: String?) -> Diagnostic? {
        let here = SourceLocation(line: 1, column: 1)
        let arguments = path.map { [CommandArgument(name: nil, nameLocation: here, value: Expr(.string($0), here))] } ?? []
        let call = CommandCall(name: "model", location: here, arguments: arguments)
        let saved = session.state
        do {
            _ = try Evaluator(session: session).invoke(call, displayed: false)
            _ = session.takeOutputs()
            return nil
        } catch let d as Diagnostic {
            session.state = saved
            return d
        } catch {
            session.state = saved
            return Diagnostic("\(error)", at: here)
        }
    }

    /// Only parses: every syntax error, unknown command and unknown parameter, without running.
    public func check(_ source: String, firstLine: Int = 1) -> [Diagnostic] {
        analyze(source, firstLine: firstLine).diagnostics
    }

    /// Parses once: the statements, and every problem found without running (in source order).
    func analyze(_ source: String, firstLine: Int) -> (statements: [Stmt], diagnostics: [Diagnostic]) {
        let (statements, syntax) = Parser.parse(source, commands: session.registry.names)
        var found = syntax
        func visit(_ e: Expr) {
            switch e.kind {
            case .command(let c): visit(c)
            case .list(let items): items.forEach(visit)
            case .record(let f): f.forEach { visit($0.1) }
            case .range(let a, let b), .binary(_, let a, let b), .index(let a, let b): visit(a); visit(b)
            case .unary(_, let x), .field(let x, _): visit(x)
            case .call(let name, let args):
                if Builtins.byName[name] == nil { found.append(Builtins.unknown(name, at: e.location)) }
                args.forEach(visit)
            default: break
            }
        }
        func visit(_ c: CommandCall) {
            guard let spec = session.registry[c.name] else { return }
            found += ArgumentBinder.bind(c, to: spec).problems
            for a in c.arguments { visit(a.value) }
        }
        func visit(_ s: Stmt) {
            switch s.kind {
            case .letBinding(_, let e), .assign(_, let e), .append(_, let e), .expression(let e): visit(e)
            case .forLoop(_, let e, let body): visit(e); body.forEach(visit)
            case .ifElse(let c, let t, let o): visit(c); t.forEach(visit); o?.forEach(visit)
            case .command(let c): visit(c)
            }
        }
        statements.forEach(visit)
        let ordered = found.enumerated().sorted { a, b in
            let l = a.element.location ?? SourceLocation(line: .max, column: 0), r = b.element.location ?? SourceLocation(line: .max, column: 0)
            return (l.line, l.column, a.offset) < (r.line, r.column, b.offset)
        }.map(\.element)
        return (statements, ordered.map { shift($0, firstLine) })
    }

    func shift(_ l: SourceLocation, _ firstLine: Int) -> SourceLocation { SourceLocation(line: l.line + firstLine - 1, column: l.column) }
    func shift(_ d: Diagnostic, _ firstLine: Int) -> Diagnostic {
        var d = d
        d.location = d.location.map { shift($0, firstLine) }
        return d
    }

    /// Whether a REPL buffer needs more lines: an open `{`, `[` or `(` (outside strings and comments).
    public static func needsMoreInput(_ buffer: String) -> Bool {
        var depth = 0, inString = false, escaped = false, inComment = false
        for c in buffer {
            if inComment { if c == "\n" { inComment = false }; continue }
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" || c == "\n" { inString = false }
                continue
            }
            switch c {
            case "#": inComment = true
            case "\"": inString = true
            case "{", "[", "(": depth += 1
            case "}", "]", ")": depth -= 1
            default: break
            }
        }
        return depth > 0
    }
}
