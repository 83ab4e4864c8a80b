// Charts inside the report: gnuplot's SVG with its ids made unique per chart.
import Foundation

extension HTMLRenderer {
    /// Makes every id in an SVG document unique by a prefix (gnuplot reuses fixed ids), and strips
    /// the XML prolog so that it can sit inside HTML.
    public static func uniqueIDs(_ svg: String, prefix: String) -> String {
        var s = svg
        if let start = s.range(of: "<svg") { s = String(s[start.lowerBound...]) }
        let ids = matches(#"id=['"]([^'"]+)['"]"#, in: s)
        for id in Set(ids).sorted(by: { $0.count > $1.count }) {
            for (from, to) in [("id=\"\(id)\"", "id=\"\(prefix)\(id)\""), ("id='\(id)'", "id='\(prefix)\(id)'"),
                               ("url(#\(id))", "url(#\(prefix)\(id))"), ("href=\"#\(id)\"", "href=\"#\(prefix)\(id)\""),
                               ("href='#\(id)'", "href='#\(prefix)\(id)'")] {
                s = s.replacingOccurrences(of: from, with: to)
            }
        }
        return s
    }

    static func matches(_ pattern: String, in s: String) -> [String] {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return [] }
        let ns = s as NSString
        return re.matches(in: s, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range(at: 1)) }
    }
}
