// BERT's basic (pre-)tokenizer for uncased models, as HF `BertNormalizer` + `BertPreTokenizer`:
//  1. clean: drop U+0000, U+FFFD and control characters (category C*, except \t \n \r);
//     map whitespace (space, \t, \n, \r, category Zs) to a space;
//  2. put spaces around CJK ideographs (the CJK Unified Ideographs blocks; not kana or hangul);
//  3. strip accents: canonical decomposition (NFD), then drop nonspacing marks (Mn) — by default
//     when lower-casing (HF's strip_accents None), or as `stripAccents` says;
//  4. lower-case (uncased models; a cased model keeps the case);
//  5. split on whitespace, then split every punctuation character (ASCII symbols and category P*)
//     into a token of its own.
import Foundation

public enum BasicTokenizer {
    public static func split(_ text: String, lowercase: Bool = true, stripAccents: Bool? = nil) -> [String] {
        var cleaned = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if u.value == 0 || u.value == 0xFFFD || isControl(u) { continue }
            if isWhitespace(u) { cleaned.append(" "); continue }
            if isCJK(u) { cleaned.append(" "); cleaned.append(u); cleaned.append(" "); continue }
            cleaned.append(u)
        }
        var normalized = String(cleaned)
        if stripAccents ?? lowercase {
            let nfd = normalized.decomposedStringWithCanonicalMapping
            var stripped = String.UnicodeScalarView()
            for u in nfd.unicodeScalars where u.properties.generalCategory != .nonspacingMark { stripped.append(u) }
            normalized = String(stripped)
        }
        if lowercase { normalized = normalized.lowercased() }
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() { if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() } }
        for u in normalized.unicodeScalars {
            if isWhitespace(u) { flush(); continue }
            if isPunctuation(u) { flush(); words.append(String(u)); continue }
            current.append(u)
        }
        flush()
        return words
    }

    static func isWhitespace(_ u: Unicode.Scalar) -> Bool {
        switch u {
        case " ", "\t", "\n", "\r": return true
        default: return u.properties.generalCategory == .spaceSeparator
        }
    }

    static func isControl(_ u: Unicode.Scalar) -> Bool {
        if u == "\t" || u == "\n" || u == "\r" { return false }
        switch u.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ u: Unicode.Scalar) -> Bool {
        let c = u.value
        if (33...47).contains(c) || (58...64).contains(c) || (91...96).contains(c) || (123...126).contains(c) { return true }
        switch u.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func isCJK(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }
}
