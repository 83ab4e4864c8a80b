// A lorabook notebook: CommonMark with optional YAML front matter; fenced code blocks whose info
// string starts with `lorabook` are cells, other fences are shown as code. The format is specified
// in docs/notebook.md.
//
//   ---
//   title: Rank sweep
//   author: Ada
//   params: {ranks: [1, 2, 4, 8], limit: 2000}
//   seed: 0
//   model: models/minilm-l6          # optional: loaded before the first cell
//   data: ../shared/data             # optional: the data folder
//   ---
//   Prose…
//   ```lorabook id=sweep echo=false
//   for r in ranks { … }
//   ```
import Foundation
import Kernel

public struct CellOptions: Sendable, Equatable, Codable {
    /// An anchor for links and the failure banner (default: cell-N).
    public var id: String?
    /// Show the source in the report (collapsed or not, it is always there unless false).
    public var echo = true
    /// Whether the cell may be restored from cache (caching is described in docs/notebook.md).
    public var cache = true
    /// The cell must fail: its error is shown and the run goes on; success is an error.
    public var expectError = false
    /// Seconds after which the cell is stopped between training steps and fails.
    public var timeout: Double?
    /// Hide the cell's outputs from the report (it still runs).
    public var hideOutput = false

    public init() {}
    static let names = ["id", "echo", "cache", "expect-error", "timeout", "output"]
}

public struct Cell: Sendable, Equatable, Codable {
    public var index: Int
    public var source: String
    /// The file line of the cell's first source line (the line after the opening fence).
    public var line: Int
    public var options: CellOptions
    public var anchor: String { options.id ?? "cell-\(index + 1)" }
    /// The cell's element id in the report: `cell-` and its id (or its number), so that no cell id
    /// can take an id the report uses itself.
    public var elementID: String { "cell-" + (options.id ?? "\(index + 1)") }
}

public enum Block: Sendable, Equatable, Codable {
    case markdown(String, line: Int)
    case cell(Cell)
}

public struct FrontMatter: Sendable, Equatable, Codable {
    public var title: String?
    public var author: String?
    /// Declared parameters with their default values, in order.
    @Fields public var parameters: [(String, Value)] = []
    public var seed: Int?
    public var model: String?
    public var data: String?
    /// `raw_html: true`: the author trusts this notebook, and its Markdown's raw HTML is kept as
    /// written (by default it is sanitised). The report's Content-Security-Policy still applies.
    public var rawHTML = false
    public init() {}
    public static func == (a: FrontMatter, b: FrontMatter) -> Bool {
        a.title == b.title && a.author == b.author && a.seed == b.seed && a.model == b.model && a.data == b.data && a.rawHTML == b.rawHTML
            && a.parameters.map(\.0) == b.parameters.map(\.0) && a.parameters.map(\.1) == b.parameters.map(\.1)
    }
}

public struct NotebookDocument: Sendable, Equatable, Codable {
    public var path: String
    public var source: String
    public var frontMatter: FrontMatter
    public var blocks: [Block]
    public var cells: [Cell] { blocks.compactMap { if case .cell(let c) = $0 { return c }; return nil } }
    /// Lenient-import warnings (unknown front-matter keys, unknown cell options), with lines.
    public var warnings: [Diagnostic]
}
