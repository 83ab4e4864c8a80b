// The parser: tokens to statements, by recursive descent. After an error it skips to the next line
// and goes on, so one pass reports every error it can.
//
//   program    = { statement (newline | ";") }
//   statement  = "let" NAME "=" value | NAME "=" value | NAME "+=" expr
//              | "for" NAME "in" expr block | "if" expr block [ "else" (block | if…) ]
//              | COMMAND { argument } | expr
//   value      = COMMAND { argument } | expr
//   argument   = NAME "=" expr | expr
//   block      = "{" { statement } "}"
//   expr       = or;  or = and { "or" and };  and = not { "and" not };  not = "not" not | compare
//   compare    = range [ ("==" | "!=" | "<" | "<=" | ">" | ">=") range ]
//   range      = sum [ ".." sum ];  sum = product { ("+" | "-") product }
//   product    = unary { ("*" | "/" | "%") unary };  unary = "-" unary | postfix
//   postfix    = primary { "." NAME | "[" expr "]" }
//   primary    = NUMBER | STRING | "true" | "false" | NAME [ "(" args ")" ] | "[" list "]"
//              | "{" NAME ":" expr, … "}" | "(" (COMMAND { argument } | expr) ")"
// A statement that starts with a name followed by something that can start an argument is a
// command; a known command name alone is a command; any other lone name is a variable.
// Nesting is bounded: brackets, records, parentheses, calls, blocks and unary operators at most
// `maxDepth` levels, and no expression tree (a long `a + a + …` or `x.a.a…` chain) deeper than that,
// so that no input, however deep, can overflow the stack here or in the evaluator.
import Foundation

public struct Parser {
    let tokens: [Token]
    var position = 0
    let commands: Set<String>
    public private(set) var diagnostics: [Diagnostic] = []
    /// How deep the parser is in nested constructs now.
    var depth = 0
    public static let maxDepth = 256

    public init(tokens: [Token], commands: Set<String>) {
        self.tokens = tokens; self.commands = commands
    }

    /// Parses a whole source; returns the statements and every diagnostic (lexical and syntactic).
    public static func parse(_ source: String, commands: Set<String>) -> (statements: [Stmt], diagnostics: [Diagnostic]) {
        let (tokens, lexical) = Lexer.tokenize(source)
        var parser = Parser(tokens: tokens, commands: commands)
        let statements = parser.parseProgram()
        return (statements, lexical + parser.diagnostics)
    }

    struct Failure: Error { let diagnostic: Diagnostic }

    var current: Token { tokens[position] }
    func peek(_ n: Int = 1) -> Token { tokens[min(position + n, tokens.count - 1)] }
    mutating func advance() -> Token { let t = tokens[position]; if position < tokens.count - 1 { position += 1 }; return t }

    func isSymbol(_ s: TokenKind.Symbol, _ t: Token? = nil) -> Bool { (t ?? current).kind == .symbol(s) }
    func isKeyword(_ k: TokenKind.Keyword) -> Bool { current.kind == .keyword(k) }

    mutating func match(_ s: TokenKind.Symbol) -> Bool {
        if isSymbol(s) { _ = advance(); return true }
        return false
    }

    mutating func expect(_ s: TokenKind.Symbol, _ message: String) throws -> Token {
        if isSymbol(s) { return advance() }
        throw Failure(diagnostic: Diagnostic("\(message), found \(current.kind)", at: current.location))
    }

    mutating func expectName(_ message: String) throws -> (String, SourceLocation) {
        if case .identifier(let n) = current.kind { let t = advance(); return (n, t.location) }
        throw Failure(diagnostic: Diagnostic("\(message), found \(current.kind)", at: current.location))
    }

    /// Enters a nested construct at `location`; call `depth -= 1` (a `defer`) when it ends.
    mutating func enter(_ location: SourceLocation) throws {
        depth += 1
        if depth > Self.maxDepth {
            throw Failure(diagnostic: Diagnostic("nesting deeper than \(Self.maxDepth) levels", at: location, hint: "split the expression with `let`"))
        }
    }

    /// An expression tree that a chain (`a + a + …`, `x.a.a…`) has made too deep.
    func bounded(_ e: Expr) throws -> Expr {
        if e.depth > Self.maxDepth {
            throw Failure(diagnostic: Diagnostic("expression nested deeper than \(Self.maxDepth) levels", at: e.location, hint: "split the expression with `let`"))
        }
        return e
    }

