// lorabook's door to OpenBLAS: row-major GEMM, the core type and thread count the library runs
// with, and an optional per-shape profiler used by `lorabook bench`. (The other callers of OpenBLAS:
// CCompute' bf16.c, whose fallback without oneDNN multiplies widened operands with cblas_sgemm, and
// Spectrum/Truncation, which call LAPACK's dgesvd.)
import Workers
import COpenBLAS
import CCompute
import Foundation

public enum BLAS {
    /// Where the core type came from.
    public enum CoreOrigin: String, Sendable {
        case detected = "detected by OpenBLAS"
        case repaired = "repaired by lorabook"
        case user = "set by OPENBLAS_CORETYPE"
        /// `LORABOOK_BLAS_CORE`: lorabook's own setting, taken as it is.
        case forced = "set by LORABOOK_BLAS_CORE"
        /// OPENBLAS_CORETYPE named kernels narrower than the CPU's vectors; lorabook chose instead.
        case replacedUserSetting = "chosen by lorabook"
    }

    /// Makes sure the core-type repair ran (the C constructor normally did it before any Swift code).
    @discardableResult
    public static func initialize() -> String {
        if let p = lb_blas_core_fix() { return String(cString: p) }
        return "unknown"
    }

    /// The kernel family OpenBLAS runs with now (e.g. "SkylakeX").
    public static var coreName: String {
        initialize()
        return lb_blas_current_core().map { String(cString: $0) } ?? "unknown (not OpenBLAS)"
    }

    /// What OpenBLAS detected on its own, before any repair (e.g. "Prescott" on this Xeon).
    public static var detectedCoreName: String {
        initialize()
        return lb_blas_detected_core().map { String(cString: $0) } ?? "unknown"
    }

    public static var coreOrigin: CoreOrigin {
        initialize()
        switch lb_blas_core_origin() {
        case 1: return .repaired
        case 2: return .user
        case 3: return .forced
        case 4: return .replacedUserSetting
        default: return .detected
        }
    }

    /// Who splits a large GEMM across the cores.
    public enum Threading: String, Sendable {
        /// OpenBLAS's own thread pool (`LORABOOK_GEMM_THREADING=openblas`).
        case openblas
        /// lorabook's workers, each running single-threaded OpenBLAS on a slice of the output rows
        /// (or columns): one thread pool for GEMMs and element-wise work alike, no hand-offs between
        /// two pools, no OpenBLAS threads spinning while ours work. The default: measured 10–25%
        /// faster training steps on 2 cores (docs/performance.md).
        case lorabook
    }

    private struct State { var threads: Int; var threading: Threading }
    nonisolated(unsafe) private static var state: State = {
        initialize()
        let threading = Threading(rawValue: ProcessInfo.processInfo.environment["LORABOOK_GEMM_THREADING"] ?? "") ?? .lorabook
        let n = Int(openblas_get_num_threads())
        if threading == .lorabook { openblas_set_num_threads(1) }
        lb_set_threads(Int32(n)); Parallel.threads = n
        return State(threads: n, threading: threading)
    }()

    /// The number of cores lorabook uses (GEMMs, element-wise loops, oneDNN).
    public static var threads: Int { state.threads }
    public static var threading: Threading { state.threading }

    /// Sets the number of threads (call between, never during, BLAS calls).
    public static func setThreads(_ n: Int) {
        precondition(n >= 1, "thread count must be positive")
        state.threads = n
        openblas_set_num_threads(Int32(state.threading == .openblas ? n : 1))
        lb_set_threads(Int32(n)); Parallel.threads = n
    }

    /// Switches who splits GEMMs (benchmarks compare the two).
    public static func setThreading(_ t: Threading) {
        state.threading = t
        openblas_set_num_threads(Int32(t == .openblas ? state.threads : 1))
    }

    /// The OPENBLAS_CORETYPE the process started with, if any.
    public static var userCoreSetting: String? {
        initialize()
        return lb_blas_user_core().map { String(cString: $0) }
    }

