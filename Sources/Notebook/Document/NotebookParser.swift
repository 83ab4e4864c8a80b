// Parsing a notebook file: front matter (YAML between `---` lines at the top), Markdown blocks, and
// cells (fences whose info string starts with `lorabook`). Errors name the file, line and column;
// unknown front-matter keys and cell options are warnings (lenient import), not errors.
import Foundation
import Kernel
import Yams

public enum NotebookParser {
    public static func load(_ url: URL) throws -> NotebookDocument {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw NotebookError.invalid(path: url.path, Diagnostic("no such notebook file", hint: "check the path; notebooks are Markdown files such as notebooks/quickstart.md"))
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw NotebookError.invalid(path: url.path, Diagnostic("the notebook cannot be read", hint: "is it a readable file?"))
        }
        return try parse(try text(data, path: url.path), path: url.path)
    }

    /// A file's bytes as UTF-8 text; invalid UTF-8 is an error at the line, column and byte offset
    /// of the first bad byte.
    public static func text(_ data: Data, path: String) throws -> String {
        if let s = String(data: data, encoding: .utf8) { return s }
        let bytes = [UInt8](data)
        var i = 0, line = 1, lineStart = 0
        while i < bytes.count {
            let b = bytes[i]
            let n = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            var ok = n > 0 && i + n <= bytes.count && (1..<max(n, 1)).allSatisfy { bytes[i + $0] >> 6 == 0b10 }
            if ok && n > 1 { ok = String(bytes: bytes[i..<i + n], encoding: .utf8) != nil }   // overlong forms, surrogates
            if !ok {
                let column = (String(bytes: bytes[lineStart..<i], encoding: .utf8)?.unicodeScalars.count ?? (i - lineStart)) + 1
                throw NotebookError.invalid(path: path, Diagnostic(String(format: "invalid UTF-8: byte 0x%02X at byte offset %d", b, i), at: SourceLocation(line: line, column: column),
                                                                 hint: "save the file as UTF-8"))
            }
            if b == UInt8(ascii: "\n") { line += 1; lineStart = i + 1 }
            i += n
        }
        throw NotebookError.invalid(path: path, Diagnostic("the file cannot be read as UTF-8 text"))
    }

    public static func parse(_ text: String, path: String) throws -> NotebookDocument {
        let lines = text.components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        var warnings: [Diagnostic] = []
        var front = FrontMatter()
        var i = 0
        if lines.first == "---" {
            guard let end = lines.indices.dropFirst().first(where: { lines[$0] == "---" || lines[$0] == "..." }) else {
                throw NotebookError.invalid(path: path, Diagnostic("the front matter opened here is never closed", at: SourceLocation(line: 1, column: 1),
                                                                 hint: "end it with a line holding only ---"))
            }
            front = try frontMatter(lines[1..<end].joined(separator: "\n"), firstLine: 2, path: path, warnings: &warnings)
            i = end + 1
        }
        var blocks: [Block] = []
        var markdown: [String] = [], markdownLine = i + 1
        func flush() {
            if !markdown.joined().trimmingCharacters(in: .whitespaces).isEmpty { blocks.append(.markdown(markdown.joined(separator: "\n"), line: markdownLine)) }
            markdown = []
        }
        var cellIndex = 0
        while i < lines.count {
            let line = lines[i]
            if let fence = openingFence(line) {
                // find the closing fence: same character, at least as long, nothing else on the line
                var j = i + 1
                while j < lines.count && !closes(lines[j], fence) { j += 1 }
                guard j < lines.count else {
                    throw NotebookError.invalid(path: path, Diagnostic("the code fence opened here is never closed", at: SourceLocation(line: i + 1, column: fence.indent + 1),
                                                                     hint: "close it with a line of \(String(repeating: fence.char, count: fence.length))"))
                }
                let info = fence.info.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                if info.first == "lorabook" {
                    flush()
                    let options = cellOptions(Array(info.dropFirst()), line: i + 1, path: path, warnings: &warnings)
                    blocks.append(.cell(Cell(index: cellIndex, source: lines[(i + 1)..<j].joined(separator: "\n"), line: i + 2, options: options)))
                    cellIndex += 1
                    markdownLine = j + 2
                } else {
                    if markdown.isEmpty { markdownLine = i + 1 }
                    markdown.append(contentsOf: lines[i...j])
                }
                i = j + 1
                continue
            }
            if markdown.isEmpty { markdownLine = i + 1 }
            markdown.append(line)
            i += 1
        }
        flush()
        var ids = Set<String>()
        for case .cell(let c) in blocks {
            if !ids.insert(c.anchor).inserted {
                throw NotebookError.invalid(path: path, Diagnostic("two cells have the id '\(c.anchor)'", at: SourceLocation(line: c.line - 1, column: 1)))
            }
        }
        return NotebookDocument(path: path, source: text, frontMatter: front, blocks: blocks, warnings: warnings)
    }

    struct Fence { let char: Character; let length: Int; let indent: Int; let info: String }

    static func openingFence(_ line: String) -> Fence? {
        let indent = line.prefix { $0 == " " }.count
        guard indent <= 3 else { return nil }
        let rest = line.dropFirst(indent)
        guard let c = rest.first, c == "`" || c == "~" else { return nil }
        let length = rest.prefix { $0 == c }.count
        guard length >= 3 else { return nil }
        let info = rest.dropFirst(length).trimmingCharacters(in: .whitespaces)
        if c == "`" && info.contains("`") { return nil }
        return Fence(char: c, length: length, indent: indent, info: info)
    }

    static func closes(_ line: String, _ f: Fence) -> Bool {
        let t = line.trimmingCharacters(in: .whitespaces)
        return t.count >= f.length && t.allSatisfy { $0 == f.char } && line.prefix { $0 == " " }.count <= 3
    }

    static func cellOptions(_ words: [String], line: Int, path: String, warnings: inout [Diagnostic]) -> CellOptions {
        var o = CellOptions()
        for w in words {
            let parts = w.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = parts.first ?? "", value = parts.count > 1 ? parts[1] : "true"
            func bool() -> Bool? { value == "true" ? true : value == "false" ? false : nil }
            switch key {
            case "id":
                if !value.isEmpty && value.count <= 64 && value.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") }) {
                    o.id = value
                } else {
                    warnings.append(bad(key, value, line, "1 to 64 letters, digits, '-' and '_'"))
                }
            case "echo": if let b = bool() { o.echo = b } else { warnings.append(bad(key, value, line, "true or false")) }
            case "cache": if let b = bool() { o.cache = b } else { warnings.append(bad(key, value, line, "true or false")) }
            case "output": if let b = bool() { o.hideOutput = !b } else { warnings.append(bad(key, value, line, "true or false")) }
            case "expect-error": if let b = bool() { o.expectError = b } else { warnings.append(bad(key, value, line, "true or false")) }
            case "timeout":
                if let t = Double(value), t > 0 { o.timeout = t } else { warnings.append(bad(key, value, line, "a number of seconds")) }
            default:
                warnings.append(Diagnostic("unknown cell option '\(key)' (ignored)", at: SourceLocation(line: line, column: 1),
                                           hint: Suggestions.didYouMean(key, among: CellOptions.names) ?? "options: \(CellOptions.names.joined(separator: ", "))",
                                           severity: .warning))
            }
        }
        return o
    }

    static func bad(_ key: String, _ value: String, _ line: Int, _ expected: String) -> Diagnostic {
        Diagnostic("cell option \(key)=\(value) is not valid (expected \(expected)); ignored", at: SourceLocation(line: line, column: 1), severity: .warning)
    }

    static let frontMatterKeys = ["title", "author", "params", "seed", "model", "data", "date", "description", "raw_html"]

    static func frontMatter(_ yaml: String, firstLine: Int, path: String, warnings: inout [Diagnostic]) throws -> FrontMatter {
        if let problem = yamlBounds(yaml) {
            throw NotebookError.invalid(path: path, Diagnostic("invalid front matter: \(problem.message)", at: SourceLocation(line: firstLine + problem.line - 1, column: problem.column),
                                                             hint: "front matter holds a few settings: title, params, seed, …"))
        }
        let object = try yamlObject(yaml, firstLine: firstLine, path: path)
        guard let map = object as? [String: Any] else {
            if object == nil { return FrontMatter() }
            throw NotebookError.invalid(path: path, Diagnostic("invalid front matter: expected key: value lines", at: SourceLocation(line: firstLine, column: 1)))
        }
        func lineOf(_ key: String) -> Int {
            let lines = yaml.components(separatedBy: "\n")
            return firstLine + (lines.firstIndex { $0.hasPrefix(key + ":") } ?? 0)
        }
        var f = FrontMatter()
        f.title = map["title"].map { "\($0)" }
        f.author = map["author"].map { "\($0)" }
        f.model = map["model"].map { "\($0)" }
        f.data = map["data"].map { "\($0)" }
        if let r = map["raw_html"] {
            guard let b = r as? Bool else {
                throw NotebookError.invalid(path: path, Diagnostic("invalid front matter: raw_html must be true or false, got \(r)", at: SourceLocation(line: lineOf("raw_html"), column: 1)))
            }
            f.rawHTML = b
        }
        if let s = map["seed"] {
            guard let n = s as? Int, n >= 0 else {
                throw NotebookError.invalid(path: path, Diagnostic("invalid front matter: seed must be a non-negative integer, got \(s)", at: SourceLocation(line: lineOf("seed"), column: 1)))
            }
            f.seed = n
        }
        if let p = map["params"] {
            guard let params = p as? [String: Any] else {
                throw NotebookError.invalid(path: path, Diagnostic("invalid front matter: params must map names to default values", at: SourceLocation(line: lineOf("params"), column: 1)))
            }
            // keep the order in which they are written
            let order = orderedKeys(yaml, under: "params")
            for key in order + params.keys.sorted() where !(f.parameters.contains { $0.0 == key }) {
                if let v = params[key] { f.parameters.append((key, value(v))) }
            }
        }
        for key in map.keys.sorted() where !frontMatterKeys.contains(key) {
            warnings.append(Diagnostic("unknown front-matter key '\(key)' (ignored)", at: SourceLocation(line: lineOf(key), column: 1),
                                       hint: Suggestions.didYouMean(key, among: frontMatterKeys), severity: .warning))
        }
        return f
    }

    /// The front matter's YAML as plain values; a problem is located in the notebook's file.
    static func yamlObject(_ yaml: String, firstLine: Int, path: String) throws -> Any? {
        do {
            // composed to nodes and converted here: Yams.load's constructor traps on a tagged or
            // non-text key (found by the notebook fuzzer)
            return try Yams.compose(yaml: yaml).map(plainValue)
        } catch let problem as FrontMatterProblem {
            throw NotebookError.invalid(path: path, Diagnostic("invalid front matter: \(problem.message)", at: SourceLocation(line: firstLine + problem.line - 1, column: problem.column)))
        } catch let e as YamlError {
            var location = SourceLocation(line: firstLine, column: 1)
            var message = "\(e)"
            switch e {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
                location = SourceLocation(line: firstLine + mark.line - 1, column: mark.column)
                message = problem
            default: break
            }
            throw NotebookError.invalid(path: path, Diagnostic("invalid front matter: \(message)", at: location, hint: "the front matter is YAML between two --- lines"))
        }
    }

    struct FrontMatterProblem: Error { let message: String; let line: Int; let column: Int }

    /// A YAML node as plain values (Bool, Int, Double, String, nil, arrays, string-keyed
    /// dictionaries), by the tag the resolver gave it; any other tag's scalar is its text.
    static func plainValue(_ node: Node) throws -> Any? {
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.description) {
            case .null: return nil
            case .bool: return node.bool ?? scalar.string
            case .int: return node.int ?? node.float ?? scalar.string
            case .float: return node.float ?? scalar.string
            default: return scalar.string
            }
        case .sequence(let items):
            return try items.map { try plainValue($0) as Any }
        case .mapping(let pairs):
            var dict: [String: Any] = [:]
            for (key, value) in pairs {
                guard case .scalar(let k) = key else {
                    let mark = key.mark
                    throw FrontMatterProblem(message: "a key must be text", line: mark.map { $0.line } ?? 1, column: mark.map { $0.column } ?? 1)
                }
                dict[k.string] = try plainValue(value) ?? NSNull()
            }
            return dict
        }
    }

    /// Limits checked before the YAML reader sees the text, which is recursive in nesting and expands
    /// aliases (a 700-byte "billion laughs" grew to gigabytes): at most 64 KiB, flow collections
    /// (`[`, `{`) nested at most 32 deep, at most 32 aliases (`*name`).
    static let maxFrontMatterBytes = 65_536, maxYAMLNesting = 32, maxYAMLAliases = 32

    static func yamlBounds(_ yaml: String) -> (message: String, line: Int, column: Int)? {
        if yaml.utf8.count > maxFrontMatterBytes { return ("longer than \(maxFrontMatterBytes / 1024) KiB", 1, 1) }
        // block nesting: indentation, and `- ` entries that open a sequence inside a sequence on one line
        for (n, l) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var level = 0, col = 0
            let chars = Array(l.utf8)
            while col < chars.count {
                if chars[col] == UInt8(ascii: " ") { col += 1; continue }
                if chars[col] == UInt8(ascii: "-") || chars[col] == UInt8(ascii: "?"), col + 1 < chars.count, chars[col + 1] == UInt8(ascii: " ") { level += 1; col += 2; continue }
                break
            }
            if col / 2 + level > maxYAMLNesting * 4 { return ("nesting deeper than \(maxYAMLNesting * 4) levels", n + 1, col + 1) }
        }
        var depth = 0, aliases = 0, line = 1, column = 0
        var quote: Character? = nil
        var previous: Character = "\n"
        var comment = false
        for ch in yaml {
            column += 1
            defer { previous = ch }
            if ch == "\n" { line += 1; column = 0; comment = false; continue }
            if comment { continue }
            if let q = quote {
                if ch == q && !(q == "\"" && previous == "\\") { quote = nil }
                continue
            }
            let atTokenStart = previous == "\n" || previous == " " || previous == "\t" || previous == "[" || previous == "{" || previous == "," || previous == ":"
            switch ch {
            case "#" where previous == " " || previous == "\n" || previous == "\t": comment = true
            case "'", "\"": if atTokenStart { quote = ch }
            case "[", "{":
                depth += 1
                if depth > maxYAMLNesting { return ("nesting deeper than \(maxYAMLNesting) levels", line, column) }
            case "]", "}": depth = max(0, depth - 1)
            case "*" where atTokenStart:
                aliases += 1
                if aliases > maxYAMLAliases { return ("more than \(maxYAMLAliases) aliases (*name)", line, column) }
            default: break
            }
        }
        return nil
    }

    /// The keys of a block mapping in written order (YAML maps are unordered once loaded).
    static func orderedKeys(_ yaml: String, under key: String) -> [String] {
        guard let node = try? Yams.compose(yaml: yaml), let m = node.mapping, let inner = m[Node(key)]?.mapping else { return [] }
        return inner.keys.compactMap(\.string)
    }

    /// A YAML value as a language value.
    public static func value(_ v: Any) -> Value {
        switch v {
        case let b as Bool: return .bool(b)
        case let i as Int: return .number(Double(i))
        case let d as Double: return .number(d)
        case let s as String: return .string(s)
        case let a as [Any]: return .list(a.map(value))
        case let m as [String: Any]: return .record(Record(m.keys.sorted().map { ($0, value(m[$0]!)) }))
        default: return .string("\(v)")
        }
    }
}
