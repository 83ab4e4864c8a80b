// Markdown prose before Ink reads it. Ink tries every `[` as the start of a link and, when that
// fails, tries again from the next one inside it: unclosed or nested brackets take exponential time
// (20 unclosed `[` on a line took 1.2 s, 40 never finished). One linear pass escapes (`\[`) every
// bracket that cannot start a link: one without a matching `]` on its line, or whose `]` is not
// followed by `(` or `[` (or `:` for a reference definition), or nested more than two deep (an image
// inside a link). Likewise a `<` with no `>` before the next `<` on its line becomes `&lt;`. Code
// spans and fenced or indented code are left as they are.
import Foundation

public enum MarkdownGuard {
    /// The deepest nesting of brackets kept as links: `[![alt](image.png)](url)` needs two.
    static let maxLinkNesting = 2

    public static func prepare(_ markdown: String) -> String {
        guard markdown.contains("[") || markdown.contains("<") else { return markdown }
        var out: [String] = []
        var fence: (char: Character, length: Int)? = nil
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " }
            let indent = line.count - trimmed.count
            if let f = fence {
                if indent <= 3, trimmed.prefix(while: { $0 == f.char }).count >= f.length,
                   trimmed.drop(while: { $0 == f.char }).allSatisfy({ $0 == " " }) { fence = nil }
                out.append(String(line)); continue
            }
            if indent <= 3, let c = trimmed.first, c == "`" || c == "~" {
                let n = trimmed.prefix { $0 == c }.count
                if n >= 3 { fence = (c, n); out.append(String(line)); continue }
            }
            if indent >= 4 || line.hasPrefix("\t") { out.append(String(line)); continue }
            out.append(escapeLine(Array(line)))
        }
        return out.joined(separator: "\n")
    }

    static func escapeLine(_ c: [Character]) -> String {
        let inCode = codeSpans(c)
        let keep = linkStarts(c, matching: matchingBrackets(c, inCode: inCode))
        let closesTag = closedTags(c)
        var out = ""
        out.reserveCapacity(c.count + 8)
        for j in c.indices {
            if c[j] == "[" && !inCode[j] && !keep[j] && !(j > 0 && c[j - 1] == "\\") { out += "\\[" }
            else if c[j] == "<" && !inCode[j] && !closesTag[j] { out += "&lt;" }
            else { out.append(c[j]) }
        }
        return out
    }

    /// Which characters are inside code spans (a run of backticks up to the next run of the same length).
    static func codeSpans(_ c: [Character]) -> [Bool] {
        var inCode = [Bool](repeating: false, count: c.count)
        var i = 0
        var runEnds: [Int: [Int]] = [:]   // run length -> start indexes of runs, to find closers in linear time
        var runs: [(start: Int, length: Int)] = []
        while i < c.count {
            if c[i] == "`" {
                let start = i
                while i < c.count && c[i] == "`" { i += 1 }
                runs.append((start, i - start))
                runEnds[i - start, default: []].append(start)
            } else { i += 1 }
        }
        var consumed = Set<Int>()
        var cursor: [Int: Int] = [:]   // per length, how far into runEnds[length] we have looked
        for r in runs where !consumed.contains(r.start) {
            let starts = runEnds[r.length]!
            var p = cursor[r.length] ?? 0
            while p < starts.count && starts[p] <= r.start { p += 1 }
            cursor[r.length] = p
            if p < starts.count {
                let close = starts[p]
                consumed.insert(close)
                cursor[r.length] = p + 1
                for j in r.start..<(close + r.length) { inCode[j] = true }
            }
        }
        return inCode
    }

    /// For each bracket or parenthesis outside code, the index of the one that closes it (-1: none);
    /// an escaped bracket (`\[`) is text already.
    static func matchingBrackets(_ c: [Character], inCode: [Bool]) -> [Int] {
        var match = [Int](repeating: -1, count: c.count)
        var stack: [Int] = [], parens: [Int] = []
        for j in c.indices where !inCode[j] && !(j > 0 && c[j - 1] == "\\") {
            switch c[j] {
            case "[": stack.append(j)
            case "]": if let open = stack.popLast() { match[open] = j }
            case "(": parens.append(j)
            case ")": if let open = parens.popLast() { match[open] = j }
            default: break
            }
        }
        return match
    }

    /// The `[` kept as link starts: only where a link can follow, at a nesting of two or less.
    static func linkStarts(_ c: [Character], matching match: [Int]) -> [Bool] {
        var keep = [Bool](repeating: false, count: c.count)
        var keptUntil: [Int] = []   // the closing positions of the kept brackets enclosing the current one
        for j in c.indices where c[j] == "[" && match[j] >= 0 {
            while let last = keptUntil.last, last < j { keptUntil.removeLast() }
            let close = match[j]
            let next: Character? = close + 1 < c.count ? c[close + 1] : nil
            // `(` must close on the line (Ink would otherwise read to the end of the text for each one)
            let follows = (next == "(" && match[close + 1] >= 0) || next == "[" || (next == ":" && j == c.firstIndex { $0 != " " })
            let reference = j > 0 && c[j - 1] == "]"
            if (follows || reference) && keptUntil.count < maxLinkNesting {
                keep[j] = true
                keptUntil.append(close)
            }
        }
        return keep
    }

    /// A `<` is kept (for raw HTML and autolinks) only where a `>` closes it before the next `<` on
    /// the line; Ink reads every other one to the end of the text.
    static func closedTags(_ c: [Character]) -> [Bool] {
        var closesTag = [Bool](repeating: false, count: c.count)
        var nextGT = -1
        for j in c.indices.reversed() {
            if c[j] == ">" { nextGT = j } else if c[j] == "<" { closesTag[j] = nextGT >= 0; nextGT = -1 }
        }
        return closesTag
    }
}
