// The forward benchmark: throughput on real batches, and how close the matrix products come to the
// same GEMM shapes run alone (the machine's sgemm rate for those shapes).
import Foundation

public struct ForwardBenchmark {
    public struct ShapeRow: Sendable {
        public let label: String      // "linear NT 3200×1152×384" or "attention (per head)"
        public let calls: Int
        public let flops: Double
        public let secondsInForward: Double
        public let secondsAlone: Double
        public var gflopsInForward: Double { flops / secondsInForward / 1e9 }
        public var gflopsAlone: Double { flops / secondsAlone / 1e9 }
    }

    public struct Result: Sendable {
        public let sequences: Int
        public let tokens: Int
        public let paddedTokens: Int
        public let rounds: [Double]          // seconds per round (all batches)
        public let medianSeconds: Double
        public let sgemmSeconds: Double      // in the median round
        public let sgemmFlops: Double
        public let aloneSeconds: Double      // the same calls' shapes timed alone
        public let shapes: [ShapeRow]
        public var sequencesPerSecond: Double { Double(sequences) / medianSeconds }
        public var matmulGflops: Double { sgemmFlops / sgemmSeconds / 1e9 }
        public var aloneGflops: Double { sgemmFlops / aloneSeconds / 1e9 }
        /// Achieved matmul rate as a share of the same shapes' rate alone.
        public var matmulEfficiency: Double { aloneSeconds / sgemmSeconds }
        public var nonMatmulShare: Double { max(0, medianSeconds - sgemmSeconds) / medianSeconds }
    }

    public let model: BertModel
    public let batches: [TokenBatch]

    public init(model: BertModel, sentences: [String], batchSize: Int, maxLength: Int) throws {
        self.model = model
        var batches: [TokenBatch] = []
        var i = 0
        while i < sentences.count {
            let slice = sentences[i..<min(i + batchSize, sentences.count)]
            batches.append(try model.batch(slice.map { ($0, nil) }, maxLength: maxLength))
            i += batchSize
        }
        self.batches = batches
    }

    /// Reads the `sentence` column of an SST-style file.
    public static func sentences(from url: URL, limit: Int) throws -> [String] {
        let table = try DelimitedTable.read(contentsOf: url)
        let col = try table.column("sentence")
        return table.rows.prefix(limit).map { $0.fields.count > col ? $0.fields[col].trimmingCharacters(in: .whitespaces) : "" }
    }

    public func run(rounds: Int, progress: (String) -> Void = { _ in }) -> Result {
        let activations = BertActivations(config: model.config, keepAllLayers: false)
        progress("warm-up")
        for b in batches { _ = model.forward(b, activations: activations) }
        var times: [Double] = []
        var profiles: [GemmProfiler] = []
        for r in 0..<rounds {
            let profiler = GemmProfiler()
            BLAS.profiler = profiler
            let t0 = DispatchTime.now().uptimeNanoseconds
            for b in batches { _ = model.forward(b, activations: activations) }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            BLAS.profiler = nil
            profiles.append(profiler)
            progress("round \(r + 1)/\(rounds): \(String(format: "%.3f", times.last!)) s")
        }
        let order = times.indices.sorted { times[$0] < times[$1] }
        let mid = order[order.count / 2]
        let profile = profiles[mid]
        progress("timing the same GEMM shapes alone")
        let alone = Self.timeShapesAlone(Array(profile.entries.keys))
        // Group: the big linear products by shape; the per-head attention products together.
        var rows: [String: (calls: Int, flops: Double, inFwd: Double, alone: Double)] = [:]
        for (shape, e) in profile.entries {
            let isAttention = shape.k == model.config.headDim || shape.n == model.config.headDim
            let label = isAttention ? "attention, per sequence and head"
                : "linear \(shape.transA ? "T" : "N")\(shape.transB ? "T" : "N") rows×\(shape.n)×\(shape.k)"
            var row = rows[label] ?? (0, 0, 0, 0)
            row.calls += e.calls
            row.flops += shape.flops * Double(e.calls)
            row.inFwd += Double(e.nanoseconds) / 1e9
            row.alone += alone[shape]! * Double(e.calls)
            rows[label] = row
        }
        let shapeRows = rows.map { ShapeRow(label: $0.key, calls: $0.value.calls, flops: $0.value.flops,
                                            secondsInForward: $0.value.inFwd, secondsAlone: $0.value.alone) }
            .sorted { $0.flops > $1.flops }
        return Result(
            sequences: batches.reduce(0) { $0 + $1.batchSize }, tokens: batches.reduce(0) { $0 + $1.tokenCount },
            paddedTokens: batches.reduce(0) { $0 + $1.batchSize * $1.sequenceLength },
            rounds: times, medianSeconds: times[mid], sgemmSeconds: profile.totalSeconds, sgemmFlops: profile.totalFlops,
            aloneSeconds: shapeRows.reduce(0) { $0 + $1.secondsAlone }, shapes: shapeRows)
    }

    /// Seconds per call of each shape run alone: the same call repeated on the same buffers for at
    /// least 20 ms (after one warm-up call); the median of three such measurements.
    static func timeShapesAlone(_ shapes: [GemmShape]) -> [GemmShape: Double] {
        var result: [GemmShape: Double] = [:]
        for s in shapes {
            let lda = s.transA ? s.m : s.k, ldb = s.transB ? s.k : s.n
            let a = Tensor(zeros: [s.m * s.k]), b = Tensor(zeros: [s.k * s.n]), c = Tensor(zeros: [s.m * s.n])
            for i in 0..<a.count { a.data[i] = Float(i % 13) * 0.01 }
            for i in 0..<b.count { b.data[i] = Float(i % 7) * 0.01 }
            func call() {
                BLAS.gemm(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, a: a.data, lda: lda,
                          b: b.data, ldb: ldb, c: c.data, ldc: s.n)
            }
            call()
            var samples: [Double] = []
            for _ in 0..<3 {
                var calls = 0
                let t0 = DispatchTime.now().uptimeNanoseconds
                var t1 = t0
                repeat { call(); calls += 1; t1 = DispatchTime.now().uptimeNanoseconds } while t1 - t0 < 20_000_000
                samples.append(Double(t1 - t0) / 1e9 / Double(calls))
            }
            result[s] = samples.sorted()[1]
        }
        return result
    }
}
