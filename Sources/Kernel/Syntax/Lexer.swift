// The lexer: source text to tokens. Comments run from `#` to the end of the line; newlines end
// statements, except inside (), [] and after an operator that needs a right-hand side.
// Identifiers may hold inner hyphens between letters (`all-linear`); write `a - b` with spaces.
import Foundation

public struct Lexer {
    let scalars: [Unicode.Scalar]
    var index = 0
    var line = 1, column = 1
    var tokens: [Token] = []
    var diagnostics: [Diagnostic] = []

    public init(_ source: String) { scalars = Array(source.unicodeScalars) }

    /// All tokens (ending with .end) and the lexical errors found (the lexer skips bad characters).
    public static func tokenize(_ source: String) -> (tokens: [Token], diagnostics: [Diagnostic]) {
        var lexer = Lexer(source)
        lexer.run()
        return (lexer.tokens, lexer.diagnostics)
    }

    func peek(_ offset: Int = 0) -> Unicode.Scalar? { index + offset < scalars.count ? scalars[index + offset] : nil }

    mutating func advance() -> Unicode.Scalar {
        let c = scalars[index]
        index += 1
        if c == "\n" { line += 1; column = 1 } else { column += 1 }
        return c
    }

    static func isLetter(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic }
    static func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }

    mutating func run() {
        while let c = peek() {
            let start = SourceLocation(line: line, column: column)
            let from = index
            func add(_ kind: TokenKind) { tokens.append(Token(kind: kind, location: start, text: String(String.UnicodeScalarView(scalars[from..<index])))) }
            switch c {
            case " ", "\t", "\r":
                _ = advance()
            case "\n":
                _ = advance(); add(.newline)
            case "#":
                while let n = peek(), n != "\n" { _ = advance() }
            case "\"":
                _ = advance()
                var value = String.UnicodeScalarView()
                var closed = false
                while let n = peek(), n != "\n" {
                    _ = advance()
                    if n == "\"" { closed = true; break }
                    if n == "\\" {
                        guard let e = peek(), e != "\n" else { break }
                        _ = advance()
                        switch e {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "\"": value.append("\"")
                        case "\\": value.append("\\")
                        default:
                            diagnostics.append(Diagnostic("unknown escape '\\\(e)' in a string", at: SourceLocation(line: line, column: column - 2),
                                                          hint: "use \\n, \\t, \\\" or \\\\"))
                        }
                        continue
                    }
                    value.append(n)
                }
                if !closed { diagnostics.append(Diagnostic("unterminated string", at: start, hint: "close it with '\"' on the same line")) }
                add(.string(String(value)))
            case _ where Self.isDigit(c):
                while let n = peek(), Self.isDigit(n) { _ = advance() }
                if peek() == ".", let n = peek(1), Self.isDigit(n) {
                    _ = advance()
                    while let n = peek(), Self.isDigit(n) { _ = advance() }
                }
                if let e = peek(), e == "e" || e == "E" {
                    let sign = peek(1) == "-" || peek(1) == "+" ? 1 : 0
                    if let d = peek(1 + sign), Self.isDigit(d) {
                        _ = advance(); if sign == 1 { _ = advance() }
                        while let n = peek(), Self.isDigit(n) { _ = advance() }
                    }
                }
                let text = String(String.UnicodeScalarView(scalars[from..<index]))
                add(.number(Double(text) ?? 0))
            case _ where Self.isLetter(c):
                while let n = peek(), Self.isLetter(n) || Self.isDigit(n) || (n == "-" && peek(1).map(Self.isLetter) == true) {
                    _ = advance()
                }
                let text = String(String.UnicodeScalarView(scalars[from..<index]))
                if let k = TokenKind.Keyword(rawValue: text) { add(.keyword(k)) } else { add(.identifier(text)) }
            default:
                var matched = false
                for s in TokenKind.Symbol.allCases {
                    let u = Array(s.rawValue.unicodeScalars)
                    if index + u.count <= scalars.count && Array(scalars[index..<index + u.count]) == u {
                        for _ in u { _ = advance() }
                        add(.symbol(s))
                        matched = true
                        break
                    }
                }
                if !matched {
                    _ = advance()
                    diagnostics.append(Diagnostic("unexpected character '\(c)'", at: start))
                }
            }
        }
        tokens.append(Token(kind: .end, location: SourceLocation(line: line, column: column), text: ""))
    }
}
