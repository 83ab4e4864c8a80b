// Splitting element-wise work and GEMMs across the cores (a module of its own, below Model, so that
// its inlinable code is specialized into every caller even in unoptimized-by-file builds). The worker
// count follows Parallel.threads (set by Model's BLAS.setThreads), so the process never runs more busy
// threads than the user asked for. The workers are lorabook's own pool (CCompute/pool.c).
//
// Starting a parallel region allocates nothing, which keeps a training step free of heap
// allocation (AllocationTests). That is why the body is a closure that captures nothing and gets
// what it needs as `args`: a non-escaping closure can only reach another thread through
// `withoutActuallyEscaping`, which allocates a context on every call, while a closure with no
// captures has no context at all. A body that does capture still works, at one allocation a call.
import CCompute

public enum Parallel {
    /// Workers of the parallel region running now (1 outside); set only by the thread that starts
    /// an outermost region. A region started inside a job runs inline and leaves it alone (writing it
    /// there raced with the spawning thread: found by ThreadSanitizer, scripts/sanitize.sh).
    nonisolated(unsafe) public static var activeWorkers = 1

    @usableFromInline struct Job<Args> {
        @usableFromInline let args: Args
        @usableFromInline let body: (Args, Range<Int>) -> Void
        @usableFromInline let count: Int, step: Int
        @inlinable init(args: Args, body: @escaping (Args, Range<Int>) -> Void, count: Int, step: Int) {
            self.args = args; self.body = body; self.count = count; self.step = step
        }
    }
    /// The job with its type erased, for the C trampoline (which cannot be generic).
    @usableFromInline struct Erased {
        @usableFromInline let run: (UnsafeMutableRawPointer, Int) -> Void
        @usableFromInline let job: UnsafeMutableRawPointer
        @inlinable init(run: @escaping (UnsafeMutableRawPointer, Int) -> Void, job: UnsafeMutableRawPointer) { self.run = run; self.job = job }
    }

    /// Runs `body(args, chunk)` on disjoint chunks of 0..<count, in parallel when each worker gets at
    /// least `minChunk` items. Write `body` so that it captures nothing (pass values in `args`).
    /// Threads the regions may use (Model's BLAS keeps it equal to its own thread count).
    nonisolated(unsafe) public static var threads = 1

    @inlinable @inline(__always)
    public static func chunks<Args>(_ count: Int, minChunk: Int = 64, _ args: Args, _ body: @escaping (Args, Range<Int>) -> Void) {
        let workers = min(threads, max(1, count / max(minChunk, 1)))
        if workers <= 1 { body(args, 0..<count); return }
        run(workers: workers, count: count, args, body)
    }

    @inlinable @inline(__always)
    static func run<Args>(workers: Int, count: Int, _ args: Args, _ body: @escaping (Args, Range<Int>) -> Void) {
        let outermost = lb_pool_inside_job() == 0
        if outermost { activeWorkers = workers }
        defer { if outermost { activeWorkers = 1 } }
        var job = Job(args: args, body: body, count: count, step: (count + workers - 1) / workers)
        withUnsafeMutablePointer(to: &job) { jp in
            var erased = Erased(run: { raw, w in
                let job = raw.assumingMemoryBound(to: Job<Args>.self)
                let lo = w * job.pointee.step, hi = min(job.pointee.count, lo + job.pointee.step)
                if lo < hi { job.pointee.body(job.pointee.args, lo..<hi) }
            }, job: UnsafeMutableRawPointer(jp))
            withUnsafeMutablePointer(to: &erased) { ep in
                _ = lb_pool_run(Int32(workers), { ctx, w in
                    let e = ctx!.assumingMemoryBound(to: Erased.self)
                    e.pointee.run(e.pointee.job, Int(w))
                }, ep)
            }
        }
    }
}
