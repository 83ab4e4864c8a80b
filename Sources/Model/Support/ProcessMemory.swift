// The process's resident memory (Linux /proc): current and peak, and resetting the peak so that one
// training run's peak can be measured on its own.
import Foundation
import CCompute

public enum ProcessMemory {
    static func status(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let digits = line.split(separator: " ").compactMap { Int($0) }
            if let kb = digits.first { return kb * 1024 }
        }
        return nil
    }
    /// Resident set size now, in bytes.
    public static var resident: Int { status("VmRSS") ?? 0 }
    /// Peak resident set size since start or the last `resetPeak`, in bytes.
    public static var peakResident: Int { status("VmHWM") ?? 0 }
    /// Bytes of heap in use now (glibc's mallinfo2: allocated chunks plus mmap'd blocks); 0 elsewhere.
    public static var heapInUse: Int {
        Int(lb_heap_in_use())
    }
    /// Resets the peak to the current size (writes 5 to /proc/self/clear_refs); false if not possible.
    @discardableResult
    public static func resetPeak() -> Bool {
        guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? h.close() }
        return (try? h.write(contentsOf: Data("5".utf8))) != nil
    }
}

/// Training memory counted from the actual buffers, in bytes.
public struct MemoryReport: Sendable, Codable {
    public var parameters: Int
    public var gradients: Int
    public var optimizer: Int
    public var activations: Int
    public var workspace: Int
    public var peakResident: Int
    /// Parameters + gradients + optimizer state + activations + workspace.
    public var training: Int { parameters + gradients + optimizer + activations + workspace }
}
