// `lorabook train`: one training run on a task, then its dev evaluation, time and memory.
import ArgumentParser
import Foundation
import Project
import Model
import Sweeps

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune on a task (full, head, LoRA or DoRA) and evaluate on its dev split.",
        discussion: "Progress goes to stderr (a bar on a terminal, a line every 10 s elsewhere); Ctrl-C stops between steps and still evaluates what was learned.")

    @OptionGroup var options: ModelOptions
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }
    @Option(name: .long, help: "Task: sst, quora, sts, cfimdb, or sst2 (SST-5 without neutral, two classes).") var task = "sst"
    @Option(name: .long, help: "How the model adapts: full fine-tuning, a head alone, or LoRA, DoRA or AdaLoRA adapters.") var mode: AdaptationMode = .lora
    @Option(name: .long, help: "Start from this trained adapter (a lorabook file or a PEFT folder): its configuration replaces --mode, --rank, --alpha, --targets and --rslora, and its weights are the starting point.") var adapter: String?
    @Option(name: .long, help: "Adapter rank (AdaLoRA: the initial rank r0; default 8, AdaLoRA 12).") var rank: Int?
    @Option(name: .long, help: "AdaLoRA: the average rank the budget is cut to (default 8).") var targetRank: Int?
    @Option(name: .long, help: "Adapter alpha (default: 2 × rank).") var alpha: Float?
    @Option(name: .long, help: "attention (query, value), qkv, attention-all, all-linear, or a comma-separated list of query, key, value, attention-output, intermediate, output.") var targets = "attention"
    @Option(name: .long, help: "Adapter input dropout (LoRA only).") var adapterDropout: Float = 0
    @Flag(name: .long, help: "rsLoRA scaling alpha/√r.") var rslora = false
    @Flag(name: .long, help: "bf16 mixed precision (bf16 products of the linear layers, fp32 master weights).") var amp = false
    @Option(name: .long, help: "Epochs.") var epochs = 1
    @Option(name: .long, help: "Batch size.") var batch = 32
    @Option(name: .long, help: "Peak learning rate (default: head 1e-3, full 5e-5, lora/dora 5e-4).") var lr: Float?
    @Option(name: .long, help: "Warm-up fraction of all steps.") var warmup: Float = 0.06
    @Option(name: .long, help: "Learning-rate schedule after the warm-up.") var schedule: ScheduleKind = .linear
    @Option(name: .long, help: "AdamW weight decay.") var weightDecay: Float = 0.01
    @Option(name: .long, help: "Clip the global gradient norm (default: no clipping).") var clip: Float?
    @Option(name: .long, help: "Seed for initialisation, shuffling and dropout.") var seed: UInt64 = 0
    @Option(name: .long, help: "Maximum tokens per example.") var maxLength = 128
    @Option(name: .long, help: "Train on N examples, drawn by --sample with the seed.") var limit: Int?
    @Option(name: .long, help: "Score N dev examples, drawn by --sample with seed 0 (the same rows for every run).") var devLimit: Int?
    @Option(name: .long, help: "How --limit and --dev-limit draw rows: stratified keeps every class in proportion, first takes the file's order.") var sample: Sampling = .stratified
    @Option(name: .long, help: "For sts: a regression head on the pair's [CLS] (cls), or 5 · cosine of the two sentences' mean-pooled embeddings (cosine).") var similarity: TrainRequest.Similarity = .cls
    @Option(name: .long, help: "What the head reads: the raw [CLS] vector (cls), or tanh(W_pooler h_[CLS] + b) as HF's BertForSequenceClassification (pooled; exports to PEFT with its classifier).") var head: HeadInput = .cls
    @Option(name: .long, help: "Score the task during training: epoch, or every N steps (a learning curve, printed at the end).") var evalEvery: String?
    @Option(name: .long, help: "Rows scored at each evaluation (default: all).") var evalLimit: Int?
    @Option(name: .long, help: "Hold out this fraction of the training rows and score it during training instead of dev.") var validation: Float?
    @Option(name: .long, help: "The weights the run keeps: those of the best evaluation, or the last step's (default).") var keep: EvaluationRequest.Keep?
    @Option(name: .long, help: "Stop after this many evaluations without improvement.") var patience: Int?
    @Flag(name: .long, help: "Group examples of similar length into batches.") var bucketing = false
    @Option(name: .long, help: "Save the trained adapters and head: a safetensors file (--format lorabook) or a PEFT adapter folder (--format peft); written atomically.") var save: String?
    @Option(name: .long, help: "How --save writes: one safetensors file (lorabook), or adapter_config.json + adapter_model.safetensors for PeftModel.from_pretrained (peft).") var format: AdapterFormat = .lorabook
    @Option(name: .long, help: "Write a TensorBoard log (train/loss, train/learning_rate, eval/…) to DIR/RUN-NAME/events.out.tfevents.*.") var logDir: String?
    @OptionGroup var storeOptions: StoreOptions
    @Flag(name: .long, help: "Print one JSON object with the results.") var json = false

    /// A finished training: the network, its result and dev score, and where it came from.
    struct Outcome {
        var network: Network, result: TrainResult, request: TrainRequest, adaptation: AdaptationConfig
        var devCount: Int, evaluation: Evaluation, storeKey: String?, fromStore: Bool
    }

    func run() throws {
        try validateSizes()
        let model = try options.load()
        let (adaptation, start, startDigest) = try startingPoint(model)
        var request = TrainRequest(tasks: [task], adaptation: adaptation, seed: seed, limit: limit, sample: sample, maxLength: maxLength, similarity: similarity,
                                   epochs: epochs, batchSize: batch, learningRate: lr, warmup: warmup, schedule: schedule,
                                   weightDecay: weightDecay, clipNorm: clip, bucketing: bucketing, evaluation: try monitoring())
        request.head = head == .pooled || start?.head(task)?.pooled == true ? .pooled : nil
        request.initialWeights = startDigest
        let folder = DataFolder(folder: Locations.dataFolder(data).url, tokenizer: model.tokenizer)
        let devFolder = DataFolder(folder: folder.folder, tokenizer: model.tokenizer, split: "dev")
        _ = try devFolder.dataset(task)   // a missing dev file fails now, not after the training
        let trainCount = try folder.dataset(task).subset(request.subset).count
        let progress = ProgressPrinter(label: "train:")
        progress.line((adapter.map { "from \($0): " } ?? "") + "\(adaptation.mode.rawValue)\(adaptation.usesAdapters ? " r=\(adaptation.rank) \(adaptation.targets.map(\.rawValue).joined(separator: ","))" : "") on \(trainCount) \(task) examples, OpenBLAS core \(BLAS.summary)\(amp ? "; amp: " + BF16.note : "")")
        Interrupt.install()
        let (network, result, storeKey, fromStore) = try train(request, model: model, start: start, data: folder, progress: progress)
        // the dev split, scored with the head the pipeline made for the task
        let head = network.heads[0]
        let dev = try devFolder.encoded(task, subset: Subset(limit: devLimit, sampling: sample, seed: 0), maxLength: maxLength, separatePairs: head.kind == .cosine)
        let evaluation = TaskEvaluator.evaluate(network, head: head, data: dev)
        if let save {
            if format == .peft { try PeftFolder.save(network, to: URL(fileURLWithPath: save)) } else { try AdapterFile.save(network, to: URL(fileURLWithPath: save)) }
            progress.line("saved \(save)")
        }
        let outcome = Outcome(network: network, result: result, request: request, adaptation: adaptation, devCount: dev.count, evaluation: evaluation,
                              storeKey: storeKey, fromStore: fromStore)
        if json { try printJSON(outcome) } else { printReport(outcome) }
    }

    /// Sizes and counts from the command line never reach code that would trap on them.
    func validateSizes() throws {
        for (flag, value, range) in [("--limit", limit, 1...Int(Int32.max)), ("--dev-limit", devLimit, 1...Int(Int32.max)), ("--epochs", epochs, 1...100_000),
                                     ("--batch", batch, 1...65_536), ("--max-length", maxLength, 3...65_536)] as [(String, Int?, ClosedRange<Int>)] {
            if let v = value, !range.contains(v) {
                throw ModelError.invalidArgument(name: "\(flag) \(v)", reason: range.upperBound == Int(Int32.max) ? "expected at least \(range.lowerBound)" : "expected \(range.lowerBound)…\(range.upperBound)")
            }
        }
    }

    /// The evaluation during training the flags ask for, if any.
    func monitoring() throws -> EvaluationRequest? {
        if evalEvery != nil || validation != nil || keep != nil || patience != nil || evalLimit != nil {
            var every = EvaluationSchedule.epoch
            switch evalEvery ?? "epoch" {
            case "epoch": break
            case let k: guard let n = Int(k), n >= 1 else { throw ModelError.invalidArgument(name: "--eval-every '\(k)'", reason: "expected epoch or a number of steps ≥ 1") }; every = .steps(n)
            }
            return EvaluationRequest(tasks: [task], limit: evalLimit, every: every, validation: validation, keep: keep ?? .last, patience: patience)
        }
        return nil
    }

    /// The adaptation, and the adapter to start from (with its digest) when --adapter names one.
    func startingPoint(_ model: BertModel) throws -> (AdaptationConfig, Network?, String?) {
        var adaptation = AdaptationConfig(mode: mode, rank: rank ?? (mode == .adalora ? 12 : 8), alpha: alpha, dropout: adapterDropout,
                                          targets: try AdapterTarget.parse(targets), rsLoRA: rslora, amp: amp)
        if mode == .adalora {
            adaptation.adaLoRA = AdaLoRASettings(targetRank: targetRank ?? 8)
            try adaptation.adaLoRA!.validate(initialRank: adaptation.rank)
        } else if targetRank != nil {
            throw ModelError.invalidArgument(name: "--target-rank", reason: "only AdaLoRA (--mode adalora) cuts its rank")
        }
        var start: Network?, startDigest: String?
        if let adapter {
            let url = URL(fileURLWithPath: adapter)
            let network = try AdapterFile.open(url, model: model, peftHead: task)
            start = network
            adaptation = network.adaptation
            adaptation.amp = amp
            startDigest = AdapterFile.digest(url)
        }
        return (adaptation, start, startDigest)
    }

    /// Trains, or loads the same training from the run store.
    func train(_ request: TrainRequest, model: BertModel, start: Network?, data folder: DataFolder, progress: ProgressPrinter) throws
        -> (Network, TrainResult, String?, Bool) {
        let log = try logDir.map { try TrainingLog(folder: URL(fileURLWithPath: $0), run: request.name ?? request.defaultName) }
        defer { log?.close() }
        let onEvent: (TrainingEvent) -> Void = { event in
            log?.record(event)
            switch event {
            case .step(let p): progress.show(p)
            case .stopped(let step): progress.line("stopped by Ctrl-C after step \(step)")
            default: break
            }
        }
        let network: Network, result: TrainResult
        var storeKey: String?, fromStore = false
        if let storeURL = storeOptions.current {
            // the same run store as notebooks: a training asked for before is loaded, not repeated
            let store = RunStore(directory: storeURL)
            let obtained = try store.obtain(request, model: model, sources: [.builtIn(task: task, folder: folder.folder.standardizedFileURL.path)], data: folder,
                                            onEvent: onEvent, shouldStop: { Interrupt.requested }, start: start, warn: { progress.line("warning: \($0)") })
            (network, result, storeKey, fromStore) = (obtained.network, obtained.result, obtained.key, obtained.origin == .stored)
            if fromStore {
                log?.record(stored: result)
                progress.line("loaded from the run store \(store.directory.path) (run \(obtained.key.prefix(12)); trained \(formatDuration(result.seconds)) then)")
            }
        } else {
            (network, result) = try TrainingPipeline.run(request, model: model, data: folder, onEvent: onEvent, shouldStop: { Interrupt.requested }, start: start)
        }
        return (network, result, storeKey, fromStore)
    }

    func printJSON(_ o: Outcome) throws {
        let (network, result, request, adaptation, evaluation, m) = (o.network, o.result, o.request, o.adaptation, o.evaluation, o.result.memory)
        let object: [String: Any] = [
                "curve": result.curve.map { p -> [String: Any] in
                var row: [String: Any] = ["epoch": p.epoch, "step": p.step, "lr": p.learningRate, "seconds": p.seconds, "score": p.score]
                if let l = p.trainLoss { row["train_loss"] = l }
                for m in p.metrics { row[m.name] = m.value }
                return row
            },
            "kept": result.kept.map { $0 as Any } ?? NSNull(), "stopped_early": result.stoppedEarly,
            "task": task, "mode": adaptation.mode.rawValue, "rank": adaptation.rank, "targets": adaptation.targets.map(\.rawValue).joined(separator: ","), "amp": amp, "epochs": epochs, "batch": batch,
                "lr": Double(request.training.learningRate), "seed": seed, "train_examples": result.examples[task] ?? 0, "dev_examples": o.devCount,
                "dev_metric": evaluation.metricName, "dev_score": evaluation.score, "dev_loss": evaluation.loss,
                "seconds": result.seconds, "examples_per_s": result.examplesPerSecond, "steps": result.steps,
                "stopped": result.stopped, "trainable": result.trainableParameters, "from_store": o.fromStore, "store_key": o.storeKey ?? NSNull(),
                "memory_bytes": ["parameters": m.parameters, "gradients": m.gradients, "optimizer": m.optimizer,
                                 "activations": m.activations, "workspace": m.workspace, "training": m.training,
                                 "peak_rss": m.peakResident],
                "blas_core": BLAS.coreName, "threads": BLAS.threads,
                "ranks": Dictionary(uniqueKeysWithValues: (network.adapters?.all ?? []).map { ($0.name, $0.activeRank) }),
            ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }

    func printReport(_ o: Outcome) {
        let (network, result, request, adaptation, evaluation, m) = (o.network, o.result, o.request, o.adaptation, o.evaluation, o.result.memory)
        func mb(_ b: Int) -> String { String(format: "%.1f MB", Double(b) / 1_048_576) }
        if let e = request.evaluation {
            print("learning curve (scored on \(e.splitName)\(e.limit.map { ", \($0) rows" } ?? "")):")
            print("  epoch   step  train_loss  \(evaluation.metricName)       lr")
            for (i, p) in result.curve.enumerated() {
                print(String(format: "  %5.2f  %5d  %10@  %8.4f  %.2e%@", p.epoch, p.step, p.trainLoss.map { String(format: "%.4f", $0) } ?? "-", p.score, p.learningRate,
                             i == result.kept && e.keep == .best ? "  ← kept" : ""))
            }
            if result.stoppedEarly { print("stopped early: \(e.patience ?? 0) evaluations without improvement") }
        }
        print("\(task) dev \(evaluation.metricName): \(String(format: "%.4f", evaluation.score)) on \(o.devCount) examples (loss \(String(format: "%.4f", evaluation.loss)))")
        print("training: \(result.steps) steps in \(formatDuration(result.seconds)) (\(String(format: "%.1f", result.examplesPerSecond)) examples/s)\(result.stopped ? ", stopped early" : "")")
        print("trainable parameters: \(result.trainableParameters)")
        if adaptation.mode == .adalora, let adapters = network.adapters?.all {
            print("AdaLoRA ranks in use (of \(adaptation.rank)): " + adapters.map { "\($0.name) \($0.activeRank)" }.joined(separator: ", "))
        }
        print("memory: parameters \(mb(m.parameters)), gradients \(mb(m.gradients)), optimizer \(mb(m.optimizer)), activations \(mb(m.activations)), workspace \(mb(m.workspace)); training total \(mb(m.training)); peak RSS \(mb(m.peakResident))")
    }
}