    /// One line for reports: "SkylakeX (repaired by lorabook; OpenBLAS detected Prescott), 2 threads".
    public static var summary: String {
        let core = coreName
        var s = core + " (" + coreOrigin.rawValue
        if coreOrigin == .repaired { s += "; OpenBLAS detected \(detectedCoreName)" }
        if coreOrigin == .replacedUserSetting {
            s += " over OPENBLAS_CORETYPE=\(userCoreSetting ?? "?"), whose kernels are narrower than this CPU's vectors; LORABOOK_BLAS_CORE=\(userCoreSetting ?? "NAME") keeps it"
        }
        return s + "), \(threads) thread" + (threads == 1 ? "" : "s") + (threading == .lorabook ? " (GEMMs split by lorabook)" : "")
    }

    /// When set, every `gemm` call is timed and counted per shape.
    nonisolated(unsafe) public static var profiler: GemmProfiler?

    /// C[m, n] = alpha · op(A) · op(B) + beta · C, all row-major; op(X) = Xᵀ when `trans…` is true.
    /// A is [m, k] (or [k, m] transposed) with leading dimension lda; B is [k, n] (or [n, k]).
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        profiled(GemmShape(transA: transA, transB: transB, m: m, n: n, k: k)) {
            call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
    }

    /// Runs a product, timed into the profiler when one is set (the bf16 products too).
    @inline(__always)
    static func profiled(_ shape: @autoclosure () -> GemmShape, _ product: () -> Void) {
        guard let profiler else { return product() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        product()
        profiler.record(shape(), nanoseconds: DispatchTime.now().uptimeNanoseconds - t0)
    }

    /// C (rows, r) = alpha · X Wᵀ for a small r (LoRA/DoRA's rank): X (rows, K) with row stride ldx,
    /// W (r, K) contiguous. lorabook's own kernel (CCompute/lowrank.c), rows split across the workers;
    /// the profiler counts it as the GEMM it replaces.
    @inline(__always)
    public static func rankProduct(_ C: UnsafeMutablePointer<Float>, ldc: Int, x X: UnsafePointer<Float>, ldx: Int,
                                   w W: UnsafePointer<Float>, rows: Int, rank r: Int, k K: Int, alpha: Float = 1) {
        if rows == 0 || r == 0 { return }
        let t0 = profiler == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        Parallel.chunks(rows, minChunk: 64, (C, ldc, X, ldx, W, r, K, alpha)) { a, rr in
            lb_rank_product(a.0 + rr.lowerBound * a.1, a.1, a.2 + rr.lowerBound * a.3, a.3, a.4, rr.count, a.5, a.6, a.7)
        }
        profiler?.record(GemmShape(transA: false, transB: true, m: rows, n: r, k: K), nanoseconds: DispatchTime.now().uptimeNanoseconds - t0)
    }

    /// C (r, K) += alpha · Pᵀ X, a reduction over `rows` tokens for a small r: P (rows, r) with row
    /// stride ldp, X (rows, K) with row stride ldx; C with row stride ldc, or C (K, r) when
    /// `transposedC`. lorabook's own kernel (CCompute/lowrank.c), the columns split across the
    /// workers; the profiler counts it as the GEMM it replaces.
    @inline(__always)
    public static func rankAccumulate(_ C: UnsafeMutablePointer<Float>, ldc: Int, transposedC: Bool = false,
                                      p P: UnsafePointer<Float>, ldp: Int, x X: UnsafePointer<Float>, ldx: Int,
                                      rows: Int, rank r: Int, k K: Int, alpha: Float = 1) {
        if rows == 0 || r == 0 || K == 0 { return }
        let t0 = profiler == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        Parallel.chunks(K, minChunk: 128, (C, ldc, transposedC ? Int32(1) : 0, P, ldp, X, ldx, rows, r, alpha)) { a, kr in
            lb_rank_accumulate(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, kr.lowerBound, kr.upperBound, a.9)
        }
        profiler?.record(GemmShape(transA: true, transB: false, m: transposedC ? K : r, n: transposedC ? r : K, k: rows),
                         nanoseconds: DispatchTime.now().uptimeNanoseconds - t0)
    }

    @inline(__always)
    static func call(
        _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        let T = state.threads
        if state.threading == .lorabook && T > 1 && Parallel.activeWorkers == 1 && Double(m) * Double(n) * Double(k) >= 2e6 {
            let args = GemmArgs(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            if m >= n {   // slices of C's rows: rows of op(A)
                Parallel.chunks(m, minChunk: 16, args) { g, r in g.rows(r) }
            } else {      // slices of C's columns: columns of op(B)
                Parallel.chunks(n, minChunk: 16, args) { g, r in g.columns(r) }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }

    /// The naive reference product in Double (tests check the fast path against it on odd shapes).
    public static func referenceGemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(x) * Double(y)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * s + old)
            }
        }
    }
}

