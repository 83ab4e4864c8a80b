// No source, however deep, crashes the parser or the evaluator: every nesting construct at ten times
// the limit is a located error; just under the limit it still works. Numbers from users never trap.
import XCTest
import Foundation
@testable import Kernel

final class DepthLimitTests: XCTestCase {
    let n = Parser.maxDepth * 10

    func constructs() -> [(String, String)] {
        [
            ("lists", "let x = " + String(repeating: "[", count: n) + "1" + String(repeating: "]", count: n)),
            ("parentheses", "let x = " + String(repeating: "(", count: n) + "1" + String(repeating: ")", count: n)),
            ("records", "let x = " + String(repeating: "{a: ", count: n) + "1" + String(repeating: "}", count: n)),
            ("calls", "let x = " + String(repeating: "abs(", count: n) + "1" + String(repeating: ")", count: n)),
            ("if blocks", String(repeating: "if true {\n", count: n) + "print 1\n" + String(repeating: "}\n", count: n)),
            ("for blocks", String(repeating: "for i in [1] {\n", count: n) + "print i\n" + String(repeating: "}\n", count: n)),
            ("else-if chains", "if false { print 0 }" + String(repeating: " else if false { print 0 }", count: n) + " else { print 1 }"),
            ("unary minus", "let x = " + String(repeating: "- ", count: n) + "1"),
            ("not", "let x = " + String(repeating: "not ", count: n) + "true"),
            ("sums", "let a = 1\nlet x = a" + String(repeating: " + a", count: n)),
            ("products", "let a = 1\nlet x = a" + String(repeating: " * a", count: n)),
            ("and chains", "let a = true\nlet x = a" + String(repeating: " and a", count: n)),
            ("or chains", "let a = true\nlet x = a" + String(repeating: " or a", count: n)),
            ("field chains", "let r = {a: 1}\nlet x = r" + String(repeating: ".a", count: n)),
            ("index chains", "let xs = [1]\nlet x = xs" + String(repeating: "[0]", count: n)),
            ("index nesting", "let xs = [0]\nlet x = " + String(repeating: "xs[", count: n) + "0" + String(repeating: "]", count: n)),
            ("command arguments", "print " + String(repeating: "[", count: n) + "1" + String(repeating: "]", count: n)),
        ]
    }

    func testEveryConstructAtTenTimesTheLimitIsALocatedError() {
        for (name, source) in constructs() {
            let (_, diagnostics) = Parser.parse(source, commands: CommandRegistry.standard.names)
            XCTAssertTrue(diagnostics.contains { $0.message.contains("nested deeper than \(Parser.maxDepth) levels") || $0.message.contains("nesting deeper than \(Parser.maxDepth) levels") },
                          "\(name): \(diagnostics.prefix(3).map(\.message))")
            XCTAssertNotNil(diagnostics.first?.location, name)
            // the static check and a run say so too, and neither crashes
            XCTAssertFalse(Interpreter().check(source).isEmpty, name)
            let (_, runDiagnostics, _) = K.run(source)
            XCTAssertFalse(runDiagnostics.isEmpty, name)
        }
    }

    func testJustUnderTheLimitStillWorks() {
        let d = Parser.maxDepth - 10
        K.check("let x = " + String(repeating: "[", count: d) + "1" + String(repeating: "]", count: d) + "\nprint len(x)\n# expect: 1", name: "deep list")
        K.check("let a = 1\nlet x = a" + String(repeating: " + a", count: d) + "\nprint x\n# expect: \(d + 1)", name: "long sum")
        K.check("let x = " + String(repeating: "- ", count: d) + "1\nprint x\n# expect: \(d % 2 == 0 ? "1" : "-1")", name: "unary chain")
    }

    func testValuesCannotNestPastTheLimitAtRunTime() {
        K.check("let x = []\nfor i in 1..\(Evaluator.maxValueDepth * 10) { x = [x] }\n# expect error: a value nested deeper than \(Evaluator.maxValueDepth) levels", name: "x = [x]")
        K.check("let x = [1]\nfor i in 1..64 { x += x }\n# expect error: a value with more than", name: "x += x")
        K.check("let x = {a: 1}\nfor i in 1..\(Evaluator.maxValueDepth * 10) { x = {a: x} }\n# expect error: a value nested deeper than", name: "records")
        K.check("let x = []\nfor i in 1..100 { x = [x] }\nprint len(x)\n# expect: 1", name: "under the limit")
    }

