// Named edge cases of the BERT uncased tokenizer (the bulk check against HF is in GoldenForwardTests).
import XCTest
@testable import Model

final class TokenizerTests: XCTestCase {
    var tokenizer: BertTokenizer { get throws { try Fixtures.model.get().tokenizer } }

    func testBasicSplitCleansLowercasesStripsAccentsAndSplitsPunctuation() {
        XCTAssertEqual(BasicTokenizer.split("Héllo,\tWORLD!\u{0007}ok\u{200B}x"), ["hello", ",", "world", "!", "okx"])
        XCTAssertEqual(BasicTokenizer.split("  a\u{00A0}b\r\nc  "), ["a", "b", "c"], "NBSP, CR and LF are whitespace")
        XCTAssertEqual(BasicTokenizer.split("l'état—c'est «moi»"), ["l", "'", "etat", "—", "c", "'", "est", "«", "moi", "»"])
        XCTAssertEqual(BasicTokenizer.split("北京abc東"), ["北", "京", "abc", "東"], "CJK ideographs stand alone")
        XCTAssertEqual(BasicTokenizer.split("カタカナ"), ["カタカナ"], "kana are not split")
        XCTAssertEqual(BasicTokenizer.split("a\u{0000}b\u{FFFD}c"), ["abc"], "NUL and U+FFFD are dropped")
        XCTAssertEqual(BasicTokenizer.split(""), [])
    }

    func testWordPieceGreedyLongestMatchAndUnknown() throws {
        let t = try tokenizer
        XCTAssertEqual(t.tokenize("unaffable"), ["una", "##ffa", "##ble"], "greedy longest match, not the best split")
        XCTAssertEqual(t.tokenize("clockmaker"), ["clock", "##maker"])
        XCTAssertEqual(t.tokenize(String(repeating: "a", count: 101)), ["[UNK]"], "over 100 characters")
        XCTAssertEqual(t.tokenize(String(repeating: "a", count: 100)).contains("[UNK]"), false)
        XCTAssertEqual(t.tokenize("☃"), ["[UNK]"], "a character outside the vocabulary")
    }

    func testSpecialTokensInTextStayWhole() throws {
        let t = try tokenizer
        XCTAssertEqual(t.tokenize("hello [SEP] world"), ["hello", "[SEP]", "world"])
        XCTAssertEqual(t.tokenize("a[MASK]b"), ["a", "[MASK]", "b"])
        XCTAssertEqual(t.tokenize("[sep]"), ["[", "sep", "]"], "matching is case-sensitive, as in HF")
        let e = try t.encode("x [CLS] y")
        XCTAssertEqual(e.ids.filter { $0 == t.clsID }.count, 2)
    }

    func testPairsGetTokenTypes() throws {
        let e = try tokenizer.encode("a man", "a dog")
        XCTAssertEqual(e.tokens, ["[CLS]", "a", "man", "[SEP]", "a", "dog", "[SEP]"])
        XCTAssertEqual(e.tokenTypes, [0, 0, 0, 0, 1, 1, 1])
    }

    func testSingleTextTruncationKeepsTheStart() throws {
        let e = try tokenizer.encode("one two three four five six", maxLength: 5)
        XCTAssertEqual(e.tokens, ["[CLS]", "one", "two", "three", "[SEP]"])
        XCTAssertEqual(e.truncated, 3)
    }

    /// Longest-first (HF tokenizers): the longer side is cut first; when both must be cut they share
    /// the room, the longer one taking the odd piece.
    func testPairTruncationLongestFirst() throws {
        let t = try tokenizer
        func words(_ n: Int) -> String { Array(repeating: "cat", count: n).joined(separator: " ") }
        let table: [(a: Int, b: Int, max: Int, expectA: Int, expectB: Int)] = [
            (2, 10, 10, 2, 5),   // only the longer is cut: room 7 → b = 7 − 2
            (10, 2, 10, 5, 2),
            (6, 6, 10, 3, 4),    // both cut: room 7 → 3 and 4 (the second gets the odd one on a tie)
            (9, 6, 10, 4, 3),    // both cut: the longer (a) gets the odd piece
            (3, 4, 10, 3, 4),    // fits
            (1, 1, 5, 1, 1),
        ]
        for row in table {
            let e = try t.encode(words(row.a), words(row.b), maxLength: row.max)
            let sep = e.tokens.firstIndex(of: "[SEP]")!
            XCTAssertEqual(sep - 1, row.expectA, "a of \(row)")
            XCTAssertEqual(e.count - sep - 2, row.expectB, "b of \(row)")
            XCTAssertLessThanOrEqual(e.count, row.max)
            XCTAssertEqual(e.truncated, row.a + row.b - row.expectA - row.expectB)
        }
    }

    func testMaxLengthTooSmallIsAnError() throws {
        XCTAssertThrowsError(try tokenizer.encode("a", "b", maxLength: 3)) { error in
            XCTAssertTrue("\(error)".contains("max length 3"), "\(error)")
        }
    }

    func testBatchPadsOnTheRight() throws {
        let t = try tokenizer
        let batch = TokenBatch([try t.encode("a b c"), try t.encode("a")])
        XCTAssertEqual(batch.sequenceLength, 5)
        XCTAssertEqual(batch.lengths, [5, 3])
        XCTAssertEqual(Array(batch.ids[5..<10]).suffix(2), [0, 0])
        XCTAssertEqual(batch.attentionMask, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
    }

    func testVocabularyWithoutSpecialTokensIsRejected() throws {
        let dir = Fixtures.temporaryDirectory()
        let url = dir.appendingPathComponent("vocab.txt")
        try "a\nb\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Vocabulary(contentsOf: url)) { error in
            XCTAssertEqual("\(error)", "\(url.path): invalid vocabulary: no [PAD] token (expected a BERT WordPiece vocabulary)")
        }
    }
}
