// The tab-separated reader on RFC 4180 quoting, on fixtures made here.
import XCTest
@testable import Model

final class DelimitedTextTests: XCTestCase {
    func testQuotedFieldsHoldTabsQuotesAndNewlines() throws {
        let text = "\tid\tsentence\tsentiment\n0\ta1\t\"He said \"\"hi\"\"\tthere\"\t3\n1\ta2\t\"two\nlines\"\t4\r\n2\ta3\tplain\t0"
        let t = try DelimitedTable.parse(text, path: "x.csv")
        XCTAssertEqual(t.header, ["", "id", "sentence", "sentiment"])
        XCTAssertEqual(t.rows.map(\.fields), [["0", "a1", "He said \"hi\"\tthere", "3"], ["1", "a2", "two\nlines", "4"], ["2", "a3", "plain", "0"]])
        XCTAssertEqual(t.rows.map(\.line), [2, 3, 5], "a row keeps the line it starts on")
        XCTAssertEqual(try t.column("sentiment"), 3)
    }

    func testErrorsNameFileLineAndColumn() {
        XCTAssertThrowsError(try DelimitedTable.parse("a\tb\n1\t\"open\n2\t3\n", path: "d.csv")) {
            XCTAssertEqual("\($0)", "d.csv:2:3: quoted field is never closed (expected a closing '\"')")
        }
        XCTAssertThrowsError(try DelimitedTable.parse("", path: "e.csv")) {
            XCTAssertEqual("\($0)", "e.csv:1:1: the file is empty (expected a header row and data rows)")
        }
        let t = try! DelimitedTable.parse("\tid\tsentence\n0\tx\ty\n", path: "f.csv")
        XCTAssertThrowsError(try t.column("label")) {
            XCTAssertEqual("\($0)", "f.csv:1:1: no column named 'label' (the header has 'id', 'sentence')")
        }
    }
}
