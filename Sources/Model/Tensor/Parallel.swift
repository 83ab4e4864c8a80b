// Splitting element-wise work and small GEMM loops across the cores, between BLAS calls.
// The worker count follows the BLAS thread count, so the process never runs more busy threads than
// the user asked BLAS for (OpenBLAS's idle workers yield while ours run).
import Foundation

public enum Parallel {
    /// Workers of the parallel region running now (1 outside); set only by the spawning thread.
    nonisolated(unsafe) public internal(set) static var activeWorkers = 1

    /// Runs `body` on disjoint chunks of 0..<count, in parallel when it is worth it.
    @inline(__always)
    public static func chunks(_ count: Int, minChunk: Int = 64, _ body: (Range<Int>) -> Void) {
        let workers = min(BLAS.threads, max(1, count / max(minChunk, 1)))
        if workers <= 1 { body(0..<count); return }
        let step = (count + workers - 1) / workers
        activeWorkers = workers
        defer { activeWorkers = 1 }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * step, hi = min(count, lo + step)
            if lo < hi { body(lo..<hi) }
        }
    }
}
