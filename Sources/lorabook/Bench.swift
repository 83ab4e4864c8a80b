// `lorabook bench`: performance measurements (see docs/performance.md).
import ArgumentParser
import Foundation
import Project
import Model

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: `bench forward` (inference) and `bench train` (training steps).",
        subcommands: [BenchForward.self, BenchTrain.self])
}

/// What both benchmarks read: SST sentences from the data folder, cut to a length.
struct SSTInput: ParsableArguments {
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }
    @Option(name: .long, help: "Maximum tokens per sentence.") var maxLength = 128
}

struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forward", abstract: "Forward throughput on batches of SST dev sentences, with the GEMM rate against the same shapes alone.")

    @OptionGroup var options: ModelOptions
    @OptionGroup var input: SSTInput
    @Option(name: .long, help: "Sentences per batch.") var batch = 64
    @Option(name: .long, help: "Batches per round (consecutive dev sentences, padded to each batch's longest).") var batches = 8
    @Option(name: .long, help: "Timed rounds; the median round is reported.") var rounds = 5
    @Flag(name: .long, help: "Print one JSON object instead of a table.") var json = false

    func validate() throws {
        for (name, v) in [("--batch", batch), ("--batches", batches), ("--rounds", rounds)] where v < 1 {
            throw ValidationError("\(name) must be at least 1, got \(v).")
        }
    }

    func run() throws {
        let model = try options.load()
        let file = Locations.dataFolder(input.data).url.appendingPathComponent("ids-sst-dev.csv")
        let sentences = try ForwardBenchmark.sentences(from: file, limit: batch * batches)
        let bench = try ForwardBenchmark(model: model, sentences: sentences, batchSize: batch, maxLength: input.maxLength)
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
        print("lorabook \(LorabookVersion.current) bench forward: \(model.config.name), OpenBLAS core \(BLAS.summary)")
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

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Time training steps on real SST batches for one configuration, or for the anchor's set when no --mode is given.")

    @OptionGroup var options: ModelOptions
    @OptionGroup var input: SSTInput
    @Option(name: .long, help: "full, head, lora, dora or adalora, or several separated by commas, measured one after the other in this run (default: the anchor's set of configurations).") var mode: String?
    @Option(name: .long, help: "Adapter rank.") var rank = 8
    @Option(name: .long, help: "Adapter targets: attention, qkv, attention-all, all-linear or a list.") var targets = "attention"
    @Flag(name: .long, help: "bf16 mixed precision (same as --precision amp).") var amp = false
    @Option(name: .long, help: "fp32, amp, or both (each configuration in fp32 then amp, side by side in one run).") var precision: String?
    @Option(name: .long, help: "Sequences per step.") var batch = 32
    @Option(name: .long, help: "Timed steps (after the warm-up).") var steps = 40
    @Option(name: .long, help: "Untimed warm-up steps.") var warmup = 2
    @Flag(name: .long, help: "One JSON object per configuration, one per line.") var json = false
    @Flag(name: .long, help: "After the table, where each configuration's step goes: products by kind (ms, GFLOP/s) and everything else.") var breakdown = false

    func validate() throws {
        for (name, v) in [("--batch", batch), ("--steps", steps)] where v < 1 { throw ValidationError("\(name) must be at least 1, got \(v).") }
        if warmup < 0 { throw ValidationError("--warmup must be at least 0, got \(warmup).") }
        if let p = precision, !["fp32", "amp", "both"].contains(p) { throw ValidationError("--precision must be fp32, amp or both, got '\(p)'.") }
        if amp, let p = precision, p != "amp" { throw ValidationError("--amp contradicts --precision \(p).") }
    }

    func run() throws {
        let model = try options.load()
        let file = Locations.dataFolder(input.data).url.appendingPathComponent("ids-sst-train.csv")
        let sst = try Datasets.csv(file, name: "sst-train", text: "sentence", label: "sentiment", spec: .sst)
        let encoded = try EncodedDataset(sst.limited(batch * (steps + warmup)), tokenizer: model.tokenizer, maxLength: input.maxLength)
        let bench = TrainBenchmark(model: model, data: encoded)
        let precisions: [Bool] = switch precision ?? (amp ? "amp" : "fp32") { case "amp": [true]; case "both": [false, true]; default: [false] }
        let configurations = try configurations(precisions: precisions)
        if !json {
            print("lorabook \(LorabookVersion.current) bench train: \(model.config.name), OpenBLAS core \(BLAS.summary); SST train batches of \(batch), median of \(steps) steps after \(warmup) warm-up")
            if precisions.contains(true) { print("amp: \(BF16.note)") }
            print("")
            print("configuration                seq/s   ms/step (min–max)      GEMM share  GEMM GFLOP/s  step GFLOP/s  trainable   train MB  peak RSS MB")
        }
        var results: [TrainBenchmark.Result] = []
        for c in configurations {
            let r = try bench.run(c, batch: batch, steps: steps, warmup: warmup) { FileHandle.standardError.write(Data("bench: \($0)\n".utf8)) }
            if json { try printJSON(r) } else { printRow(r) }
            results.append(r)
        }
        if !json { printNotes(results) }
    }

    /// The configurations asked for (the anchor's set without --mode), each at every precision asked for.
    func configurations(precisions: [Bool]) throws -> [TrainBenchmark.Configuration] {
        var configurations = TrainBenchmark.Configuration.standard
        if let mode {
            configurations = try mode.split(separator: ",").map { name in
                guard let m = AdaptationMode(rawValue: String(name)) else {
                    throw ModelError.invalidArgument(name: "--mode '\(name)'", reason: "expected full, head, lora, dora or adalora")
                }
                var c = AdaptationConfig(mode: m, rank: rank, targets: try AdapterTarget.parse(targets))
                if m == .adalora { c.adaLoRA = AdaLoRASettings(targetRank: min(8, rank)) }
                return .init(c)
            }
        }
        return configurations.flatMap { c in precisions.map { a in var c = c; c.adaptation.amp = a; return c } }
    }

    func printJSON(_ r: TrainBenchmark.Result) throws {
        let object: [String: Any] = [
            "configuration": r.configuration, "mode": r.mode, "rank": r.rank, "targets": r.targets, "amp": r.amp, "batch": r.batch,
            "steps": r.steps, "seq_per_s": r.sequencesPerSecond, "ms_per_step": r.msPerStep, "ms_min": r.msMin, "ms_max": r.msMax,
            "gemm_share": r.gemmShare, "gflops": r.gemmGflops, "achieved_gflops": r.achievedGflops, "peak_rss_mb": Double(r.peakRSS) / 1_048_576,
            "train_memory_mb": Double(r.trainingMemory) / 1_048_576, "trainable": r.trainable,
            "blas_core": BLAS.coreName, "threads": BLAS.threads, "amp_backend": r.amp ? BF16.summary : "-",
            "bf16_primitives_created": r.primitivesCreated, "heap_growth_kb": Double(r.heapGrowth) / 1024, "bf16_primitive_ms_per_step": r.primitiveMsPerStep,
            "breakdown_ms": Dictionary(uniqueKeysWithValues: r.breakdown.map { ($0.kind.rawValue, $0.ms) } + [("other", r.otherMs)]),
            "breakdown_gflops": Dictionary(uniqueKeysWithValues: r.breakdown.map { ($0.kind.rawValue, $0.gflops) }),
            "allocation_ms": r.allocationMs,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }

    func printRow(_ r: TrainBenchmark.Result) {
        let name = r.configuration.padding(toLength: 26, withPad: " ", startingAt: 0)
        print(String(format: "%@ %7.1f  %7.1f (%.0f–%.0f)  %12.0f%%  %12.1f  %12.1f  %9d  %9.0f  %11.0f", name, r.sequencesPerSecond, r.msPerStep, r.msMin, r.msMax,
                     r.gemmShare * 100, r.gemmGflops, r.achievedGflops, r.trainable, Double(r.trainingMemory) / 1_048_576, Double(r.peakRSS) / 1_048_576))
    }

    /// AdaLoRA's share of the step, and with --breakdown where each step goes.
    func printNotes(_ results: [TrainBenchmark.Result]) {
        for r in results where r.mode == "adalora" {
            print(String(format: "%@: AdaLoRA's orthogonal regularisation and rank allocation take %.1f ms of the step's %.1f ms (%.1f%%)",
                         r.configuration, r.allocationMs, r.msPerStep, 100 * r.allocationMs / r.msPerStep))
        }
        if breakdown {
            print("")
            print("where a step goes (mean ms per step; GFLOP/s of each kind of product)")
            print("configuration              linear products      attention products   rank-r products      everything else")
            for r in results {
                let name = r.configuration.padding(toLength: 26, withPad: " ", startingAt: 0)
                let cells = r.breakdown.map { String(format: "%6.1f ms %6.0f GF/s", $0.ms, $0.gflops).padding(toLength: 21, withPad: " ", startingAt: 0) }
                print(name + " " + cells.joined() + String(format: "%6.1f ms", r.otherMs))
            }
        }
    }
}