    mutating func skipNewlines() { while current.kind == .newline || isSymbol(.semicolon) { _ = advance() } }

    public mutating func parseProgram() -> [Stmt] {
        var statements: [Stmt] = []
        skipNewlines()
        while current.kind != .end {
            if isSymbol(.rightBrace) {
                diagnostics.append(Diagnostic("unexpected '}' without an open '{'", at: current.location))
                _ = advance(); skipNewlines(); continue
            }
            if let s = statementRecovering() { statements.append(s) }
            skipNewlines()
        }
        return statements
    }

    /// One statement; on error records it and skips to the end of the line.
    mutating func statementRecovering() -> Stmt? {
        do {
            let s = try statement()
            if !(current.kind == .newline || current.kind == .end || isSymbol(.semicolon) || isSymbol(.rightBrace)) {
                throw Failure(diagnostic: Diagnostic("expected the end of the statement, found \(current.kind)", at: current.location))
            }
            return s
        } catch let f as Failure {
            diagnostics.append(f.diagnostic)
            while !(current.kind == .newline || current.kind == .end) { _ = advance() }
            return nil
        } catch { return nil }
    }

    mutating func statement() throws -> Stmt {
        let start = current.location
        if isKeyword(.let) {
            _ = advance()
            let (name, _) = try expectName("expected a variable name after 'let'")
            if commands.contains(name) {
                throw Failure(diagnostic: Diagnostic("cannot name a variable '\(name)': it is a command", at: tokens[position - 1].location,
                                                     hint: "choose another name, e.g. '\(name)_result'"))
            }
            _ = try expect(.equal, "expected '=' after 'let \(name)'")
            return Stmt(kind: .letBinding(name, try value()), location: start)
        }
        if isKeyword(.for) {
            _ = advance()
            let (name, _) = try expectName("expected a loop variable after 'for'")
            guard isKeyword(.in) else { throw Failure(diagnostic: Diagnostic("expected 'in' after 'for \(name)', found \(current.kind)", at: current.location)) }
            _ = advance()
            let sequence = try expression()
            return Stmt(kind: .forLoop(name, sequence, try block("for")), location: start)
        }
        if isKeyword(.if) { return try ifStatement() }
        if case .identifier(let name) = current.kind {
            let next = peek()
            if next.kind == .symbol(.equal) {
                _ = advance(); _ = advance()
                return Stmt(kind: .assign(name, try value()), location: start)
            }
            if next.kind == .symbol(.plusEqual) {
                _ = advance(); _ = advance()
                return Stmt(kind: .append(name, try expression()), location: start)
            }
            if startsCommand() { return Stmt(kind: .command(try command()), location: start) }
        }
        return Stmt(kind: .expression(try expression()), location: start)
    }

    /// Whether the name at the current position begins a command.
    func startsCommand() -> Bool {
        guard case .identifier(let name) = current.kind else { return false }
        let next = peek()
        if commands.contains(name) {
            // a command unless used as a value: `table()` (a call: '(' touching the name) or `x.field`
            let touching = next.location.line == current.location.line && next.location.column == current.location.column + name.unicodeScalars.count
            return !(next.kind == .symbol(.dot) || (next.kind == .symbol(.leftParen) && touching))
        }
        switch next.kind {
        case .identifier, .number, .string, .keyword(.true), .keyword(.false): return true
        case .symbol(.leftBracket):
            // `xs[0]` (touching) indexes a variable, perhaps one an earlier cell defined; `trian [1]` is a call
            let touching = next.location.line == current.location.line && next.location.column == current.location.column + name.unicodeScalars.count
            return !touching
        default: return false
        }
    }

