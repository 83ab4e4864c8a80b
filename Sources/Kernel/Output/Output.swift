// What running code produces, as a closed set of kinds: rendered as text at the REPL and as
// structured parts by the notebook renderer.
import Foundation

public enum Output: Sendable, Equatable, Codable {
    case text(String)
    case table(Table)
    /// A record of results (an evaluation, a run report) with a title.
    case metrics(String, Record)
    case chart(Chart)
    case claim(Claim)
    case warning(String)
    case error(Diagnostic)
}
