// Fuzzing the lexer, parser and static checks with random and mutated inputs: no crash, no hang.
// Runs 5 s in the suite; LORABOOK_FUZZ_SECONDS=60 swift test --filter ParserFuzzTests runs longer.
// Seeded: every run prints its seed, and LORABOOK_FUZZ_SEED=N replays one.
import XCTest
import Foundation
@testable import Kernel
import Model

final class ParserFuzzTests: XCTestCase {
    func testRandomAndMutatedInputsNeitherCrashNorHang() throws {
        let seconds = Double(ProcessInfo.processInfo.environment["LORABOOK_FUZZ_SECONDS"] ?? "") ?? 5
        let seeds = try [
            "let r = eval sst limit=100\nprint r.accuracy", "for x in [1, 2] {\n  if x > 1 { print x } else { print -x }\n}",
            "lora rank=8 targets=[query, value] alpha=16", "t += {rank: 1, acc: mean([0.1, 0.2])}", "table t group=[mode, rank] where=acc > 0.3 sort=acc desc=true",
            "plot t x=rank y=acc series=mode logx=true title=\"a \\\"b\\\"\"", "expect abs(a - b) <= 0.02 label=\"x\"", "print (eval sst).accuracy 1..8 x[-1]",
        ] + (try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts").path)
            .map { try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/\($0)").path, encoding: .utf8) })
        let alphabet = Array("letforinifelsetruefalseandornot ()[]{},.=<>!+-*/%:;#\"\\\n\t0123456789e.abcxyz_-lorarank=…é中")
        let seed = UInt64(ProcessInfo.processInfo.environment["LORABOOK_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64(UInt32.max))
        print("parser fuzz: seed \(seed) (LORABOOK_FUZZ_SEED=\(seed) replays it)")
        var rng = SplitMix64(seed: seed)
        let interpreter = Interpreter()
        let deadline = Date().addingTimeInterval(seconds)
        var count = 0
        while Date() < deadline {
            var input: [Character]
            if Bool.random(using: &rng) {
                input = (0..<Int.random(in: 0...80, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            } else {
                input = Array(seeds.randomElement(using: &rng)!)
                for _ in 0..<Int.random(in: 1...6, using: &rng) where !input.isEmpty {
                    let i = Int.random(in: 0..<input.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: input.remove(at: i)
                    case 1: input.insert(alphabet.randomElement(using: &rng)!, at: i)
                    case 2: input[i] = alphabet.randomElement(using: &rng)!
                    default: let j = Int.random(in: i..<input.count, using: &rng); input.insert(contentsOf: input[i...j], at: j)
                    }
                }
            }
            let source = String(input)
            let start = Date()
            _ = Parser.parse(source, commands: CommandRegistry.standard.names)
            _ = interpreter.check(source)
            XCTAssertLessThan(Date().timeIntervalSince(start), 2, "parsing took too long (seed \(seed)): \(source.debugDescription)")
            count += 1
        }
        print("parser fuzz: \(count) inputs in \(seconds) s from seed \(seed), no crash, no hang")
        XCTAssertGreaterThan(count, 100)
    }
}