    mutating func command() throws -> CommandCall {
        let nameToken = advance()
        guard case .identifier(let name) = nameToken.kind else { preconditionFailure() }
        if !commands.contains(name) {
            throw Failure(diagnostic: Diagnostic("unknown command '\(name)'", at: nameToken.location,
                                                 hint: Suggestions.didYouMean(name, among: commands.sorted()) ?? "type 'help' for the list of commands"))
        }
        var arguments: [CommandArgument] = []
        while !(current.kind == .newline || current.kind == .end || isSymbol(.semicolon) || isSymbol(.rightBrace) || isSymbol(.rightParen)) {
            if case .identifier(let key) = current.kind, peek().kind == .symbol(.equal) {
                let at = advance().location
                _ = advance()
                arguments.append(CommandArgument(name: key, nameLocation: at, value: try expression()))
            } else {
                let e = try expression()
                arguments.append(CommandArgument(name: nil, nameLocation: e.location, value: e))
            }
        }
        return CommandCall(name: name, location: nameToken.location, arguments: arguments)
    }

    /// The right-hand side of `let` and `=`: a command or an expression.
    mutating func value() throws -> Expr {
        if case .identifier = current.kind, startsCommand() {
            let c = try command()
            return Expr(.command(c), c.location)
        }
        return try expression()
    }

    mutating func ifStatement() throws -> Stmt {
        let start = advance().location
        try enter(start)
        defer { depth -= 1 }
        let condition = try expression()
        let then = try block("if")
        var otherwise: [Stmt]? = nil
        // `else` may follow `}` on the same line or the next
        let save = position
        skipNewlines()
        if isKeyword(.else) {
            _ = advance()
            if isKeyword(.if) { otherwise = [try ifStatement()] } else { otherwise = try block("else") }
        } else {
            position = save
        }
        return Stmt(kind: .ifElse(condition, then, otherwise), location: start)
    }

    mutating func block(_ owner: String) throws -> [Stmt] {
        let open = try expect(.leftBrace, "expected '{' to start the body of '\(owner)'")
        try enter(open.location)
        defer { depth -= 1 }
        var body: [Stmt] = []
        skipNewlines()
        while !isSymbol(.rightBrace) {
            if current.kind == .end {
                throw Failure(diagnostic: Diagnostic("the '{' of this '\(owner)' is never closed", at: open.location, hint: "add '}' after its last statement"))
            }
            if let s = statementRecovering() { body.append(s) }
            skipNewlines()
        }
        _ = advance()
        return body
    }

    // MARK: expressions

    public mutating func expression() throws -> Expr { try or() }

    mutating func or() throws -> Expr {
        var left = try and()
        while isKeyword(.or) { let at = advance().location; left = try bounded(Expr(.binary("or", left, try and()), at)) }
        return left
    }

    mutating func and() throws -> Expr {
        var left = try not()
        while isKeyword(.and) { let at = advance().location; left = try bounded(Expr(.binary("and", left, try not()), at)) }
        return left
    }

    mutating func not() throws -> Expr {
        isKeyword(.not) ? try prefixed("not") { try $0.not() } : try compare()
    }

    /// Items separated by commas (and newlines) up to, not including, `close`; a trailing comma is allowed.
    mutating func commaSeparated<T>(until close: TokenKind.Symbol, _ item: (inout Parser) throws -> T) throws -> [T] {
        var items: [T] = []
        skipNewlines()
        while !isSymbol(close) {
            items.append(try item(&self))
            skipNewlines()
            if !match(.comma) { break }
            skipNewlines()
        }
        return items
    }

    /// A prefix operator (the current token) applied to `operand`, one level deeper.
    mutating func prefixed(_ op: String, _ operand: (inout Parser) throws -> Expr) throws -> Expr {
        let at = advance().location
        try enter(at)
        defer { depth -= 1 }
        return Expr(.unary(op, try operand(&self)), at)
    }

    /// A left-associative level: `next (op next)*` for the operators `symbols`.
    mutating func leftAssociative(_ symbols: [TokenKind.Symbol], _ next: (inout Parser) throws -> Expr) throws -> Expr {
        var left = try next(&self)
        while symbols.contains(where: { isSymbol($0) }) {
            let op = advance()
            left = try bounded(Expr(.binary(op.text, left, try next(&self)), op.location))
        }
        return left
    }

    mutating func compare() throws -> Expr {
        let left = try range()
        for s in [TokenKind.Symbol.equalEqual, .bangEqual, .lessEqual, .greaterEqual, .less, .greater] where isSymbol(s) {
            let at = advance().location
            return try bounded(Expr(.binary(s.rawValue, left, try range()), at))
        }
        return left
    }