/// One product's arguments, handed to the workers that split it.
struct GemmArgs {
    let transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float
    let a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    @inline(__always)
    init(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
         _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        self.transA = transA; self.transB = transB; self.m = m; self.n = n; self.k = k; self.alpha = alpha
        self.a = a; self.lda = lda; self.b = b; self.ldb = ldb; self.beta = beta; self.c = c; self.ldc = ldc
    }
    var opA: CBLAS_TRANSPOSE { transA ? CblasTrans : CblasNoTrans }
    var opB: CBLAS_TRANSPOSE { transB ? CblasTrans : CblasNoTrans }
    /// Rows r of C (rows of op(A)), single-threaded.
    func rows(_ r: Range<Int>) {
        let aSlice = transA ? a + r.lowerBound : a + r.lowerBound * lda
        cblas_sgemm(CblasRowMajor, opA, opB, blasint(r.count), blasint(n), blasint(k), alpha, aSlice, blasint(lda),
                    b, blasint(ldb), beta, c + r.lowerBound * ldc, blasint(ldc))
    }
    /// Columns r of C (columns of op(B)), single-threaded.
    func columns(_ r: Range<Int>) {
        let bSlice = transB ? b + r.lowerBound * ldb : b + r.lowerBound
        cblas_sgemm(CblasRowMajor, opA, opB, blasint(m), blasint(r.count), blasint(k), alpha, a, blasint(lda),
                    bSlice, blasint(ldb), beta, c + r.lowerBound, blasint(ldc))
    }
}

/// A GEMM shape, as the profiler groups calls.
public struct GemmShape: Hashable, Sendable, CustomStringConvertible {
    public var transA: Bool, transB: Bool
    public var m: Int, n: Int, k: Int
    /// A bf16 × bf16 → fp32 product (mixed precision).
    public var bf16: Bool
    public init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, bf16: Bool = false) {
        self.transA = transA; self.transB = transB; self.m = m; self.n = n; self.k = k; self.bf16 = bf16
    }
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    public var description: String { "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)×\(n)×\(k)\(bf16 ? " bf16" : "")" }
}

/// Time and call counts per GEMM shape. A call made while W workers run GEMMs concurrently
/// (`Parallel.chunks`) counts for 1/W of its time, so the total stays a share of wall time.
public final class GemmProfiler: @unchecked Sendable {
    public struct Entry: Sendable { public var calls = 0; public var nanoseconds: UInt64 = 0 }
    public private(set) var entries: [GemmShape: Entry] = [:]
    private let lock = NSLock()
    public init() {}
    func record(_ shape: GemmShape, nanoseconds: UInt64) {
        let share = nanoseconds / UInt64(max(1, Parallel.activeWorkers))
        lock.lock()
        entries[shape, default: Entry()].calls += 1
        entries[shape, default: Entry()].nanoseconds += share
        lock.unlock()
    }
    public var totalSeconds: Double { Double(entries.values.reduce(0) { $0 + $1.nanoseconds }) / 1e9 }
    public var totalFlops: Double { entries.reduce(0) { $0 + $1.key.flops * Double($1.value.calls) } }
    public func reset() { entries = [:] }
}
