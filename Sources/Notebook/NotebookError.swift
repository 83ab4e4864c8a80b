// The notebook library's one error type: every way a notebook cannot be read, started or rendered.
// (A cell that fails is not an error: it is a status in the executed notebook, with diagnostics.)
import Kernel

public enum NotebookError: Error, CustomStringConvertible {
    /// The notebook file cannot be read or parsed: where, in the file.
    case invalid(path: String, Diagnostic)
    /// A `-p` override that is no declared parameter or has the wrong type.
    case parameter(String)
    /// The front matter's model does not load.
    case model(String)
    /// Planning asked for without a run store.
    case planning(String)
    /// A cell's chart could not be drawn (the report is not written).
    case chart(path: String, cell: Cell, reason: String)

    public var description: String {
        switch self {
        case .invalid(let path, let d): return d.rendered(file: path, source: nil)
        case .parameter(let s), .model(let s), .planning(let s): return s
        case .chart(let path, let cell, let reason): return "\(path):\(cell.line): error: chart of cell '\(cell.anchor)' could not be drawn: \(reason)"
        }
    }

    /// The diagnostic of a notebook that cannot be read or parsed.
    public var diagnostic: Diagnostic? { if case .invalid(_, let d) = self { return d }; return nil }
}
