// Tokens of the lorabook language, with where they start.

/// A position in a source: 1-based line and column (columns count Unicode scalars).
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

public enum TokenKind: Equatable, Sendable {
    case number(Double)
    case string(String)
    case identifier(String)
    case keyword(Keyword)
    case symbol(Symbol)
    case newline
    case end

    public enum Keyword: String, Sendable, CaseIterable {
        case `let`, `for`, `in`, `if`, `else`, `true`, `false`, `and`, `or`, `not`
    }

    public enum Symbol: String, Sendable, CaseIterable {
        // longest first, so that the lexer can match greedily
        case dotDot = "..", equalEqual = "==", bangEqual = "!=", lessEqual = "<=", greaterEqual = ">=", plusEqual = "+="
        case leftParen = "(", rightParen = ")", leftBracket = "[", rightBracket = "]", leftBrace = "{", rightBrace = "}"
        case comma = ",", dot = ".", equal = "=", less = "<", greater = ">", plus = "+", minus = "-", star = "*"
        case slash = "/", percent = "%", colon = ":", semicolon = ";"
    }
}

public struct Token: Equatable, Sendable {
    public let kind: TokenKind
    public let location: SourceLocation
    /// The characters as written.
    public let text: String
}

extension TokenKind: CustomStringConvertible {
    public var description: String {
        switch self {
        case .number(let n): return "number \(n)"
        case .string(let s): return "string \"\(s)\""
        case .identifier(let s): return "'\(s)'"
        case .keyword(let k): return "'\(k.rawValue)'"
        case .symbol(let s): return "'\(s.rawValue)'"
        case .newline: return "end of line"
        case .end: return "end of input"
        }
    }
}