    mutating func range() throws -> Expr {
        let left = try sum()
        if isSymbol(.dotDot) { let at = advance().location; return try bounded(Expr(.range(left, try sum()), at)) }
        return left
    }

    mutating func sum() throws -> Expr {
        try leftAssociative([.plus, .minus]) { try $0.product() }
    }

    mutating func product() throws -> Expr {
        try leftAssociative([.star, .slash, .percent]) { try $0.unary() }
    }

    mutating func unary() throws -> Expr {
        isSymbol(.minus) ? try prefixed("-") { try $0.unary() } : try postfix()
    }

    mutating func postfix() throws -> Expr {
        var e = try primary()
        while true {
            if isSymbol(.dot) {
                let at = advance().location
                let (name, _) = try expectName("expected a field name after '.'")
                e = try bounded(Expr(.field(e, name), at))
            } else if isSymbol(.leftBracket) && current.location.column == previousEnd() {
                let at = advance().location
                try enter(at)
                defer { depth -= 1 }
                skipNewlines()
                let i = try expression()
                skipNewlines()
                _ = try expect(.rightBracket, "expected ']' after the index")
                e = try bounded(Expr(.index(e, i), at))
            } else {
                return e
            }
        }
    }

    /// The column just after the previous token (an index `x[0]` must touch its value, so that
    /// `print x [1, 2]` passes two arguments).
    func previousEnd() -> Int {
        guard position > 0 else { return -1 }
        let p = tokens[position - 1]
        return p.location.line == current.location.line ? p.location.column + p.text.unicodeScalars.count : -1
    }

    mutating func primary() throws -> Expr {
        let t = current
        if t.kind == .symbol(.leftBracket) || t.kind == .symbol(.leftBrace) || t.kind == .symbol(.leftParen) {
            try enter(t.location)
        }
        defer { if t.kind == .symbol(.leftBracket) || t.kind == .symbol(.leftBrace) || t.kind == .symbol(.leftParen) { depth -= 1 } }
        switch t.kind {
        case .number(let n): _ = advance(); return Expr(.number(n), t.location)
        case .string(let s): _ = advance(); return Expr(.string(s), t.location)
        case .keyword(.true): _ = advance(); return Expr(.bool(true), t.location)
        case .keyword(.false): _ = advance(); return Expr(.bool(false), t.location)
        case .identifier(let name):
            _ = advance()
            if isSymbol(.leftParen) && current.location.column == t.location.column + name.unicodeScalars.count && current.location.line == t.location.line {
                try enter(current.location)
                defer { depth -= 1 }
                _ = advance()
                let args = try commaSeparated(until: .rightParen) { try $0.expression() }
                _ = try expect(.rightParen, "expected ')' after the arguments of \(name)(…)")
                return try bounded(Expr(.call(name, args), t.location))
            }
            return Expr(.identifier(name), t.location)
        case .symbol(.leftBracket):
            _ = advance()
            let items = try commaSeparated(until: .rightBracket) { try $0.expression() }
            _ = try expect(.rightBracket, "expected ']' to close the list opened at \(t.location)")
            return try bounded(Expr(.list(items), t.location))
        case .symbol(.leftBrace):
            _ = advance()
            let fields = try commaSeparated(until: .rightBrace) { p -> (String, Expr) in
                let key: String
                if case .string(let s) = p.current.kind { key = s; _ = p.advance() } else { key = try p.expectName("expected a field name in the record").0 }
                _ = try p.expect(.colon, "expected ':' after the field name '\(key)'")
                return (key, try p.expression())
            }
            _ = try expect(.rightBrace, "expected '}' to close the record opened at \(t.location)")
            return try bounded(Expr(.record(fields), t.location))
        case .symbol(.leftParen):
            _ = advance()
            skipNewlines()
            let inner: Expr
            if case .identifier(let name) = current.kind, commands.contains(name) {
                let c = try command()
                inner = Expr(.command(c), c.location)
            } else {
                inner = try expression()
            }
            skipNewlines()
            _ = try expect(.rightParen, "expected ')' to close the '(' at \(t.location)")
            return inner
        default:
            throw Failure(diagnostic: Diagnostic("expected a value, found \(t.kind)", at: t.location))
        }
    }
}
