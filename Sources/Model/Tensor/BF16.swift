// bf16 for mixed precision (`amp`): storage, conversions and the bf16 × bf16 → fp32 product.
// The C side (CCompute/bf16.c) picks the backend: oneDNN (AMX or AVX512-BF16) where it pays, else
// the reference path (operands widened to fp32, OpenBLAS sgemm): same numerics, no speed-up.
import Workers
import CCompute
import Foundation

/// 64-byte aligned bf16 storage (raw UInt16 bit patterns), zero-initialised.
public final class BF16Buffer: @unchecked Sendable {
    public let base: UnsafeMutablePointer<UInt16>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "negative buffer size")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 2, alignment: 64)
        base = raw.bindMemory(to: UInt16.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
        self.count = count
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    public var byteCount: Int { count * 2 }
}

public enum BF16 {
    public enum Backend: String, Sendable {
        /// oneDNN's matmul on AMX-BF16 or AVX512-BF16.
        case oneDNN = "oneDNN"
        /// bf16 operands widened to fp32 and multiplied by OpenBLAS.
        case reference
    }

    public static var backend: Backend { lb_bf16_backend() == 1 ? .oneDNN : .reference }

    /// Forces a backend (tests compare the two); returns the one in use (oneDNN may not load).
    @discardableResult
    public static func use(_ b: Backend) -> Backend {
        lb_bf16_set_backend(b == .oneDNN ? 1 : 0) == 1 ? .oneDNN : .reference
    }

    /// Back to the automatic choice (oneDNN where the CPU has bf16 instructions).
    public static func useAutomatic() { lb_bf16_set_backend(-1) }

    /// One line for reports: what `amp` does on this machine.
    public static var note: String { String(cString: lb_bf16_note()) }

    /// oneDNN primitives created so far and the seconds their creation took.
    public static var creationStats: (primitives: Int, seconds: Double) {
        var n = 0, t = 0.0
        lb_bf16_stats(&n, &t)
        return (n, t)
    }

    /// oneDNN's kernel name once a product ran (e.g. "brg:avx512_core_amx_bf16"), else "".
    public static var implementation: String { String(cString: lb_bf16_impl()) }

    public static var summary: String {
        let impl = implementation
        return note + (impl.isEmpty ? "" : " (\(impl))")
    }

    /// y[i] = bf16(x[i]), round to nearest even.
    @inline(__always)
    public static func convert(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<UInt16>, count: Int) {
        Parallel.chunks(count, minChunk: 1 << 15, (x, y)) { a, r in lb_f32_to_bf16(a.1 + r.lowerBound, a.0 + r.lowerBound, r.count) }
    }

    /// rows × cols with row strides.
    public static func convert(_ x: UnsafePointer<Float>, ldx: Int, to y: UnsafeMutablePointer<UInt16>, ldy: Int, rows: Int, cols: Int) {
        Parallel.chunks(rows, minChunk: 64, (x, ldx, y, ldy, cols)) { a, r in
            lb_f32_to_bf16_rows(a.2 + r.lowerBound * a.3, a.3, a.0 + r.lowerBound * a.1, a.1, r.count, a.4)
        }
    }

    public static func widen(_ x: UnsafePointer<UInt16>, to y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.chunks(count, minChunk: 1 << 15, (x, y)) { a, r in lb_bf16_to_f32(a.1 + r.lowerBound, a.0 + r.lowerBound, r.count) }
    }

    public static func round(_ x: Float) -> Float {
        var h: UInt16 = 0, f: Float = 0, v = x
        lb_f32_to_bf16(&h, &v, 1)
        lb_bf16_to_f32(&f, &h, 1)
        return f
    }

    /// C[m, n] = op(A) · op(B) + beta · C (row-major, bf16 operands, fp32 C and accumulation); the
    /// amp products never scale, so there is no alpha.
    @inline(__always)
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        BLAS.profiled(GemmShape(transA: transA, transB: transB, m: m, n: n, k: k, bf16: true)) {
            lb_bf16_gemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}
