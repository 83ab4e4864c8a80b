// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the raw little-endian data; offsets are relative to the end of the header.
// The reader checks every offset against the file size before touching data; the writer writes
// F32 only and atomically (a temporary file in the same folder, then rename).
import Foundation

public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

public struct SafeTensorsFile {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range in the file (already shifted past the header).
        public let range: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let entries: [String: Entry]
    /// Names in the order of their data in the file.
    public let names: [String]
    public let metadata: [String: String]
    let data: Data

    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw ModelError.fileUnreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
        try self.init(data: data, path: url.path)
    }

    /// Reads the header of a file's bytes (`path` names it in errors); the data stays where it is.
    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        let (header, headerEnd) = try Self.header(data, path: path)
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = v as? String ?? "\(v)" }
                continue
            }
            entries[name] = try Self.entry(name, value, headerEnd: headerEnd, size: data.count, path: path)
        }
        self.entries = entries
        self.metadata = metadata
        self.names = entries.values.sorted { $0.range.lowerBound < $1.range.lowerBound }.map(\.name)
    }

    /// The JSON header, and where the data begin.
    static func header(_ data: Data, path: String) throws -> ([String: Any], Int) {
        let size = data.count
        guard size >= 8 else {
            throw ModelError.invalidSafetensors(path: path, reason: "truncated header: the file has \(size) bytes, fewer than the 8-byte header length")
        }
        let n: UInt64 = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> UInt64 in
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(raw[i]) << UInt64(8 * i) }
            return v
        }
        guard n <= UInt64(size - 8) else {
            throw ModelError.invalidSafetensors(path: path, reason: "truncated header: it declares \(n) bytes of JSON but only \(size - 8) follow")
        }
        let headerEnd = 8 + Int(n)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd))
        } catch {
            throw ModelError.invalidSafetensors(path: path, reason: "the \(n)-byte header is not valid JSON")
        }
        guard let header = json as? [String: Any] else {
            throw ModelError.invalidSafetensors(path: path, reason: "the header is not a JSON object")
        }
        return (header, headerEnd)
    }

    /// One tensor's header entry, checked against the file's size: every field present and whole,
    /// its bytes inside the file and exactly what its shape and dtype need.
    static func entry(_ name: String, _ value: Any, headerEnd: Int, size: Int, path: String) throws -> Entry {
        // whole numbers only, converted without trapping (a JSON number may be 1e300)
        func integer(_ v: Any) -> Int? {
            guard let n = v as? NSNumber else { return nil }
            let d = n.doubleValue
            return d == d.rounded() && abs(d) < 9.0e15 ? Int(d) : nil
        }
        let rawShape = ((value as? [String: Any])?["shape"] as? [Any]) ?? []
        let shape: [Int] = rawShape.compactMap(integer)
        let rawOffsets = ((value as? [String: Any])?["data_offsets"] as? [Any]) ?? []
        let offsets: [Int] = rawOffsets.compactMap(integer)
        guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
              info["shape"] is [Any], offsets.count == 2, shape.count == rawShape.count
        else {
            throw ModelError.invalidSafetensors(path: path, reason: "tensor '\(name)' lacks a dtype, an integer shape or two data_offsets (whole numbers below 2^53)")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw ModelError.unknownDType(path: path, key: name, dtype: dtypeName)
        }
        guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1] else {
            throw ModelError.invalidSafetensors(path: path, reason: "tensor '\(name)' has a negative dimension or reversed data_offsets \(offsets)")
        }
        guard offsets[1] <= size - headerEnd else {
            throw ModelError.invalidSafetensors(path: path, reason: "tensor '\(name)' ends at byte \(offsets[1]) of the data but the file has \(size - headerEnd) data bytes (truncated?)")
        }
        let begin = headerEnd + offsets[0], end = headerEnd + offsets[1]
        // the byte count of the shape, computed without overflow: a shape like [2^62, 4] is an error
        var expected = dtype.byteSize
        for d in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: d)
            guard !overflow, product <= size else {
                throw ModelError.invalidSafetensors(path: path, reason: "tensor '\(name)' of shape \(shape) needs more bytes than the file's \(size)")
            }
            expected = product
        }
        guard end - begin == expected else {
            throw ModelError.invalidSafetensors(path: path, reason: "tensor '\(name)' of shape \(shape) and dtype \(dtypeName) needs \(expected) bytes, its data_offsets span \(end - begin)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, range: begin..<end)
    }

    /// Converts a float tensor (F32, F16 or BF16; F64 narrowed) into `destination` (entry.count floats).
    public func read(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        guard let e = entries[name] else { throw ModelError.missingTensor(path: path, key: name, expectedShape: []) }
        let n = e.count
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.baseAddress! + e.range.lowerBound
            switch e.dtype {
            case .f32:
                UnsafeMutableRawPointer(destination).copyMemory(from: src, byteCount: n * 4)
            case .f16:
                for i in 0..<n { destination[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bf16:
                for i in 0..<n { destination[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
            case .f64:
                for i in 0..<n { destination[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            default:
                throw ModelError.unsupportedDType(path: path, key: name, dtype: e.dtype.rawValue)
            }
        }
    }

    /// A float tensor as a new `Tensor`.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw ModelError.missingTensor(path: path, key: name, expectedShape: []) }
        let t = Tensor(zeros: e.shape)
        try read(name, into: t.data)
        return t
    }
}

public enum SafeTensorsWriter {
    /// Writes `tensors` as F32 with `metadata`, atomically: a reader sees the old file or the whole
    /// new one, never a part (a killed run cannot corrupt a saved file).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(m)}")
        }
        var offset = 0
        for (name, t) in tensors {
            let bytes = t.count * 4
            parts.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }  // pad with spaces (allowed)
        var out = Data(capacity: 8 + headerBytes.count + offset)
        var n = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for (_, t) in tensors { out.append(UnsafeBufferPointer(start: t.data, count: t.count)) }
        try AtomicFile.write(out, to: url)
    }

    static func jsonString(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\t": r += "\\t"
            case "\r": r += "\\r"
            default:
                if u.value < 0x20 { r += String(format: "\\u%04x", u.value) } else { r.unicodeScalars.append(u) }
            }
        }
        return r + "\""
    }
}

/// Write-then-rename, so that a file is replaced whole or not at all.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try data.write(to: tmp)
            if rename(tmp.path, url.path) != 0 {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: tmp)
                throw ModelError.fileUnwritable(path: url.path, reason: "cannot replace it: \(reason)")
            }
        } catch let e as ModelError {
            throw e
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw ModelError.fileUnwritable(path: url.path, reason: (error as NSError).localizedDescription)
        }
    }
}
