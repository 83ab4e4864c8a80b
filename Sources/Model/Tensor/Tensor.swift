// Tensors: a contiguous row-major Float array with a shape. A `Tensor` is a view (offset + shape)
// into a reference-counted `FloatBuffer`, so parameters can live in one contiguous block (for the
// optimizer) and activations in one arena, while code still names them one by one.

/// 64-byte aligned storage for Floats, zero-initialised, freed when the last view goes away.
public final class FloatBuffer: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "negative buffer size")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
        self.count = count
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    public var byteCount: Int { count * MemoryLayout<Float>.stride }
}

public struct Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let storage: FloatBuffer
    public let offset: Int

    /// A new zero-filled tensor.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = FloatBuffer(count: shape.reduce(1, *))
        self.offset = 0
    }

    /// A new tensor holding `values` (row-major).
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view of `shape` starting `offset` floats into `storage`.
    public init(storage: FloatBuffer, offset: Int, shape: [Int]) {
        precondition(offset >= 0 && offset + shape.reduce(1, *) <= storage.count, "view out of range")
        self.storage = storage
        self.offset = offset
        self.shape = shape
    }

    public var count: Int { shape.reduce(1, *) }
    public var data: UnsafeMutablePointer<Float> { storage.base + offset }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: newShape)
    }

    /// Row `i` of the leading dimension, as a tensor of the remaining shape.
    public func row(_ i: Int) -> Tensor {
        let rest = Array(shape.dropFirst())
        let width = rest.reduce(1, *)
        precondition(i >= 0 && i < shape[0], "row \(i) out of range for shape \(shape)")
        return Tensor(storage: storage, offset: offset + i * width, shape: rest)
    }

    public func toArray() -> [Float] { Array(buffer) }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }
}
