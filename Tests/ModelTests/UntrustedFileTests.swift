// Sizes from files never trap or exhaust memory: safetensors shapes and offsets, config.json sizes,
// a config that does not match its weights, and class counts, each a clear error before allocation.
import XCTest
import Foundation
import Project
@testable import Model

final class UntrustedFileTests: XCTestCase {
    func testSafetensorsSizesAreCheckedWithoutOverflow() throws {
        let dir = Fixtures.temporaryDirectory()
        let cases: [(String, String)] = [
            (#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#, "an integer shape or two data_offsets (whole numbers below 2^53)"),
            (#"{"a":{"dtype":"F32","shape":[4503599627370496,4],"data_offsets":[0,16]}}"#, "needs more bytes than the file's"),
            (#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#, "needs more bytes than the file's"),
            (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,9223372036854775807]}}"#, "two data_offsets"),
            (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,4503599627370496]}}"#, "ends at byte"),
            (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[4503599627370000,4503599627370496]}}"#, "ends at byte"),
            (#"{"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,16]}}"#, "an integer shape"),
            (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,1e300]}}"#, "two data_offsets"),
            (#"{"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#, "negative dimension"),
        ]
        for (i, (header, expect)) in cases.enumerated() {
            let url = try rawFile(header, data: Array(repeating: 0, count: 16), in: dir, name: "c\(i).safetensors")
            XCTAssertThrowsError(try SafeTensorsFile(contentsOf: url), "case \(i)") { XCTAssertTrue("\($0)".contains(expect), "case \(i): \($0)") }
        }
    }

    func config(_ changes: [String: Any], in dir: URL) throws {
        try Fixtures.writeTinyCheckpoint(to: dir)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        for (k, v) in changes { json[k] = v }
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
    }

    func testConfigSizesAreBoundedBeforeAnythingIsAllocated() throws {
        for (changes, expect) in [
            (["hidden_size": 1_200_000_000], "'hidden_size' is 1200000000; expected an integer 1…16384"),
            (["num_hidden_layers": 100_000], "'num_hidden_layers' is 100000; expected an integer 1…256"),
            (["max_position_embeddings": 1e12], "'max_position_embeddings' is 1000000000000; expected an integer 1…65536"),
            (["vocab_size": 1e300], "'vocab_size' is 1e+300"),
            (["intermediate_size": 2.5], "'intermediate_size' is 2.5"),
            (["hidden_size": 16_384, "num_attention_heads": 16, "num_hidden_layers": 256, "intermediate_size": 65_536], "more than lorabook loads"),
            (["hidden_size": 80, "num_attention_heads": 2], ", expected [20, 80] from config.json"),
        ] as [([String: Any], String)] {
            let dir = Fixtures.temporaryDirectory()
            try config(changes, in: dir)
            XCTAssertThrowsError(try BertModel.load(folder: dir), "\(changes)") { XCTAssertTrue("\($0)".contains(expect), "\(changes): \($0)") }
        }
    }

    /// MiniLM's real weights under a config ten times as wide: the header check refuses it before
    /// the 4.7 GB of parameters it describes are allocated.
    func testAWideConfigAgainstRealWeightsAllocatesNothingFirst() throws {
        let real = Locations.modelFolder().url   // the setup's MiniLM-L6: tests that need it fail without it
        let dir = Fixtures.temporaryDirectory()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in ["vocab.txt", "model.safetensors"] {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(f), withDestinationURL: real.appendingPathComponent(f))
        }
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: real.appendingPathComponent("config.json"))) as! [String: Any]
        json["hidden_size"] = 3840
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        let before = Self.peakRSS()
        XCTAssertThrowsError(try BertModel.load(folder: dir)) { XCTAssertTrue("\($0)".contains("has shape [384], expected [3840] from config.json"), "\($0)") }
        XCTAssertLessThan(Self.peakRSS() - before, 500 << 20, "no gigabytes allocated before the mismatch")
    }

    static func peakRSS() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss * 1024
    }

    func testClassCountsFromFilesAreBounded() throws {
        let dir = Fixtures.temporaryDirectory()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let csv = dir.appendingPathComponent("big.csv")
        try "text,label\nhello,1000000000\n".write(to: csv, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Datasets.csv(csv, text: "text", label: "label", spec: nil)) {
            XCTAssertTrue("\($0)".contains("big.csv:2:2") && "\($0)".contains("past the largest class lorabook allows (9999)"), "\($0)")
        }
        try "text,label\nhello,1e30\n".write(to: csv, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Datasets.csv(csv, text: "text", label: "label", spec: TaskSpec(kind: .classification, classes: 5))) {
            XCTAssertTrue("\($0)".contains("out of range"), "\($0)")
        }
    }
}
