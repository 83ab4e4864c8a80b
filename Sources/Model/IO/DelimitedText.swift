// A reader for delimiter-separated text with RFC 4180 quoting (the minBERT data files are
// tab-separated and quote fields that hold tabs, quotes (doubled) or newlines). Rows keep the
// line on which they start, so errors can point at `file:line:column`.
import Foundation

public struct DelimitedTable: Sendable {
    public struct Row: Sendable {
        public let line: Int
        public let fields: [String]
    }
    public let path: String
    public let header: [String]
    public let rows: [Row]

    /// The index of the column named `name`, or an error naming the file and the columns it has.
    public func column(_ name: String) throws -> Int {
        if let i = header.firstIndex(of: name) { return i }
        throw ModelError.csv(path: path, line: 1, column: 1, reason: "no column named '\(name)' (\(describeHeader(header)))")
    }

    public static func read(contentsOf url: URL, delimiter: Character = "\t") throws -> DelimitedTable {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.fileUnreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ModelError.csv(path: url.path, line: 1, column: 1, reason: "the file is not valid UTF-8 text")
        }
        return try parse(text, path: url.path, delimiter: delimiter)
    }

    public static func parse(_ text: String, path: String, delimiter: Character = "\t") throws -> DelimitedTable {
        let d = delimiter.unicodeScalars.first!
        var rows: [Row] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var line = 1, column = 1
        var rowLine = 1
        var inQuotes = false, quoteLine = 0, quoteColumn = 0, wasQuoted = false
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func endRow() {
            fields.append(String(field))
            field = String.UnicodeScalarView()
            if !(fields.count == 1 && fields[0].isEmpty && !wasQuoted) { rows.append(Row(line: rowLine, fields: fields)) }
            fields = []
            wasQuoted = false
        }
        while let c = pending ?? it.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" { field.append("\""); column += 2; continue }
                        inQuotes = false; column += 1; pending = n; continue
                    }
                    inQuotes = false; continue
                }
                field.append(c)
                if c == "\n" { line += 1; column = 1 } else { column += 1 }
                continue
            }
            switch c {
            case "\"" where field.isEmpty:
                inQuotes = true; wasQuoted = true; quoteLine = line; quoteColumn = column; column += 1
            case d:
                fields.append(String(field)); field = String.UnicodeScalarView(); wasQuoted = false; column += 1
            case "\r":
                column += 1
            case "\n":
                endRow(); line += 1; column = 1; rowLine = line
            default:
                field.append(c); column += 1
            }
        }
        if inQuotes {
            throw ModelError.csv(path: path, line: quoteLine, column: quoteColumn, reason: "quoted field is never closed (expected a closing '\"')")
        }
        if !field.isEmpty || !fields.isEmpty { endRow() }
        guard let first = rows.first else {
            throw ModelError.csv(path: path, line: 1, column: 1, reason: "the file is empty (expected a header row and data rows)")
        }
        return DelimitedTable(path: path, header: first.fields, rows: Array(rows.dropFirst()))
    }
}

/// The columns a header names, for an error message: their names when it looks like a header (two
/// or more short names), otherwise only how many fields it has, so that an error never quotes a
/// line of a file that is not a table (the first line of /etc/passwd, say).
func describeHeader(_ header: [String]) -> String {
    let names = header.filter { !$0.isEmpty }
    guard names.count >= 2, names.count <= 50, names.allSatisfy({ $0.count <= 40 }) else {
        return "its first line has \(header.count) field\(header.count == 1 ? "" : "s") and does not look like a header of column names; is it a tab- or comma-separated file?"
    }
    return "the header has " + names.map { "'\($0)'" }.joined(separator: ", ")
}
