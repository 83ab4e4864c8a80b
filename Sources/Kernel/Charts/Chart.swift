// A chart as data: what `plot` makes from a table, rendered later by gnuplot (text for a terminal,
// SVG for a report). The spec holds the points, so rendering needs no session.
import Foundation

public struct Chart: Sendable, Equatable, Codable {
    /// heatmap: one row per series (its name is the row's label), x over `categories`, each point's
    /// y the cell's value (a colour, with the number written in the cell).
    public enum Kind: String, Sendable, CaseIterable, Codable { case line, bar, scatter, heatmap }
    public struct Series: Sendable, Equatable {
        public var name: String
        public var points: [(x: Double, y: Double, error: Double?)]
        public var categories: [String]?
        public static func == (a: Series, b: Series) -> Bool {
            a.name == b.name && a.categories == b.categories && a.points.count == b.points.count
                && zip(a.points, b.points).allSatisfy { $0.x == $1.x && $0.y == $1.y && $0.error == $1.error }
        }
    }
    public var kind: Kind
    public var title: String?
    public var xLabel: String
    public var yLabel: String
    public var logX: Bool
    public var series: [Series]
    /// For bar charts over a text column: the x categories in order.
    public var categories: [String]?
}
