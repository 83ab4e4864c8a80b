// The Kernel's one error type: what went wrong and where, rendered in one place as
//   FILE:LINE:COL: error: message
//     the source line
//           ^
//   hint: …
import Foundation
import Model

public struct Diagnostic: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable { case error, warning }
    public var severity: Severity
    public var message: String
    public var location: SourceLocation?
    public var hint: String?

    public init(_ message: String, at location: SourceLocation? = nil, hint: String? = nil, severity: Severity = .error) {
        self.message = message; self.location = location; self.hint = hint; self.severity = severity
    }

    public var description: String { message }

    /// The full rendering, with the source line and a caret when the location is known.
    public func rendered(file: String, source: String?) -> String {
        var out = ""
        if let l = location { out += "\(file):\(l.line):\(l.column): " } else { out += "\(file): " }
        out += "\(severity.rawValue): \(message)"
        if let l = location, let source {
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            if l.line - 1 < lines.count {
                let line = String(lines[l.line - 1])
                out += "\n    \(line)\n    \(String(repeating: " ", count: max(0, l.column - 1)))^"
            }
        }
        if let hint { out += "\nhint: \(hint)" }
        return out
    }
}

/// Several diagnostics from one pass (the parser recovers and goes on).
/// The one boundary where the Model library's errors become diagnostics: a `ModelError` thrown by
/// `body` is reported at `location` (a command's argument, the command, or nowhere for a file).
public enum ModelBoundary {
    public static func diagnose<T>(at location: SourceLocation? = nil, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ModelError { throw Diagnostic(e.description, at: location) }
    }
}

public struct DiagnosticList: Error, Sendable {
    public var diagnostics: [Diagnostic]
}

public enum Suggestions {
    /// "Did you mean 'x'?" for the closest candidate within a small edit distance.
    public static func didYouMean(_ word: String, among candidates: [String]) -> String? {
        let limit = max(1, min(3, word.count / 3 + 1))
        let best = candidates.map { ($0, distance(word.lowercased(), $0.lowercased())) }.filter { $0.1 <= limit }.min { $0.1 < $1.1 }
        return best.map { "Did you mean '\($0.0)'?" }
    }

    /// Levenshtein distance (with adjacent transpositions counted as one edit).
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}
