// TensorBoard event files: what TensorBoard, tbparse and W&B's sync read.
//
// A file `events.out.tfevents.TIME.HOST.PID.N` is a sequence of records:
//   uint64 length (little-endian) · uint32 masked CRC32C of those 8 bytes · length bytes of data ·
//   uint32 masked CRC32C of the data;   masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8
// Each record's data is an `Event` protobuf (tensorflow/core/util/event.proto):
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
// The first event holds file_version "brain.Event:2"; every scalar is one event with one value.
// Records are appended and flushed as they come, so TensorBoard shows a run while it trains; a killed
// run leaves at most a truncated last record, which readers skip.
import Foundation

public final class TensorBoardWriter {
    public let url: URL
    private let handle: FileHandle
    private static var counter = 0
    private static let lock = NSLock()

    /// Creates the folder and a new event file in it.
    public init(folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        Self.lock.lock(); Self.counter += 1; let n = Self.counter; Self.lock.unlock()
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let name = "events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).\(ProcessInfo.processInfo.processIdentifier).\(n)"
        url = folder.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let h = FileHandle(forWritingAtPath: url.path) else {
            throw ModelError.fileUnwritable(path: url.path, reason: "it cannot be created")
        }
        handle = h
        var event = Protobuf()
        event.double(1, Date().timeIntervalSince1970)
        event.string(3, "brain.Event:2")
        write(event.bytes)
    }

    deinit { try? handle.close() }

    /// One scalar at a step (wall time: now).
    public func scalar(_ tag: String, _ value: Double, step: Int, wallTime: Double = Date().timeIntervalSince1970) {
        var v = Protobuf()
        v.string(1, tag)
        v.float(2, Float(value))
        var summary = Protobuf()
        summary.message(1, v)
        var event = Protobuf()
        event.double(1, wallTime)
        event.varint(2, UInt64(bitPattern: Int64(step)))
        event.message(5, summary)
        write(event.bytes)
    }

    private func write(_ data: [UInt8]) {
        var record: [UInt8] = []
        record.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
        record += length
        record += withUnsafeBytes(of: CRC32C.masked(length).littleEndian, Array.init)
        record += data
        record += withUnsafeBytes(of: CRC32C.masked(data).littleEndian, Array.init)
        handle.write(Data(record))
    }

    /// Flushes to the disk.
    public func close() { try? handle.synchronize(); try? handle.close() }
}

/// Reads the scalars of an event file back, checking every record's checksums. A truncated last
/// record (a run killed while writing) ends the file; a corrupt record is an error.
public enum TensorBoardReader {
    public struct Scalar: Equatable, Sendable { public let step: Int; public let tag: String; public let value: Float; public let wallTime: Double }

    public static func scalars(_ url: URL) throws -> (version: String?, scalars: [Scalar]) {
        let bytes = [UInt8](try Data(contentsOf: url))
        var at = 0, version: String?, scalars: [Scalar] = []
        func u32(_ i: Int) -> UInt32 { bytes[i..<i + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        while at + 12 <= bytes.count {
            let lengthBytes = Array(bytes[at..<at + 8])
            guard u32(at + 8) == CRC32C.masked(lengthBytes) else { throw ModelError.invalidSafetensors(path: url.path, reason: "record at byte \(at): bad length checksum") }
            let length = Int(lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            guard at + 12 + length + 4 <= bytes.count else { break }   // truncated last record
            let data = Array(bytes[at + 12..<at + 12 + length])
            guard u32(at + 12 + length) == CRC32C.masked(data) else { throw ModelError.invalidSafetensors(path: url.path, reason: "record at byte \(at): bad data checksum") }
            at += 12 + length + 4
            var wall = 0.0, step = 0
            var values: [(String, Float)] = []
            for (field, value) in try Protobuf.fields(data, path: url.path) {
                switch (field, value) {
                case (1, .fixed64(let bits)): wall = Double(bitPattern: bits)
                case (2, .varint(let v)): step = Int(Int64(bitPattern: v))
                case (3, .bytes(let b)): version = String(decoding: b, as: UTF8.self)
                case (5, .bytes(let summary)):
                    for case (1, .bytes(let v)) in try Protobuf.fields(summary, path: url.path) {
                        var tag = "", number: Float = 0
                        for (f, x) in try Protobuf.fields(v, path: url.path) {
                            if f == 1, case .bytes(let t) = x { tag = String(decoding: t, as: UTF8.self) }
                            if f == 2, case .fixed32(let bits) = x { number = Float(bitPattern: bits) }
                        }
                        values.append((tag, number))
                    }
                default: break
                }
            }
            scalars += values.map { Scalar(step: step, tag: $0.0, value: $0.1, wallTime: wall) }
        }
        return (version, scalars)
    }
}

/// The few protobuf encodings an event needs (varint, 64- and 32-bit, length-delimited).
struct Protobuf {
    var bytes: [UInt8] = []

    mutating func key(_ field: Int, _ wire: UInt64) { varintRaw(UInt64(field) << 3 | wire) }
    mutating func varintRaw(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func varint(_ field: Int, _ v: UInt64) { key(field, 0); varintRaw(v) }
    mutating func double(_ field: Int, _ v: Double) { key(field, 1); bytes += withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
    mutating func float(_ field: Int, _ v: Float) { key(field, 5); bytes += withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
    mutating func raw(_ field: Int, _ b: [UInt8]) { key(field, 2); varintRaw(UInt64(b.count)); bytes += b }
    mutating func string(_ field: Int, _ s: String) { raw(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ m: Protobuf) { raw(field, m.bytes) }

    enum Value { case varint(UInt64), fixed64(UInt64), fixed32(UInt32), bytes([UInt8]) }

    /// The top-level fields of a message, in order.
    static func fields(_ b: [UInt8], path: String) throws -> [(Int, Value)] {
        var out: [(Int, Value)] = [], i = 0
        func bad() -> ModelError { .invalidSafetensors(path: path, reason: "an event is not a valid protobuf message") }
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < b.count, shift < 64 else { throw bad() }
                let byte = b[i]; i += 1
                v |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return v }
                shift += 7
            }
        }
        func take(_ n: Int) throws -> [UInt8] {
            guard n >= 0, i + n <= b.count else { throw bad() }
            defer { i += n }
            return Array(b[i..<i + n])
        }
        while i < b.count {
            let key = try varint()
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: out.append((field, .varint(try varint())))
            case 1: out.append((field, .fixed64(try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) })))
            case 2:
                let n = try varint()
                guard n <= UInt64(b.count) else { throw bad() }
                out.append((field, .bytes(try take(Int(n)))))
            case 5: out.append((field, .fixed32(try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) })))
            default: throw bad()
            }
        }
        return out
    }
}

/// CRC-32C (Castagnoli), as TFRecord framing uses it.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func masked(_ bytes: [UInt8]) -> UInt32 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}
