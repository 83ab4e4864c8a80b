// A WordPiece vocabulary from a BERT `vocab.txt`: one token per line, the line number is the id.
import Foundation

public struct Vocabulary: Sendable {
    public let tokens: [String]
    let ids: [String: Int32]

    public init(tokens: [String]) {
        self.tokens = tokens
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        self.ids = ids
    }

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.fileUnreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ModelError.invalidVocabulary(path: url.path, reason: "the file is not valid UTF-8")
        }
        var tokens = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if tokens.last == "" { tokens.removeLast() }
        self.init(tokens: tokens)
        for special in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] where ids[special] == nil {
            throw ModelError.invalidVocabulary(path: url.path, reason: "no \(special) token (expected a BERT WordPiece vocabulary)")
        }
    }

    public var count: Int { tokens.count }
    public func id(_ token: String) -> Int32? { ids[token] }
    public func token(_ id: Int32) -> String { tokens[Int(id)] }
}
