// The lexer's tokens and the parser's trees (dumped with line:col), and error recovery.
import XCTest
@testable import Kernel

final class LexerParserTests: XCTestCase {
    let commands = CommandRegistry.standard.names

    func kinds(_ s: String) -> [TokenKind] { Lexer.tokenize(s).tokens.map(\.kind) }

    func testTokens() {
        XCTAssertEqual(kinds("lora rank=8 lr=5e-4 # comment\n"), [
            .identifier("lora"), .identifier("rank"), .symbol(.equal), .number(8), .identifier("lr"), .symbol(.equal), .number(5e-4), .newline, .end])
        XCTAssertEqual(kinds("targets=all-linear a - b x-1"), [
            .identifier("targets"), .symbol(.equal), .identifier("all-linear"), .identifier("a"), .symbol(.minus), .identifier("b"),
            .identifier("x"), .symbol(.minus), .number(1), .end])
        XCTAssertEqual(kinds(#""a \"q\"\n" 1..8 x.y <= != += 2.5E+3"#), [
            .string("a \"q\"\n"), .number(1), .symbol(.dotDot), .number(8), .identifier("x"), .symbol(.dot), .identifier("y"),
            .symbol(.lessEqual), .symbol(.bangEqual), .symbol(.plusEqual), .number(2500), .end])
        XCTAssertEqual(kinds("let for in if else true false and or not"), TokenKind.Keyword.allCases.map { .keyword($0) } + [.end])
        let t = Lexer.tokenize("a\n  bb").tokens
        XCTAssertEqual(t.map(\.location), [SourceLocation(line: 1, column: 1), SourceLocation(line: 1, column: 2), SourceLocation(line: 2, column: 3), SourceLocation(line: 2, column: 5)])
    }

    func testLexicalErrors() {
        let d = Lexer.tokenize("print \"open\nx @ 1").diagnostics
        XCTAssertEqual(d.map(\.message), ["unterminated string", "unexpected character '@'"])
        XCTAssertEqual(d.map { $0.location! }, [SourceLocation(line: 1, column: 7), SourceLocation(line: 2, column: 3)])
    }

    func dump(_ s: String) -> [String] {
        let (statements, diagnostics) = Parser.parse(s, commands: commands)
        XCTAssertEqual(diagnostics.map(\.message), [], s)
        return statements.map(\.dump)
    }

    func testTrees() {
        let table: [(String, String)] = [
            ("let r = eval sst limit=100", "(let r@1:1 (command eval@1:9 sst@1:14 limit@1:18=100@1:24))"),
            ("lora rank=r*2 targets=[query, value]", "(command lora@1:1 rank@1:6=(*@1:12 r@1:11 2@1:13) targets@1:15=(list@1:23 query@1:24 value@1:31))"),
            ("x = 1 + 2 * 3", "(= x@1:1 (+@1:7 1@1:5 (*@1:11 2@1:9 3@1:13)))"),
            ("t += {rank: 1, acc: a.accuracy}", "(+= t@1:1 (record@1:6 rank:1@1:13 acc:(.accuracy@1:22 a@1:21)))"),
            ("for r in 1..8 { print r }", "(for r@1:1 (..@1:11 1@1:10 8@1:13) { (command print@1:17 r@1:23) })"),
            ("if a >= 2 and not b { x } else { y }", "(if@1:1 (and@1:11 (>=@1:6 a@1:4 2@1:9) (not@1:15 b@1:19)) { x@1:23 } else { y@1:34 })"),
            ("print (eval sst).accuracy", "(command print@1:1 (.accuracy@1:17 (command eval@1:8 sst@1:13)))"),
            ("mean(xs[0..2])", "(call mean@1:1 ([]@1:8 xs@1:6 (..@1:10 0@1:9 2@1:12)))"),
            ("let t = table()", "(let t@1:1 (call table@1:9))"),
            ("table t group=rank", "(command table@1:1 t@1:7 group@1:9=rank@1:15)"),
            ("-x.y[1]", "(-@1:1 ([]@1:5 (.y@1:3 x@1:2) 1@1:6))"),
        ]
        for (source, expected) in table { XCTAssertEqual(dump(source), [expected], source) }
        XCTAssertEqual(dump("for x in [1,\n 2] {\n  print x\n}\nhelp"), [
            "(for x@1:1 (list@1:10 1@1:11 2@2:2) { (command print@3:3 x@3:9) })", "(command help@5:1)"])
    }

    /// One pass reports several errors; good statements around them still parse.
    func testRecoveryReportsSeveralErrors() {
        let (statements, diagnostics) = Parser.parse("print 1 +\nlet x = 2\nlet = 3\nfor i in xs {\n  ]\n}\ntrian sst\nlet train = 1", commands: commands)
        XCTAssertEqual(diagnostics.map { "\($0.location!): \($0.message)" }, [
            "1:10: expected a value, found end of line",
            "3:5: expected a variable name after 'let', found '='",
            "5:3: expected a value, found ']'",
            "7:1: unknown command 'trian'",
            "8:5: cannot name a variable 'train': it is a command",
        ])
        XCTAssertEqual(diagnostics[3].hint, "Did you mean 'train'?")
        XCTAssertEqual(statements.map(\.dump).first, "(let x@2:1 2@2:9)")
    }

    func testUnclosedBlock() {
        let (_, d) = Parser.parse("for x in [1] {\n print x\n", commands: commands)
        XCTAssertEqual(d.map(\.message), ["the '{' of this 'for' is never closed"])
        XCTAssertEqual(d.first?.location, SourceLocation(line: 1, column: 14))
    }

    func testRenderedDiagnostic() {
        let d = Diagnostic("unknown parameter 'rnk' for 'lora'", at: SourceLocation(line: 2, column: 6), hint: "Did you mean 'rank'?")
        XCTAssertEqual(d.rendered(file: "nb.md", source: "model\nlora rnk=4"), "nb.md:2:6: error: unknown parameter 'rnk' for 'lora'\n    lora rnk=4\n         ^\nhint: Did you mean 'rank'?")
    }

    func testSuggestions() {
        XCTAssertEqual(Suggestions.didYouMean("rnk", among: ["rank", "alpha"]), "Did you mean 'rank'?")
        XCTAssertEqual(Suggestions.didYouMean("tarin", among: ["train", "eval"]), "Did you mean 'train'?")
        XCTAssertNil(Suggestions.didYouMean("zzz", among: ["train", "eval"]))
        XCTAssertTrue(Interpreter.needsMoreInput("for x in xs {\n  print x"))
        XCTAssertFalse(Interpreter.needsMoreInput("print \"{\" # {"))
        XCTAssertTrue(Interpreter.needsMoreInput("let a = [1,"))
    }
}
