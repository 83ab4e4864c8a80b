// BERT uncased tokenization: basic split + WordPiece, single texts and pairs with [CLS]/[SEP] and
// token types, longest-first truncation, and batches padded to their longest sequence.
import Foundation

/// One tokenized input: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`.
public struct Encoding: Sendable, Equatable {
    public var ids: [Int32]
    public var tokenTypes: [Int32]
    public var tokens: [String]
    /// Word pieces removed by truncation (0 when the input fitted).
    public var truncated: Int
    public var count: Int { ids.count }
}

public struct BertTokenizer: Sendable {
    /// The special tokens' text (HF's cls_token, sep_token, pad_token, unk_token, mask_token).
    public struct Specials: Sendable, Equatable {
        public var cls = "[CLS]", sep = "[SEP]", pad = "[PAD]", unk = "[UNK]", mask = "[MASK]"
        public init() {}
        public var all: [String] { [cls, sep, pad, mask, unk] }
    }

    public let vocabulary: Vocabulary
    public let lowercase: Bool
    /// nil: strip accents exactly when lower-casing (HF's default).
    public let stripAccents: Bool?
    public let specials: Specials
    public let maxInputCharsPerWord: Int
    public let clsID: Int32, sepID: Int32, padID: Int32, unkID: Int32

    public init(vocabulary: Vocabulary, lowercase: Bool = true, stripAccents: Bool? = nil, specials: Specials = Specials(), maxInputCharsPerWord: Int = 100) {
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        self.stripAccents = stripAccents
        self.specials = specials
        self.maxInputCharsPerWord = maxInputCharsPerWord
        clsID = vocabulary.id(specials.cls) ?? 101
        sepID = vocabulary.id(specials.sep) ?? 102
        padID = vocabulary.id(specials.pad) ?? 0
        unkID = vocabulary.id(specials.unk) ?? 100
    }

    public init(vocabularyFile url: URL) throws {
        self.init(vocabulary: try Vocabulary(contentsOf: url))
    }

    /// The default special tokens (uncased BERT's).
    public static let specialTokens = Specials().all

    /// Word pieces of `text`; a literal special token such as "[SEP]" stays one token (as in HF's
    /// tokenizers: matched case-sensitively on the raw text, before any normalisation).
    public func tokenize(_ text: String) -> [String] {
        var pieces: [String] = []
        var rest = Substring(text)
        let specialTokens = specials.all
        while !rest.isEmpty {
            let hits = specialTokens.compactMap { tok in rest.range(of: tok).map { ($0, tok) } }
            guard let (range, tok) = hits.min(by: { $0.0.lowerBound < $1.0.lowerBound }) else {
                pieces += BasicTokenizer.split(String(rest), lowercase: lowercase, stripAccents: stripAccents).flatMap(wordPieces)
                break
            }
            pieces += BasicTokenizer.split(String(rest[..<range.lowerBound]), lowercase: lowercase, stripAccents: stripAccents).flatMap(wordPieces)
            pieces.append(tok)
            rest = rest[range.upperBound...]
        }
        return pieces
    }

