// `lorabook bench`: performance measurements (see docs/performance.md).
import ArgumentParser
import Foundation
import Model

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: `bench forward` (inference throughput and GEMM efficiency).",
        subcommands: [BenchForward.self])
}

struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Forward throughput on batches of SST dev sentences, with the GEMM rate against the same shapes alone.")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Data folder holding ids-sst-dev.csv (default: $LORABOOK_DATA or ../shared/data).")
    var data: String?

    @Option(name: .long, help: "Sentences per batch.")
    var batch = 64

    @Option(name: .long, help: "Batches per round (consecutive dev sentences, padded to each batch's longest).")
    var batches = 8

    @Option(name: .long, help: "Timed rounds; the median round is reported.")
    var rounds = 5

    @Option(name: .long, help: "Maximum tokens per sentence.")
    var maxLength = 128

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        for (name, v) in [("--batch", batch), ("--batches", batches), ("--rounds", rounds)] where v < 1 {
            throw ValidationError("\(name) must be at least 1, got \(v).")
        }
    }

    func run() throws {
        let model = try options.load()
        let file = Locations.dataFolder(data).url.appendingPathComponent("ids-sst-dev.csv")
        let sentences = try ForwardBenchmark.sentences(from: file, limit: batch * batches)
        let bench = try ForwardBenchmark(model: model, sentences: sentences, batchSize: batch, maxLength: maxLength)
        let r = bench.run(rounds: rounds) { FileHandle.standardError.write(Data("bench: \($0)\n".utf8)) }
        if json {
            let object: [String: Any] = [
                "blas_core": BLAS.coreName, "threads": BLAS.threads, "model": model.config.name,
                "sequences": r.sequences, "tokens": r.tokens, "padded_tokens": r.paddedTokens, "batch": batch,
                "seq_per_s": r.sequencesPerSecond, "median_s": r.medianSeconds, "rounds_s": r.rounds,
                "matmul_gflops": r.matmulGflops, "sgemm_alone_gflops": r.aloneGflops,
                "matmul_efficiency": r.matmulEfficiency, "non_matmul_share": r.nonMatmulShare,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("lorabook \(Model.Lorabook.version) bench forward: \(model.config.name), OpenBLAS core \(BLAS.summary)")
        print("\(r.sequences) SST dev sentences in batches of \(batch): \(r.tokens) tokens, \(r.paddedTokens) with padding; median of \(rounds) rounds")
        print("")
        print(pad("GEMM", 44) + pad("calls", 8, right: true) + pad("GFLOP", 9, right: true) + pad("GFLOP/s fwd", 13, right: true) + pad("alone", 9, right: true) + pad("ratio", 8, right: true))
        for s in r.shapes {
            print(pad(s.label, 44) + pad("\(s.calls)", 8, right: true) + pad(f(s.flops / 1e9, 2), 9, right: true)
                  + pad(f(s.gflopsInForward, 1), 13, right: true) + pad(f(s.gflopsAlone, 1), 9, right: true)
                  + pad(f(s.secondsAlone / s.secondsInForward * 100, 0) + "%", 8, right: true))
        }
        print("")
        print("throughput:        \(f(r.sequencesPerSecond, 1)) sequences/s (\(f(Double(r.tokens) / r.medianSeconds, 0)) tokens/s)")
        print("matmul rate:       \(f(r.matmulGflops, 1)) GFLOP/s in the forward; the same shapes alone: \(f(r.aloneGflops, 1)) GFLOP/s (\(f(r.matmulEfficiency * 100, 0))%)")
        print("outside sgemm:     \(f(r.nonMatmulShare * 100, 1))% of forward time (softmax, LayerNorm, GELU, bias, copies)")
    }

    func f(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
    func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
        s.count >= w ? s + " " : (right ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count))
    }
}
