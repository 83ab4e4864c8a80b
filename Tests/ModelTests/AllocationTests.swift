// A training step in the steady state allocates nothing on the heap: every buffer is sized up front
// (Network.reserve) and reused, parallel regions start without allocating (Workers), and the head
// and loss write into the network's buffers. Counted with ordo-one's malloc interposer, which the
// test binary links (its malloc and free come before libc's for the whole process; counting is on
// only between hook and unhook).
import XCTest
import MallocInterposerSwift
import CCompute
@testable import Model

final class AllocationTests: XCTestCase {
    /// AddressSanitizer and ThreadSanitizer replace malloc themselves, so the interposer counts
    /// nothing there (scripts/sanitize.sh says which sanitizer runs).
    override func setUpWithError() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["LORABOOK_SANITIZER"] != nil,
                      "allocation counting needs the real malloc; \(ProcessInfo.processInfo.environment["LORABOOK_SANITIZER"] ?? "") sanitizer replaces it")
    }

    /// Heap allocations (malloc, calloc, realloc, posix_memalign …) made while `body` runs.
    func allocations(_ body: () -> Void) -> Int {
        MallocInterposerSwift.initialize()
        MallocInterposerSwift.hook()
        body()
        MallocInterposerSwift.unhook()
        let s = MallocInterposerSwift.getStatistics()
        return s.mallocCount   // every allocation call: malloc, calloc, realloc growth, aligned paths
    }

    /// The counter sees an allocation when there is one (otherwise a 0 below would prove nothing).
    func testCounterSeesAnArrayAllocation() {
        let n = allocations { var a = [Int](repeating: 0, count: 1000); a[3] = 1; blackHole(a) }
        XCTAssertGreaterThanOrEqual(n, 1)
    }

    /// Zeroing gradients, forward, loss, backward and the AdamW update, for each mode and precision,
    /// after two warm-up steps on the same batch shapes. fp32 steps and amp on the reference backend
    /// allocate nothing. On oneDNN, each product's execution allocates a few small blocks inside the
    /// library (its C API builds a map of the arguments per call, and its gemm:jit kernels for runtime
    /// shapes allocate their packing buffers); the test bounds those per product,
    /// so that any allocation of lorabook's own would still show.
    func testTrainingStepAllocatesNothingInSteadyState() throws {
        let model = try Fixtures.model.get()
        let texts = ["short", "a somewhat longer sentence about a film", "the longest of these sentences , by a few words , is this one here"]
        let batch = try model.batch(texts.map { ($0, nil) })
        let targets = BatchLabels.classes([1, 2, 3])
        let hardware = lb_bf16_backend()
        defer { _ = lb_bf16_set_backend(hardware) }
        for (amp, backend) in [(false, hardware), (true, 0), (true, hardware)] {
            _ = lb_bf16_set_backend(backend)
            for mode in [AdaptationMode.lora, .dora, .full, .head] {
                var config = AdaptationConfig(mode: mode, rank: 2, targets: AdapterTarget.encoder)
                config.amp = amp
                let net = try Network(model: model, adaptation: config)
                let head = net.addHead("sst", kind: .classification, classes: 5)
                net.reserve(sequenceLengths: [batch.lengths])
                let trainables = net.trainables
                let opt = AdamW(trainables)
                func step(_ s: UInt64) {
                    net.zeroGradients()
                    _ = net.lossAndGradients(batch, head: head, labels: targets, stepSeed: s)
                    opt.update(trainables, learningRate: 1e-3)
                }
                step(0); step(1)
                let products = lb_bf16_executions()
                let n = allocations { step(2); step(3) }
                let inOneDNN = lb_bf16_executions() - products
                let what = "\(mode) amp=\(amp) backend=\(backend == 1 ? "oneDNN" : "reference")"
                if inOneDNN == 0 {
                    XCTAssertEqual(n, 0, "\(what): heap allocations in two steady-state steps")
                } else {
                    XCTAssertLessThanOrEqual(n, 12 * inOneDNN, "\(what): \(n) heap allocations for \(inOneDNN) oneDNN products")
                    XCTAssertGreaterThan(inOneDNN, 0)
                }
            }
        }
    }
}

@inline(never) func blackHole<T>(_ x: T) {}