    /// Greedy longest-match-first WordPiece; continuation pieces carry "##". A word longer than
    /// `maxInputCharsPerWord` scalars, or one with no match at some position, becomes [UNK].
    public func wordPieces(_ word: String) -> [String] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > maxInputCharsPerWord { return [specials.unk] }
        var pieces: [String] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: String? = nil
            while start < end {
                var s = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { s = "##" + s }
                if vocabulary.id(s) != nil { found = s; break }
                end -= 1
            }
            guard let piece = found else { return [specials.unk] }
            pieces.append(piece)
            start = end
        }
        return pieces
    }

    /// Encodes a text or a pair, truncated to `maxLength` tokens including the special ones.
    ///
    /// Truncation rule (HF tokenizers' `longest_first`): with n1 ≤ n2 pieces and room for
    /// L = maxLength − 3, the longer side is cut to max(n1, L − n1); if both still do not fit,
    /// each gets L/2 and the longer one the odd piece. A single text keeps its first maxLength − 2.
    public func encode(_ a: String, _ b: String? = nil, maxLength: Int = 128) throws -> Encoding {
        let special = b == nil ? 2 : 3
        guard maxLength >= special + 1 else {
            throw ModelError.invalidArgument(name: "max length \(maxLength)", reason: "expected at least \(special + 1) (room for the special tokens and one word piece)")
        }
        var pa = tokenize(a)
        var pb = b.map(tokenize) ?? []
        let before = pa.count + pb.count
        let room = maxLength - special
        if b == nil {
            if pa.count > room { pa.removeLast(pa.count - room) }
        } else if pa.count + pb.count > room {
            var n1 = pa.count, n2 = pb.count
            let swap = n1 > n2
            if swap { Swift.swap(&n1, &n2) }
            n2 = n1 > room ? n1 : max(n1, room - n1)
            if n1 + n2 > room { n1 = room / 2; n2 = n1 + room % 2 }
            if swap { Swift.swap(&n1, &n2) }
            if pa.count > n1 { pa.removeLast(pa.count - n1) }
            if pb.count > n2 { pb.removeLast(pb.count - n2) }
        }
        var tokens = [specials.cls] + pa + [specials.sep]
        var types = [Int32](repeating: 0, count: tokens.count)
        if b != nil {
            tokens += pb + [specials.sep]
            types += [Int32](repeating: 1, count: pb.count + 1)
        }
        let ids = tokens.map { vocabulary.id($0) ?? unkID }
        return Encoding(ids: ids, tokenTypes: types, tokens: tokens, truncated: before - pa.count - pb.count)
    }
}

/// A batch of encodings. The model works on the packed layout: the real tokens of every sequence
/// back to back (sequence b at rows offsets[b] ..< offsets[b] + lengths[b]), so no work is spent on
/// padding. The padded [B, T] view (right padding with [PAD], attention mask from `lengths`) is
/// there for callers that want HF's layout.
public struct TokenBatch: Sendable {
    public let batchSize: Int
    /// The longest sequence (T of the padded view).
    public let sequenceLength: Int
    public let lengths: [Int]
    /// Row of each sequence's first token ([CLS]) in the packed layout; offsets[B] = tokenCount.
    public let offsets: [Int]
    /// Packed ids, token types and positions, one per real token.
    public let packedIDs: [Int32]
    public let packedTypes: [Int32]
    public let positions: [Int32]
    public let padID: Int32

    public init(_ encodings: [Encoding], padID: Int32 = 0) {
        precondition(!encodings.isEmpty, "empty batch")
        batchSize = encodings.count
        lengths = encodings.map(\.count)
        sequenceLength = lengths.max()!
        var offsets = [0]
        for l in lengths { offsets.append(offsets.last! + l) }
        self.offsets = offsets
        packedIDs = encodings.flatMap(\.ids)
        packedTypes = encodings.flatMap(\.tokenTypes)
        positions = encodings.flatMap { (0..<Int32($0.count)).map { $0 } }
        self.padID = padID
    }

    /// Real (unpadded) tokens in the batch.
    public var tokenCount: Int { offsets[batchSize] }

    /// Ids padded on the right to [B, T].
    public var ids: [Int32] { padded(packedIDs, pad: padID) }
    public var tokenTypes: [Int32] { padded(packedTypes, pad: 0) }
    /// 1 for real tokens, 0 for padding, [B, T].
    public var attentionMask: [Int32] { padded([Int32](repeating: 1, count: tokenCount), pad: 0) }

    func padded(_ packed: [Int32], pad: Int32) -> [Int32] {
        var out = [Int32](repeating: pad, count: batchSize * sequenceLength)
        for b in 0..<batchSize { for t in 0..<lengths[b] { out[b * sequenceLength + t] = packed[offsets[b] + t] } }
        return out
    }
}
