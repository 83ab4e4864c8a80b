// Task data: the minBERT files (SST-5, Quora, STS-B, CFIMDB) and any delimited file with named
// text and label columns, read with real CSV quoting. Every bad row is an error naming the file,
// line and column and what was expected.
import Foundation

public struct Example: Sendable {
    public var textA: String
    public var textB: String?
    /// Class index (classification) or target value (binary 0/1, regression).
    public var label: Float
    /// The file line the example starts on.
    public var line: Int
}

/// What a dataset trains and how it is scored.
public struct TaskSpec: Sendable, Equatable, Codable {
    public var kind: HeadKind
    /// Classes for classification; 1 otherwise.
    public var classes: Int
    /// Regression targets' range (STS-B: 0…5), for messages and clipping predictions.
    public var range: ClosedRange<Float>?

    /// The most classes a task may have: a head holds classes × hidden weights, and a count read
    /// from a file (labels, `classes=`, an adapter's metadata) is checked against this before any
    /// allocation.
    public static let maxClasses = 10_000

    public init(kind: HeadKind, classes: Int, range: ClosedRange<Float>? = nil) {
        self.kind = kind; self.classes = classes; self.range = range
    }

    public static let sst = TaskSpec(kind: .classification, classes: 5)
    public static let cfimdb = TaskSpec(kind: .classification, classes: 2)
    public static let paraphrase = TaskSpec(kind: .binary, classes: 1)
    public static let similarity = TaskSpec(kind: .regression, classes: 1, range: 0...5)
}

public struct Dataset: Sendable {
    public let name: String
    public let path: String
    public let spec: TaskSpec
    public var examples: [Example]
    public var count: Int { examples.count }

    /// The first `n` examples (in file order).
    public func limited(_ n: Int?) -> Dataset {
        guard let n, n < examples.count else { return self }
        var d = self
        d.examples = Array(examples.prefix(max(0, n)))
        return d
    }
}

public enum Datasets {
    /// The built-in tasks and their files in the data folder.
    public static let builtIn: [String: (file: String, text: String, pair: String?, label: String, spec: TaskSpec)] = [
        "sst": ("ids-sst-%@.csv", "sentence", nil, "sentiment", .sst),
        "cfimdb": ("ids-cfimdb-%@.csv", "sentence", nil, "sentiment", .cfimdb),
        "quora": ("quora-%@.csv", "sentence1", "sentence2", "is_duplicate", .paraphrase),
        "sts": ("sts-%@.csv", "sentence1", "sentence2", "similarity", .similarity),
    ]

    /// Loads a built-in task's split ("train" or "dev") from `folder`.
    public static func load(_ task: String, split: String, folder: URL) throws -> Dataset {
        guard let info = builtIn[task] else {
            throw ModelError.invalidArgument(name: "task '\(task)'", reason: "expected one of \(builtIn.keys.sorted().joined(separator: ", ")), or a CSV file with named columns")
        }
        guard split == "train" || split == "dev" else {
            throw ModelError.invalidArgument(name: "split '\(split)'", reason: "expected train or dev")
        }
        let url = folder.appendingPathComponent(String(format: info.file, split))
        return try csv(url, name: "\(task)-\(split)", text: info.text, pair: info.pair, label: info.label, spec: info.spec)
    }

    /// Loads any delimited file (tab-separated unless it ends in .csv and has no tab in its header)
    /// with a text column, an optional second text column and a label column.
    public static func csv(_ url: URL, name: String? = nil, text: String, pair: String? = nil, label: String, spec: TaskSpec?) throws -> Dataset {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError.fileUnreadable(path: url.path, reason: "no such file (set LORABOOK_DATA or pass the data folder)")
        }
        let raw = try String(contentsOf: url, encoding: .utf8)
        let firstLine = raw.prefix { $0 != "\n" }
        let delimiter: Character = firstLine.contains("\t") ? "\t" : ","
        let table = try DelimitedTable.parse(raw, path: url.path, delimiter: delimiter)
        guard !table.rows.isEmpty else {
            throw ModelError.csv(path: url.path, line: 2, column: 1, reason: "no data rows after the header (expected at least one example)")
        }
        let ti = try table.column(text), pi = try pair.map(table.column), li = try table.column(label)
        var examples: [Example] = []
        examples.reserveCapacity(table.rows.count)
        var labels = Set<Int>()
        for row in table.rows {
            func field(_ i: Int, _ what: String) throws -> String {
                guard i < row.fields.count else {
                    throw ModelError.csv(path: url.path, line: row.line, column: 1, reason: "the row has \(row.fields.count) fields, expected a '\(what)' field in column \(i + 1)")
                }
                return row.fields[i]
            }
            let labelText = try field(li, label).trimmingCharacters(in: .whitespaces)
            guard let value = Float(labelText), value.isFinite else {
                throw ModelError.csv(path: url.path, line: row.line, column: li + 1, reason: "label '\(labelText)' in column '\(label)' is not a number")
            }
            if let spec {
                switch spec.kind {
                case .classification:
                    guard value == value.rounded(), value >= 0, value < Float(spec.classes) else {
                        throw ModelError.csv(path: url.path, line: row.line, column: li + 1, reason: "label \(labelText) is out of range (expected a class 0…\(spec.classes - 1))")
                    }
                case .binary:
                    guard value == 0 || value == 1 else {
                        throw ModelError.csv(path: url.path, line: row.line, column: li + 1, reason: "label \(labelText) is out of range (expected 0 or 1)")
                    }
                case .regression, .cosine:
                    if let r = spec.range, !r.contains(value) {
                        throw ModelError.csv(path: url.path, line: row.line, column: li + 1, reason: "value \(labelText) is out of range (expected \(r.lowerBound)…\(r.upperBound))")
                    }
                }
            } else {
                guard value == value.rounded(), value >= 0 else {
                    throw ModelError.csv(path: url.path, line: row.line, column: li + 1, reason: "label \(labelText) is not a class index (expected an integer ≥ 0)")
                }
                guard value < Float(TaskSpec.maxClasses) else {
                    throw ModelError.csv(path: url.path, line: row.line, column: li + 1, reason: "label \(labelText) is past the largest class lorabook allows (\(TaskSpec.maxClasses - 1))")
                }
                labels.insert(Int(value))
            }
            examples.append(Example(textA: try field(ti, text).trimmingCharacters(in: .whitespaces),
                                    textB: try pi.map { try field($0, pair!).trimmingCharacters(in: .whitespaces) },
                                    label: value, line: row.line))
        }
        let resolved = spec ?? TaskSpec(kind: .classification, classes: max(2, (labels.max() ?? 0) + 1))
        return Dataset(name: name ?? url.deletingPathExtension().lastPathComponent, path: url.path, spec: resolved, examples: examples)
    }

    /// SST-2 from SST-5: drops neutral (2), maps 0–1 → 0 and 3–4 → 1.
    public static func binarySentiment(from sst: Dataset) -> Dataset {
        var d = sst
        d.examples = sst.examples.compactMap { e in
            if e.label == 2 { return nil }
            var e = e
            e.label = e.label < 2 ? 0 : 1
            return e
        }
        return Dataset(name: sst.name.replacingOccurrences(of: "sst", with: "sst2"), path: sst.path, spec: .cfimdb, examples: d.examples)
    }
}
