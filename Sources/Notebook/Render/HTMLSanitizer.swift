// The HTML that Markdown prose becomes, made safe to open from anyone: a tag on the allow-list
// (formatting, lists, tables, links, images) is kept with its allowed attributes only; any other tag
// (`<script>`, `<iframe>`, `<object>`, `<style>`, `<form>`, `<svg>`, …), comment or declaration is
// shown as text; event handlers, `style` and `id` attributes are dropped; a link or image whose
// URL is not http(s), mailto, relative or (images only) a `data:image/` URL loses that URL. One
// pass over the text, linear in its length.
import Foundation

public enum HTMLSanitizer {
    /// Tags kept (raw HTML a Markdown author uses for formatting), and the attributes each may carry.
    static let allowed: [String: Set<String>] = {
        let common: Set<String> = ["title", "class", "lang", "dir"]
        var tags: [String: Set<String>] = [:]
        for t in ["p", "br", "hr", "em", "strong", "b", "i", "u", "s", "del", "ins", "mark", "small", "sub", "sup", "code", "kbd",
                  "samp", "var", "pre", "blockquote", "q", "cite", "abbr", "dfn", "span", "div", "ul", "ol", "li", "dl", "dt", "dd",
                  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tfoot", "tr", "caption", "figure", "figcaption",
                  "details", "summary", "section", "article", "aside", "header", "footer", "nav", "center", "time", "wbr"] {
            tags[t] = common
        }
        tags["th"] = common.union(["colspan", "rowspan", "align", "scope"])
        tags["td"] = common.union(["colspan", "rowspan", "align"])
        tags["ol"] = common.union(["start", "reversed", "type"])
        tags["li"] = common.union(["value"])
        tags["details"] = common.union(["open"])
        tags["a"] = common.union(["href", "name"])
        tags["img"] = common.union(["src", "alt", "width", "height"])
        return tags
    }()

    /// Attributes whose value is a URL, checked by `safeURL`.
    static let urlAttributes: Set<String> = ["href", "src"]

    public static func sanitize(_ html: String) -> String {
        let s = Array(html.unicodeScalars)
        var out = String.UnicodeScalarView()
        out.reserveCapacity(s.count)
        func emit(_ t: String) { out.append(contentsOf: t.unicodeScalars) }
        // where the next quote of each kind is, so that an unclosed quote costs one look-up, not a scan
        var nextDouble = [Int](repeating: s.count, count: s.count + 1), nextSingle = nextDouble
        for k in stride(from: s.count - 1, through: 0, by: -1) {
            nextDouble[k] = s[k] == "\"" ? k : nextDouble[k + 1]
            nextSingle[k] = s[k] == "'" ? k : nextSingle[k + 1]
        }
        var i = 0
        while i < s.count {
            let c = s[i]
            guard c == "<" else { out.append(c); i += 1; continue }
            if let (tag, end) = parseTag(s, at: i, nextDouble: nextDouble, nextSingle: nextSingle) {
                if let keep = allowed[tag.name] {
                    var t = "<" + (tag.closing ? "/" : "") + tag.name
                    if !tag.closing {
                        for (name, value) in tag.attributes where keep.contains(name) {
                            if let v = value {
                                let decoded = decodeEntities(v)
                                if urlAttributes.contains(name) && !safeURL(decoded, image: tag.name == "img") { continue }
                                t += " \(name)=\"\(HTMLRenderer.escape(decoded))\""
                            } else {
                                t += " \(name)"
                            }
                        }
                    }
                    emit(t + ">")
                } else {
                    emit(HTMLRenderer.escape(String(String.UnicodeScalarView(s[i..<end]))))
                }
                i = end
            } else {
                emit("&lt;")
                i += 1
            }
        }
        return String(out)
    }

    struct Tag { var name: String; var closing: Bool; var attributes: [(String, String?)] }

