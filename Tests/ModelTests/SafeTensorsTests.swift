// The safetensors reader and writer: round trips, half-precision dtypes, and every malformed file
// giving an error that names the file and the problem.
import XCTest
@testable import Model

final class SafeTensorsTests: XCTestCase {
    func testWriteThenReadRoundTripsWithMetadata() throws {
        let dir = Fixtures.temporaryDirectory()
        let url = dir.appendingPathComponent("a.safetensors")
        let a = Tensor(shape: [2, 3], values: [1, -2, 3.5, 4, 5, 6e-8])
        let b = Tensor(shape: [1], values: [42])
        try SafeTensorsWriter.write([("w.a", a), ("w\"b", b)], metadata: ["rank": "8", "mode": "lora"], to: url)
        let f = try SafeTensorsFile(contentsOf: url)
        XCTAssertEqual(f.metadata, ["rank": "8", "mode": "lora"])
        XCTAssertEqual(f.names, ["w.a", "w\"b"])
        XCTAssertEqual(try f.tensor("w.a").toArray(), a.toArray())
        XCTAssertEqual(try f.tensor("w.a").shape, [2, 3])
        XCTAssertEqual(try f.tensor("w\"b").toArray(), [42])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(leftovers, ["a.safetensors"], "no temporary file is left behind")
    }

    func testFailedWriteLeavesTheOldFileIntact() throws {
        let dir = Fixtures.temporaryDirectory()
        let url = dir.appendingPathComponent("keep.safetensors")
        try SafeTensorsWriter.write([("x", Tensor(shape: [1], values: [7]))], to: url)
        // Make the folder read-only so that the temporary file cannot be created.
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: dir.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir.path) }
        if getuid() != 0 {  // root ignores permissions; the rename path is covered by the round trip
            XCTAssertThrowsError(try SafeTensorsWriter.write([("x", Tensor(shape: [1], values: [8]))], to: url))
        }
        XCTAssertThrowsError(try SafeTensorsWriter.write([("x", Tensor(shape: [1], values: [9]))],
                                                         to: dir.appendingPathComponent("missing/sub.safetensors")))
        XCTAssertEqual(try SafeTensorsFile(contentsOf: url).tensor("x").toArray(), [7])
    }

    func testHalfPrecisionDTypesConvertToFloat() throws {
        let dir = Fixtures.temporaryDirectory()
        // F16: 1.0 = 0x3C00, -2.0 = 0xC000; BF16: 1.5 = 0x3FC0, -0.25 = 0xBE80
        let url = try rawFile(#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}}"#,
                              data: [0x00, 0x3C, 0x00, 0xC0, 0xC0, 0x3F, 0x80, 0xBE], in: dir)
        let f = try SafeTensorsFile(contentsOf: url)
        XCTAssertEqual(try f.tensor("h").toArray(), [1, -2])
        XCTAssertEqual(try f.tensor("b").toArray(), [1.5, -0.25])
    }

    func testMalformedFilesNameFileAndProblem() throws {
        let dir = Fixtures.temporaryDirectory()
        let cases: [(header: String?, data: [UInt8], expect: String)] = [
            (nil, [1, 2, 3], "truncated header: the file has 3 bytes"),
            ("{\"a\":", [], "is not valid JSON"),
            (#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, [0], "tensor 'a' has unknown dtype 'Q4'"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [0, 0, 0, 0], "tensor 'a' ends at byte"),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, Array(repeating: 0, count: 8), "needs 12 bytes, its data_offsets span 8"),
            (#"{"a":{"dtype":"F32","shape":[1]}}"#, [], "lacks a dtype, an integer shape or two data_offsets"),
            (#"[1,2]"#, [], "the header is not a JSON object"),
        ]
        for (i, c) in cases.enumerated() {
            let url: URL
            if let header = c.header {
                url = try rawFile(header, data: c.data, in: dir, name: "case\(i).safetensors")
            } else {
                url = dir.appendingPathComponent("case\(i).safetensors")
                try Data(c.data).write(to: url)
            }
            XCTAssertThrowsError(try SafeTensorsFile(contentsOf: url), "case \(i)") { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(url.path + ": "), "case \(i) names the file: \(text)")
                XCTAssertTrue(text.contains(c.expect), "case \(i): \(text)")
            }
        }
        // A header length larger than the file: the truncated-header message.
        let url = dir.appendingPathComponent("long.safetensors")
        var n = UInt64(1000).littleEndian
        var bytes = Data(bytes: &n, count: 8); bytes.append(contentsOf: Array("{}".utf8))
        try bytes.write(to: url)
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: url)) { error in
            XCTAssertEqual("\(error)", "\(url.path): not a valid safetensors file: truncated header: it declares 1000 bytes of JSON but only 2 follow")
        }
    }

    func testIntegerTensorsCannotBeReadAsWeights() throws {
        let dir = Fixtures.temporaryDirectory()
        let url = try rawFile(#"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8), in: dir)
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: url).tensor("ids")) { error in
            XCTAssertTrue("\(error)".contains("tensor 'ids' has dtype I64, which cannot be read as float weights"), "\(error)")
        }
    }
}
