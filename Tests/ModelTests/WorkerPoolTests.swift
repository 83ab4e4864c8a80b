// lorabook's worker pool (CCompute/pool.c through Workers.Parallel): every index of every region runs
// exactly once, whatever mix of region sizes follows another, with more threads than cores, and a
// region started from inside a region runs inline.
import XCTest
import Workers
@testable import Model

final class WorkerPoolTests: XCTestCase {
    func testEveryIndexRunsExactlyOnceAcrossMixedRegions() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        let n = 10_000
        let hits = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { hits.deallocate() }
        var rng = SplitMix64(seed: 7)
        for threads in [2, 3, 5] {
            Parallel.threads = threads
            for round in 0..<300 {
                // 1 to n items with chunk sizes that give 1 to `threads` workers (helpers idle in some)
                let count = 1 + Int(rng.next() % UInt64(n)), minChunk = 1 + Int(rng.next() % 4000)
                hits.initialize(repeating: 0, count: count)
                Parallel.chunks(count, minChunk: minChunk, hits) { h, r in for i in r { h[i] += 1 } }
                for i in 0..<count where hits[i] != 1 {
                    XCTFail("threads \(threads), round \(round): index \(i) of \(count) ran \(hits[i]) times"); return
                }
            }
        }
    }

    func testNestedRegionRunsInline() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        let out = UnsafeMutablePointer<Int>.allocate(capacity: 64 * 64)
        defer { out.deallocate() }
        out.initialize(repeating: 0, count: 64 * 64)
        Parallel.chunks(64, minChunk: 1, out) { o, rows in
            for r in rows {
                Parallel.chunks(64, minChunk: 1, (o, r)) { a, cols in for c in cols { a.0[a.1 * 64 + c] = a.1 * 64 + c } }
            }
        }
        XCTAssertEqual((0..<(64 * 64)).filter { out[$0] != $0 }.count, 0)
    }
}