    /// A start or end tag at `i` (`<name attr=value …>`, `</name>`); nil for anything else (a
    /// comment, a declaration, a lone `<`, a tag of more than `maxSteps` parts), which is then shown
    /// as text. Each call looks at most `maxSteps` characters outside quoted values, so the whole
    /// pass stays linear.
    static let maxSteps = 4096
    static func parseTag(_ s: [Unicode.Scalar], at start: Int, nextDouble: [Int], nextSingle: [Int]) -> (Tag, Int)? {
        var i = start + 1
        var steps = 0
        func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" }
        func isNameChar(_ c: Unicode.Scalar) -> Bool { c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == ":") }
        var tag = Tag(name: "", closing: false, attributes: [])
        if i < s.count && s[i] == "/" { tag.closing = true; i += 1 }
        guard i < s.count, s[i].isASCII, s[i].properties.isAlphabetic else { return nil }
        let nameStart = i
        while i < s.count && isNameChar(s[i]) { i += 1 }
        tag.name = String(String.UnicodeScalarView(s[nameStart..<i])).lowercased()
        while i < s.count {
            steps += 1
            guard steps < maxSteps else { return nil }
            while i < s.count && isSpace(s[i]) { i += 1; steps += 1 }
            guard i < s.count, steps < maxSteps else { return nil }
            if s[i] == ">" { return (tag, i + 1) }
            if s[i] == "/" && i + 1 < s.count && s[i + 1] == ">" { return (tag, i + 2) }
            if s[i] == "/" { i += 1; continue }
            if s[i] == "<" { return nil }
            let attrStart = i
            while i < s.count && !isSpace(s[i]) && s[i] != "=" && s[i] != ">" && s[i] != "/" && s[i] != "<" && steps < maxSteps { i += 1; steps += 1 }
            let name = String(String.UnicodeScalarView(s[attrStart..<i])).lowercased()
            if name.isEmpty { return nil }
            var j = i
            while j < s.count && isSpace(s[j]) { j += 1 }
            if j < s.count && s[j] == "=" {
                j += 1
                while j < s.count && isSpace(s[j]) { j += 1 }
                guard j < s.count else { return nil }
                let value: String
                if s[j] == "\"" || s[j] == "'" {
                    let k = s[j] == "\"" ? nextDouble[j + 1] : nextSingle[j + 1]
                    guard k < s.count else { return nil }
                    value = String(String.UnicodeScalarView(s[(j + 1)..<k]))
                    i = k + 1
                } else {
                    var k = j
                    while k < s.count && !isSpace(s[k]) && s[k] != ">" && steps < maxSteps { k += 1; steps += 1 }
                    value = String(String.UnicodeScalarView(s[j..<k]))
                    i = k
                }
                tag.attributes.append((name, value))
            } else {
                tag.attributes.append((name, nil))
            }
        }
        return nil
    }

    /// Whether a URL may stay in a link or image: relative, a fragment, http(s), mailto, and for
    /// images `data:image/…`. Browsers ignore tabs, newlines and leading controls in a scheme, so
    /// those are removed before the scheme is read.
    static func safeURL(_ url: String, image: Bool) -> Bool {
        let cleaned = String(String.UnicodeScalarView(url.unicodeScalars.filter { $0.value > 0x20 && $0.value != 0x7F })).lowercased()
        guard let colon = cleaned.firstIndex(of: ":") else { return true }
        if let slash = cleaned.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }), slash < colon { return true }
        let scheme = cleaned[..<colon]
        if ["http", "https", "mailto"].contains(scheme) { return true }
        return image && scheme == "data" && cleaned.hasPrefix("data:image/")
    }

    /// Character references in an attribute value (`&#106;`, `&#x6A;`, `&amp;`, …), as a browser reads them.
    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        let named: [String: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "colon": ":", "tab": "\t",
                                       "newline": "\n", "sol": "/", "lpar": "(", "rpar": ")", "nbsp": "\u{A0}"]
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            let body = after.prefix { $0 != ";" && $0 != "&" && !$0.isWhitespace }.prefix(12)
            var replacement: String? = nil
            if body.hasPrefix("#x") || body.hasPrefix("#X") {
                let hex = body.dropFirst(2).prefix { $0.isHexDigit }
                if let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) { replacement = String(u); rest = after.dropFirst(2 + hex.count) }
            } else if body.hasPrefix("#") {
                let dec = body.dropFirst().prefix { $0.isNumber }
                if let v = UInt32(dec), let u = Unicode.Scalar(v) { replacement = String(u); rest = after.dropFirst(1 + dec.count) }
            } else if let r = named[String(body).lowercased()] {
                replacement = r; rest = after.dropFirst(body.count)
            }
            if let r = replacement {
                out += r
                if rest.first == ";" { rest = rest.dropFirst() }
            } else {
                out += "&"; rest = after
            }
        }
        return out + rest
    }
}