    func testNumbersNeverTrap() {
        for (source, error) in [
            ("let xs = [1, 2]\nprint xs[1e300]", "index 1e+300 is out of range"), ("let xs = [1, 2]\nprint xs[-1e300]", "out of range"),
            ("let xs = [1, 2]\nprint xs[sqrt(-1)]", "out of range"), ("let t = table()\nprint t[1e19]", "out of range"),
            ("print 1..1e300", "a range needs integers"), ("print std([1])", "std() needs at least two values, got 1"),
            ("print std([])", "std() needs at least two values, got 0"), ("print mean([])", "mean() of an empty list"),
        ] {
            let (_, diagnostics, _) = K.run(source)
            XCTAssertTrue(diagnostics.contains { $0.message.contains(error) }, "\(source.debugDescription): \(diagnostics.map(\.message))")
        }
        K.check("print round(2.5, 1e300)\nprint std([1, 3])\n# expect: 1.4142", name: "huge digits do not trap")
    }
}

final class CountParameterTests: XCTestCase {
    /// Counts and sizes from a notebook are checked where they are written, before any data or model work.
    func testCountsOutsideTheirRangeAreLocatedErrors() {
        for (source, error) in [
            ("model\nhead\ntrain sst limit=-1", "parameter 'limit' of 'train' must be at least 1, got -1"),
            ("model\nhead\ntrain sst limit=0", "parameter 'limit' of 'train' must be at least 1, got 0"),
            ("model\nhead\ntrain sst limit=8 batch=0", "parameter 'batch' of 'train' must be 1…65536, got 0"),
            ("model\nhead\ntrain sst limit=8 epochs=-2", "parameter 'epochs' of 'train' must be 1…100000, got -2"),
            ("model\nhead\ntrain sst limit=8 max_length=1", "parameter 'max_length' of 'train' must be 3…65536, got 1"),
            ("model\nhead\nlet r = train sst limit=8\neval sst limit=-1", "parameter 'limit' of 'eval' must be at least 1, got -1"),
            ("model\nhead\nlet r = train sst limit=8\neval sst limit=0", "parameter 'limit' of 'eval' must be at least 1, got 0"),
            ("data sst limit=-5", "parameter 'limit' of 'data' must be at least 1, got -5"),
            ("lora rank=-1", "invalid rank -1: expected a rank of at least 1"),
            ("model\nlora rank=4 layers=[1e300]", "the model has layers 0…5"),
            ("data \"x.csv\" text=t label=l classes=1000000000", "parameter 'classes' of 'data' must be 2…10000, got 1000000000"),
        ] {
            let (_, diagnostics, _) = K.run(source)
            XCTAssertTrue(diagnostics.contains { $0.message.contains(error) }, "\(source.debugDescription): \(diagnostics.map(\.message))")
            XCTAssertNotNil(diagnostics.first?.location, source)
        }
    }
}

final class DegenerateInputTests: XCTestCase {
    func testChartsThatWouldDrawNothingAreErrors() {
        K.check("let t = table()\nt += {x: \"a\", y: 1}\nplot t x=y y=x\n# expect error: nothing to plot: column 'x' has no numbers", name: "text y")
        K.check("let u = table()\nu += {x: 0, y: 1}\nu += {x: 4, y: 2}\nplot u x=x y=y logx=true\n# expect error: logx=true needs every x above 0, and column 'x' has 0", name: "logx")
        K.check("let u = table()\nu += {x: 1, y: 1}\nu += {x: 4, y: 2}\nlet c = plot u x=x y=y logx=true\nprint len(u)\n# expect: 2", name: "a good chart still draws")
    }

    func testADataFileThatIsNotATableIsNotQuoted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-notcsv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let secret = dir.appendingPathComponent("secret.csv")
        try "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1\n".write(to: secret, atomically: true, encoding: .utf8)
        let (_, diagnostics, _) = K.run("data \"\(secret.path)\" text=a label=b")
        let message = diagnostics.map(\.message).joined()
        XCTAssertTrue(message.contains("does not look like a header"), message)
        XCTAssertFalse(message.contains("root:x"), "the file's first line is not quoted: \(message)")
    }
}
