// Commands that train and evaluate: train, eval, ensemble, report, load.
import Foundation
import Model
import Sweeps

enum TrainingCommands {
    static let all: [CommandSpec] = [train, eval, ensemble, report, spectrum, truncate, load, predict]

    static func mb(_ bytes: Int) -> Value { .number((Double(bytes) / 1_048_576 * 10).rounded() / 10) }

    static let train = CommandSpec(
        "train", group: "training",
        summary: "Train a new run on one or more tasks with the current adaptation and seed.",
        detail: """
        Several tasks train one shared encoder with a head per task (multitask). Progress shows while it runs; Ctrl-C \
        stops between steps and the run keeps what it learned. The run becomes the default for eval and report. \
        With a run store (a notebook's .lorabook-runs, --store, LORABOOK_STORE) a training asked for before is loaded \
        from it instead (docs/sweeps.md). While a notebook is planned (lorabook plan) a training the store lacks \
        becomes a job and its run a placeholder whose results are unknown.
        """,
        parameters: [
            ParameterSpec("tasks", .list(.name), positional: true, required: true, "tasks: sst, quora, sts, cfimdb, sst2, or registered ones"),
            ParameterSpec("epochs", .integer, default: 1, "passes over the training data"),
            ParameterSpec("batch", .integer, default: 32, "examples per step"),
            ParameterSpec("lr", .number, defaultNote: "head 1e-3, full 5e-5, lora/dora 5e-4", "peak learning rate"),
            ParameterSpec("warmup", .number, default: 0.06, "warm-up fraction of all steps"),
            ParameterSpec("schedule", .choice(ScheduleKind.allCases.map(\.rawValue)), default: "linear", "learning-rate decay after warm-up"),
            ParameterSpec("weight_decay", .number, default: 0.01, "AdamW's decoupled weight decay"),
            ParameterSpec("clip", .number, "clip the global gradient norm to this value"),
            ParameterSpec("limit", .integer, "use N training examples of each task, drawn by sample= with the run's seed"),
            ParameterSpec("sample", .choice(Sampling.allCases.map(\.rawValue)), default: "stratified",
                          "how limit= draws rows: stratified (every class in proportion), random, or first (file order)"),
            ParameterSpec("max_length", .integer, default: 128, "tokens per example"),
            ParameterSpec("sampling", .choice(["proportional", "round-robin"]), default: "proportional", "how multitask steps pick tasks"),
            ParameterSpec("weights", .list(.number), "loss weight per task, in order"),
            ParameterSpec("lr_scale", .list(.number), "learning-rate multiplier per task, in order (a step on task i uses lr × lr_scale[i])"),
            ParameterSpec("loss", .choice(RegressionLoss.allCases.map(\.rawValue)), default: "mse",
                          "for similarity tasks (sts): mean squared error, or pearson (1 − the batch's Pearson r)"),
            ParameterSpec("bucketing", .bool, default: false, "batch examples of similar length together"),
            ParameterSpec("name", .name, "a name for the run (default: mode, rank and seed)"),
            ParameterSpec("eval", .list(.name), "score these tasks during training (a learning curve: r.curve)"),
            ParameterSpec("eval_every", .any, default: "epoch", "when to score: epoch, or a number of steps"),
            ParameterSpec("eval_limit", .integer, "rows scored per task at each evaluation (default: all)"),
            ParameterSpec("validation", .number, "hold out this fraction of the training rows (stratified, by the seed) and score it instead of dev"),
            ParameterSpec("keep", .choice(EvaluationRequest.Keep.allCases.map(\.rawValue)), default: "last", "keep the weights of the best evaluation or the last step"),
            ParameterSpec("patience", .integer, "stop after this many evaluations without improvement"),
            ParameterSpec("similarity", .choice(["cls", "cosine"]), default: "cls",
                          "for similarity tasks (sts): a regression head on the pair's [CLS], or 5 · cosine of the two sentences' mean-pooled embeddings"),
            ParameterSpec("log", .string, "write a TensorBoard log to this folder (a subfolder per run: train/loss, train/learning_rate, eval/…)"),
            ParameterSpec("head", .choice(HeadInput.allCases.map(\.rawValue)), default: "cls",
                          "what the heads read: the raw [CLS] vector, or pooled: tanh(W_pooler h_[CLS] + b), as HF's BertForSequenceClassification (a pooled run exports to PEFT with its classifier)"),
        ],
        variadic: "tasks",
        returns: "run: mode, rank, targets, tasks, seed, epochs, steps, loss, seconds, seconds_per_epoch, examples_per_s, trainable, memory (MB): parameters_mb, gradients_mb, optimizer_mb, activations_mb, train_memory_mb, peak_rss_mb",
        examples: ["model\nlora rank=4\nlet r = train sst limit=64 batch=16\nprint r.trainable", "model\nhead\ntrain sst quora sts limit=32 sampling=round-robin", "model\nlora rank=2\nlet r = train sts limit=32 similarity=cosine\nlet e = eval sts limit=40\nprint e.pearson > 0.5\n# expect: true"]
    ) { inv in
        let s = inv.session
        let model = try s.requireModel(at: inv.call.location)
        let tasks = try inv.strings("tasks")!
        guard Set(tasks).count == tasks.count else { throw Diagnostic("a task is listed twice", at: inv.location("tasks")) }
        let weights = try inv.list("weights")?.map { v -> Float in if case .number(let n) = v { return Float(n) }; return 1 }
        if let weights, weights.count != tasks.count {
            throw Diagnostic("weights has \(weights.count) values for \(tasks.count) tasks", at: inv.location("weights"))
        }
        var evaluation: EvaluationRequest?
        if let scored = try inv.strings("eval") {
            var every = EvaluationSchedule.epoch
            switch inv.value("eval_every") {
            case nil, .string("epoch")?: break
            case .number(let k)? where k == k.rounded() && k >= 1 && k <= 1e9: every = .steps(Int(k))
            case let v?: throw Diagnostic("eval_every expects epoch or a number of steps, got \(v.literal)", at: inv.location("eval_every"))
            }
            evaluation = EvaluationRequest(tasks: scored, limit: try inv.count("eval_limit"), every: every, validation: try inv.number("validation").map(Float.init),
                                           keep: try inv.defaulted("keep") { try inv.string($0).flatMap(EvaluationRequest.Keep.init) }, patience: try inv.count("patience"))
        } else {
            for p in ["eval_every", "eval_limit", "validation", "keep", "patience"] where inv.has(p) {
                throw Diagnostic("\(p)= needs eval=TASKS (what to score during training)", at: inv.location(p))
            }
        }
        let scales = try inv.list("lr_scale")?.map { v -> Float in if case .number(let n) = v { return Float(n) }; return 1 }
        if let scales, scales.count != tasks.count {
            throw Diagnostic("lr_scale has \(scales.count) values for \(tasks.count) tasks", at: inv.location("lr_scale"))
        }
        var request = TrainRequest(
            tasks: tasks, adaptation: s.adaptation, seed: s.seed, limit: try inv.count("limit"), sample: try inv.defaulted("sample") { try inv.string($0).flatMap(Sampling.init) },
            maxLength: try inv.count("max_length", in: 3...65_536) ?? TrainRequest.defaultMaxLength,
            similarity: try inv.defaulted("similarity") { try inv.string($0).flatMap(TrainRequest.Similarity.init) },
            epochs: try inv.defaulted("epochs") { try inv.count($0, in: 1...100_000) }, batchSize: try inv.defaulted("batch") { try inv.count($0, in: 1...65_536) },
            learningRate: try inv.number("lr").map(Float.init), warmup: Float(try inv.defaulted("warmup", inv.number)),
            schedule: try inv.defaulted("schedule") { try inv.string($0).flatMap(ScheduleKind.init) }, weightDecay: Float(try inv.defaulted("weight_decay", inv.number)),
            clipNorm: try inv.number("clip").map(Float.init), bucketing: try inv.defaulted("bucketing", inv.bool),
            sampling: try inv.defaulted("sampling") { try inv.string($0).flatMap(TaskSampling.init) }, weights: weights, name: try inv.string("name"),
            evaluation: evaluation)
        request.learningRateScales = scales
        request.regressionLoss = try inv.string("loss").flatMap(RegressionLoss.init).flatMap { $0 == .mse ? nil : $0 }
        request.head = try inv.string("head").flatMap(HeadInput.init).flatMap { $0 == .cls ? nil : $0 }
        let sources = try tasks.map { try s.source($0, at: inv.location("tasks")) }
        let trained: (network: Network, result: TrainResult)
        do {
            let data = SessionData(session: s, at: inv.location("tasks"))
            let log = try s.planner == nil ? inv.string("log").map { try TrainingLog(folder: URL(fileURLWithPath: $0), run: request.name ?? request.defaultName) } : nil
            defer { log?.close() }
            let onEvent: (TrainingEvent) -> Void = { event in
                log?.record(event)
                if case .step(let p) = event { s.progress?(p) }
            }
            if let planner = s.planner {
                switch try planned(request, sources: sources, model: model, session: s, planner: planner) {
                case .placeholder(let placeholder):
                    s.lastRun = placeholder
                    return .run(placeholder)
                case .stored(let network, let result):
                    trained = (network, result)
                }
            } else if let store = s.store {
                let obtained = try store.obtain(request, model: model, sources: sources, data: data, onEvent: onEvent, shouldStop: s.shouldStop,
                                                warn: { s.emit(.warning($0)) })
                trained = (obtained.network, obtained.result)
                if obtained.origin == .stored { log?.record(stored: obtained.result) }
            } else {
                trained = try TrainingPipeline.run(request, model: model, data: data, onEvent: onEvent, shouldStop: s.shouldStop)
            }
        }   // a ModelError here is reported at the command (Evaluator's dispatch: Invocation.at)
        let result = trained.result
        if result.stopped && s.abortRequested() {
            throw Diagnostic("interrupted: training stopped at step \(result.steps) of \(result.totalSteps); no run was kept", at: inv.call.location)
        }
        if result.stopped {
            s.emit(.warning("training stopped after step \(result.steps) of \(result.totalSteps); the run keeps what it learned"))
        }
        var r = record(result)
        if trained.network.adaptation.mode == .adalora { adaptiveRanks(trained.network, history: result.rankHistory ?? [], into: &r) }
        let run = RunHandle(name: result.name, network: trained.network, record: r, tasks: tasks)
        s.lastRun = run
        return .run(run)
    }

    /// AdaLoRA's outcome in a run's record: `ranks` (layer, matrix, rank: the triplets in use) and
    /// `rank_history` (step, budget, kept: every allocation).
    static func adaptiveRanks(_ network: Network, history: [RankAllocation], into r: inout Record) {
        r["ranks"] = .table(rankTable(network, title: "ranks per layer and matrix"))
        var h = Table(title: "rank budget per step")
        for a in history { h.append(Record([("step", .number(Double(a.step))), ("budget", .number(Double(a.budget))), ("kept", .number(Double(a.kept)))])) }
        r["rank_history"] = .table(h)
    }

    /// One row per adapter: layer (or "pooler"), matrix, rank (AdaLoRA: the triplets in use).
    static func rankTable(_ network: Network, title: String) -> Table {
        var ranks = Table(title: title)
        for a in network.adapters?.all ?? [] {
            ranks.append(Record([("layer", a.target == .pooler ? .string("pooler") : .number(Double(a.layer))), ("matrix", .string(a.target.rawValue)),
                                 ("rank", .number(Double(a.activeRank)))]))
        }
        return ranks
    }

    enum Planned { case stored(Network, TrainResult), placeholder(RunHandle) }

    /// While planning: the run when the store holds it, else a placeholder run whose results are
    /// unknown, and a job for the plan (unless a setting is unknown: then a later round plans it).
    static func planned(_ request: TrainRequest, sources: [TaskSource], model: BertModel, session s: Session, planner: Planner) throws -> Planned {
        guard let store = s.store else { throw ModelError.invalidArgument(name: "plan", reason: "planning needs a run store") }
        let key = try RunStore.key(request, model: model.folder, sources: sources)
        if let (network, result) = store.stored(key, request: request, model: model, warn: { s.emit(.warning($0)) }) {
            planner.noteStored()
            return .stored(network, result)
        }
        if planner.settingsKnown {
            planner.add(JobSpec(key: key, request: request, model: model.folder.path, sources: sources, store: store.directory.path))
        }
        var r = SessionCommands.describe(request.adaptation)
        r.fields += [("name", .string(request.name ?? request.defaultName)), ("tasks", .list(request.tasks.map { .string($0) })),
                     ("seed", .number(Double(request.seed))), ("lr", .number(Double(request.training.learningRate))),
                     ("epochs", .number(Double(request.training.epochs)))]
        for k in ["steps", "loss", "stopped", "seconds", "seconds_per_epoch", "examples_per_s", "trainable", "parameters_mb", "gradients_mb",
                  "optimizer_mb", "activations_mb", "train_memory_mb", "peak_rss_mb"] { r[k] = .unknown }
        if request.evaluation != nil { for k in ["curve", "kept_epoch", "kept_step", "kept_score", "stopped_early"] { r[k] = .unknown } }
        if request.adaptation.mode == .adalora { for k in ["ranks", "rank_history"] { r[k] = .unknown } }
        let network = try Network(model: model, adaptation: AdaptationConfig(mode: .head))
        return .placeholder(RunHandle(name: request.name ?? request.defaultName, network: network, record: r, tasks: request.tasks, planned: true))
    }

    /// The language's view of a training result: the record `train` returns (`r.loss`, `r.trainable`, …).
    static func record(_ result: TrainResult) -> Record {
        let request = result.request, m = result.memory
        var r = SessionCommands.describe(request.adaptation)
        let identity: [(String, Value)] = [("name", .string(result.name)), ("tasks", .list(request.tasks.map { .string($0) })),
                                           ("seed", .number(Double(request.seed)))]
        let training: [(String, Value)] = [("lr", .number(Double(request.training.learningRate))), ("epochs", .number(Double(request.training.epochs))),
                                           ("steps", .number(Double(result.steps))), ("loss", result.loss.map { .number($0) } ?? .none),
                                           ("stopped", .bool(result.stopped))]
        let time: [(String, Value)] = [("seconds", .number((result.seconds * 100).rounded() / 100)),
                                       ("seconds_per_epoch", .number((result.secondsPerEpoch * 100).rounded() / 100)),
                                       ("examples_per_s", .number((result.examplesPerSecond * 10).rounded() / 10)),
                                       ("trainable", .number(Double(result.trainableParameters)))]
        let memory: [(String, Value)] = [("parameters_mb", mb(m.parameters)), ("gradients_mb", mb(m.gradients)), ("optimizer_mb", mb(m.optimizer)),
                                         ("activations_mb", mb(m.activations + m.workspace)), ("train_memory_mb", mb(m.training)),
                                         ("peak_rss_mb", mb(m.peakResident))]
        r.fields += identity + training + time + memory
        if let e = request.evaluation {
            r["curve"] = .table(curveTable(result.curve, split: e.splitName))
            if let k = result.kept, result.curve.indices.contains(k) {
                r["kept_epoch"] = .number(result.curve[k].epoch); r["kept_step"] = .number(Double(result.curve[k].step))
                r["kept_score"] = .number(result.curve[k].score)
            }
            r["stopped_early"] = .bool(result.stoppedEarly)
        }
        return r
    }

    /// The session's datasets (built-in, sst2, registered files) and its encoded-data cache.
    struct SessionData: TrainingData {
        let session: Session, at: SourceLocation
        func dataset(_ task: String) throws -> Dataset { try session.dataset(task, split: "train", at: at) }
        func encoded(_ task: String, subset: Subset, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset {
            try session.encoded(task, split: "train", subset: subset, maxLength: maxLength, separatePairs: separatePairs, at: at)
        }
        func dev(_ task: String, subset: Subset, maxLength: Int, separatePairs: Bool) throws -> EncodedDataset {
            try session.encoded(task, split: "dev", subset: subset, maxLength: maxLength, separatePairs: separatePairs, at: at)
        }
    }

    /// A learning curve as a table: epoch (fractional between epochs), step, train loss since the
    /// previous evaluation, each metric, learning rate, seconds since the start.
    static func curveTable(_ curve: [CurvePoint], split: String) -> Table {
        var t = Table(title: "learning curve (scored on \(split))")
        for p in curve {
            var r = Record([("epoch", .number(p.epoch)), ("step", .number(Double(p.step))), ("train_loss", p.trainLoss.map { .number($0) } ?? .none)])
            for m in p.metrics { r[m.name] = .number(m.value) }
            r["lr"] = .number(p.learningRate); r["seconds"] = .number((p.seconds * 100).rounded() / 100)
            t.append(r)
        }
        return t
    }

    /// A confusion matrix as a table: one row per true class (`true`), a column per predicted class
    /// (`pred_0`, `pred_1`, …) and the row's total (`n`).
    static func confusionTable(_ e: Evaluation) -> Table? {
        guard let m = e.confusion else { return nil }
        var t = Table(title: "confusion (rows: true class, columns: predicted)")
        for (i, row) in m.enumerated() {
            var r = Record([("true", .number(Double(i)))])
            for (j, n) in row.enumerated() { r["pred_\(j)"] = .number(Double(n)) }
            r["n"] = .number(Double(row.reduce(0, +)))
            t.append(r)
        }
        return t
    }

    /// A bootstrap interval as a record `expect interval=` reads: {low, high, n} (n: the rows scored).
    static func intervalRecord(_ i: (low: Double, high: Double), rows: Int) -> Value {
        .record(Record([("low", .number(i.low)), ("high", .number(i.high)), ("n", .number(Double(rows)))]))
    }

    /// What `eval` and `ensemble` return. Each metric comes with `<metric>_ci`, its 95% percentile-
    /// bootstrap interval over the rows scored (Evaluation.interval; for sst+quora+sts the overall
    /// score's too, the tasks resampled independently).
    static func evaluationRecord(_ results: [(String, Evaluation)]) -> Record {
        var r = Record()
        if results.count == 1, let (task, e) = results.first {
            r.fields = [("task", .string(task)), (e.metricName, .number(e.score)), (e.metricName + "_ci", intervalRecord(e.interval(), rows: e.examples)),
                        ("baseline", .number(e.baseline)), ("loss", .number(e.loss)), ("examples", .number(Double(e.examples)))]
            if let c = confusionTable(e) { r["confusion"] = .table(c) }
            return r
        }
        var byTask: [String: Evaluation] = [:]
        for (task, e) in results {
            r[task + "_" + e.metricName] = .number(e.score)
            r[task + "_" + e.metricName + "_ci"] = intervalRecord(e.interval(), rows: e.examples)
            r[task + "_baseline"] = .number(e.baseline)
            byTask[task] = e
        }
        if let sst = byTask["sst"], let para = byTask["quora"], let sts = byTask["sts"] {
            r["overall"] = .number(Metrics.overallScore(sstAccuracy: sst.score, paraphraseAccuracy: para.score, stsPearson: sts.score))
            let i = Metrics.overallIntervals(sst: sst, paraphrase: para, sts: sts)
            r["overall_ci"] = intervalRecord(i.overall, rows: sst.examples + para.examples + sts.examples)
        }
        return r
    }

    /// The rows `eval` and `ensemble` score: `limit` drawn by `sample` with seed 0, the same rows
    /// whatever the session's seed, so runs of a sweep are compared on the same examples.
    static func evaluationSubset(_ inv: Invocation) throws -> Subset {
        Subset(limit: try inv.count("limit"), sampling: try inv.defaulted("sample") { try inv.string($0).flatMap(Sampling.init) }, seed: 0)
    }

    static let evalParameters: [ParameterSpec] = [
        ParameterSpec("split", .choice(["dev", "train"]), default: "dev", "which split to score"),
        ParameterSpec("limit", .integer, "score N examples, drawn by sample= (with seed 0: every run is scored on the same rows)"),
        ParameterSpec("sample", .choice(Sampling.allCases.map(\.rawValue)), default: "stratified", "how limit= draws rows: stratified, random or first"),
        ParameterSpec("max_length", .integer, default: 128, "tokens per example"),
    ]

    static let eval = CommandSpec(
        "eval", group: "training", summary: "Score a run on tasks: accuracy (sst, quora, cfimdb) or Pearson r (sts); overall score for sst+quora+sts.",
        detail: "overall = (sst_accuracy + quora_accuracy + (sts_pearson + 1) / 2) / 3, the paper's multitask score.",
        parameters: [ParameterSpec("tasks", .list(.name), positional: true, defaultNote: "the run's tasks", "tasks to score"),
                     ParameterSpec("run", .run, defaultNote: "the last run", "the run to score")] + evalParameters,
        variadic: "tasks",
        returns: "record: one task: task, accuracy|pearson, accuracy_ci|pearson_ci (95% bootstrap interval over the rows scored: {low, high, n}), baseline, loss, examples, confusion; several: <task>_accuracy|pearson, <task>_…_ci, <task>_baseline…, overall and overall_ci",
        examples: ["model\nhead\nlet r = train sst limit=32\nlet e = eval sst limit=50\nprint e.accuracy >= 0"]
    ) { inv in
        let s = inv.session
        guard let run = try inv.run("run") ?? s.lastRun else {
            throw Diagnostic("no run to evaluate", at: inv.call.location, hint: "train one first (`let r = train sst`) or pass run=…")
        }
        let tasks = try inv.strings("tasks") ?? run.tasks
        var results: [(String, Evaluation)] = []
        for task in tasks {
            guard let head = try head(of: run, for: task, session: s, at: inv.location("tasks")) else {
                throw Diagnostic("run \(run.name) has no head for '\(task)'", at: inv.location("tasks"), hint: "it was trained on: \(run.tasks.joined(separator: ", "))")
            }
            let data = try s.encoded(task, split: try inv.defaulted("split", inv.string), subset: try evaluationSubset(inv),
                                     maxLength: try inv.defaulted("max_length") { try inv.count($0, in: 3...65_536) }, separatePairs: head.kind == .cosine, at: inv.location("tasks"))
            results.append((task, TaskEvaluator.evaluate(run.network, head: head, data: data)))
        }
        return .record(evaluationRecord(results))
    }

    static let ensemble = CommandSpec(
        "ensemble", group: "training", summary: "Average several runs' outputs (logits, similarity values) and score the average.",
        parameters: [ParameterSpec("runs", .list(.run), positional: true, required: true, "the member runs, a list"),
                     ParameterSpec("tasks", .list(.name), positional: true, defaultNote: "the first run's tasks", "tasks to score")] + evalParameters,
        variadic: "tasks",
        returns: "record like eval's, with members",
        examples: ["model\nhead\nlet a = train sst limit=32\nseed 1\nlet b = train sst limit=32\nensemble [a, b] sst limit=50"]
    ) { inv in
        let s = inv.session
        let runs = try inv.list("runs")!.map { v -> RunHandle in
            guard case .run(let r) = v else { throw Diagnostic("ensemble members must be runs, got \(v.typeName)", at: inv.location("runs")) }
            return r
        }
        guard runs.count >= 2 else { throw Diagnostic("an ensemble needs at least 2 runs, got \(runs.count)", at: inv.location("runs")) }
        let tasks = try inv.strings("tasks") ?? runs[0].tasks
        var results: [(String, Evaluation)] = []
        for task in tasks {
            let separate = runs[0].network.head(task)?.kind == .cosine
            let data = try s.encoded(task, split: try inv.defaulted("split", inv.string), subset: try evaluationSubset(inv),
                                     maxLength: try inv.defaulted("max_length") { try inv.count($0, in: 3...65_536) }, separatePairs: separate, at: inv.location("tasks"))
            let members = try runs.map { run -> Evaluation in
                guard let head = run.network.head(task) else { throw Diagnostic("run \(run.name) has no head for '\(task)'", at: inv.location("runs")) }
                return TaskEvaluator.evaluate(run.network, head: head, data: data)
            }
            results.append((task, TaskEvaluator.ensemble(members, data: data)))
        }
        var r = evaluationRecord(results)
        r["members"] = .number(Double(runs.count))
        return .record(r)
    }

    /// The head that answers `task`: the one named after it, or a loaded classifier (a checkpoint's
    /// or a PEFT folder's, named `classifier`) with as many outputs as the task has classes.
    static func head(of run: RunHandle, for task: String, session s: Session, at location: SourceLocation?) throws -> LinearHead? {
        if let h = run.network.head(task) { return h }
        guard let h = run.network.head("classifier"), run.network.heads.count == 1 else { return nil }
        let spec = try s.dataset(task, split: "dev", at: location).spec
        let fits = spec.kind == .regression ? h.kind == .regression : (h.kind == .classification && h.outputs == spec.classes)
        return fits ? h : nil
    }

    static let report = CommandSpec(
        "report", group: "training", summary: "A run's time, parameters and memory (MB, counted from the buffers; peak RSS of the process).",
        parameters: [ParameterSpec("run", .run, positional: true, defaultNote: "the last run", "the run")],
        returns: "record: trainable, seconds, seconds_per_epoch, examples_per_s, parameters_mb, gradients_mb, optimizer_mb, activations_mb, train_memory_mb, peak_rss_mb",
        examples: ["model\nhead\nlet r = train sst limit=32\nreport r"]
    ) { inv in
        guard let run = try inv.run("run") ?? inv.session.lastRun else {
            throw Diagnostic("no run to report on", at: inv.call.location, hint: "train one first")
        }
        let keys = ["name", "mode", "rank", "trainable", "seconds", "seconds_per_epoch", "examples_per_s", "parameters_mb", "gradients_mb",
                    "optimizer_mb", "activations_mb", "train_memory_mb", "peak_rss_mb"]
        return .record(Record(keys.compactMap { k in run.record[k].map { (k, $0) } }))
    }

    static let spectrum = CommandSpec(
        "spectrum", group: "training",
        summary: "How low-rank a run's update is: the singular values of each adapted matrix's ΔW (s·B·A; W − W0 for full fine-tuning).",
        detail: "by=matrix: one row per matrix with its numerical rank, the directions holding 90% of the energy, the largest singular value and the energy share of the top 1, 2, 4 and 8 directions. by=k: the share of energy in the top k directions (k = 1, 2, 4, …) over all matrices: mean, min and max.",
        parameters: [ParameterSpec("run", .run, positional: true, defaultNote: "the last run", "the run"),
                     ParameterSpec("by", .choice(["matrix", "k"]), default: "matrix", "one row per matrix, or per k")],
        returns: "table: layer, matrix, rank, rank_90, sv_1, energy_1, energy_2, energy_4, energy_8 (by=matrix); k, energy_mean, energy_min, energy_max (by=k)",
        examples: ["model\nlora rank=2\nlet r = train sst limit=32\nlet s = spectrum r\nprint s.rank\n# expect: [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]"]
    ) { inv in
        let s = inv.session
        guard let run = try inv.run("run") ?? s.lastRun else { throw Diagnostic("no run to analyse", at: inv.call.location, hint: "train one first") }
        guard run.network.adaptation.mode != .head else {
            throw Diagnostic("run \(run.name) trained only heads: it changed no encoder weight", at: inv.location("run"))
        }
        let base = try s.requireModel(at: inv.call.location)
        let updates = Spectrum.updates(run.network, base: base)
        var t = Table(title: "spectrum of \(run.name)'s update")
        if try inv.string("by") == "k" {
            let largest = updates.map { min($0.rows, $0.cols) }.max() ?? 0
            var k = 1
            while k <= largest {
                let shares = updates.map { $0.energy(top: k) }
                t.append(Record([("k", .number(Double(k))), ("energy_mean", .number(shares.reduce(0, +) / Double(max(1, shares.count)))),
                                 ("energy_min", .number(shares.min() ?? 0)), ("energy_max", .number(shares.max() ?? 0))]))
                k *= 2
            }
            return .table(t)
        }
        for u in updates {
            t.append(Record([("layer", .number(Double(u.layer))), ("matrix", .string(u.matrix.rawValue)), ("rank", .number(Double(u.numericalRank()))),
                             ("rank_90", .number(Double(u.rank(energy: 0.9)))), ("sv_1", .number(u.singularValues.first ?? 0)),
                             ("energy_1", .number(u.energy(top: 1))), ("energy_2", .number(u.energy(top: 2))),
                             ("energy_4", .number(u.energy(top: 4))), ("energy_8", .number(u.energy(top: 8)))]))
        }
        return .table(t)
    }

    static let truncate = CommandSpec(
        "truncate", group: "training",
        summary: "Cut each adapter of a run to the rank its update needs (SVD of s·B·A), as a new run with per-layer ranks.",
        detail: "energy=E keeps, per adapter, the fewest singular directions that hold the share E of the update's energy (Σσ²); rank=K keeps at most K. Each cut update is factored back into a smaller LoRA with the same scaling (the best approximation of that rank); a DoRA adapter keeps its magnitude. The new run evaluates, saves (its rank pattern included) and loads like any other; its record's rank_pattern shows the ranks.",
        parameters: [ParameterSpec("run", .run, positional: true, defaultNote: "the last run", "the run"),
                     ParameterSpec("energy", .number, "keep the fewest directions holding this share of each update's energy (0 < E ≤ 1)"),
                     ParameterSpec("rank", .integer, "keep at most this many directions per adapter")],
        returns: "run: mode, rank, rank_pattern, targets, name, tasks, trainable, ranks (a table: layer, matrix, rank)",
        examples: ["model\nlora rank=4\nlet r = train sst limit=32\nlet t = truncate r energy=0.9\nprint t.trainable <= r.trainable\n# expect: true\nplot t.ranks x=layer y=matrix value=rank kind=heatmap title=\"rank per layer and matrix\""]
    ) { inv in
        let s = inv.session
        guard let run = try inv.run("run") ?? s.lastRun else { throw Diagnostic("no run to truncate", at: inv.call.location, hint: "train one first") }
        let rule: Truncation.Rule
        switch (try inv.number("energy"), try inv.count("rank")) {
        case (let e?, nil): rule = .energy(e)
        case (nil, let k?): rule = .rank(k)
        case (nil, nil): throw Diagnostic("truncate needs energy= or rank=", at: inv.call.location)
        default: throw Diagnostic("give energy= or rank=, not both", at: inv.location("rank"))
        }
        let network = try inv.at { try Truncation.truncated(run.network, rule: rule) }
        var r = SessionCommands.describe(network.adaptation)
        let suffix: String = { if case .energy(let e) = rule { return "e\(Value.format(e))" }; if case .rank(let k) = rule { return "k\(k)" }; return "" }()
        let name = run.name + "-" + suffix
        r.fields += [("name", .string(name)), ("tasks", .list(run.tasks.map { .string($0) })), ("trainable", .number(Double(network.trainableParameterCount))),
                     ("ranks", .table(rankTable(network, title: "ranks of \(name)")))]
        let truncated = RunHandle(name: name, network: network, record: r, tasks: run.tasks)
        s.lastRun = truncated
        return .run(truncated)
    }

    static let load = CommandSpec(
        "load", group: "training", summary: "Load a run saved with `save RUN \"file.safetensors\"`, or a PEFT adapter folder, onto the current model.",
        detail: "A PEFT folder (adapter_config.json + adapter_model.safetensors, LoRA or DoRA, as PEFT's save_pretrained writes it) becomes a run with its adapters and, when it saved a classifier, a pooled head for task= (docs/interop.md).",
        parameters: [ParameterSpec("path", .string, positional: true, required: true, "the adapter file, or a PEFT adapter folder"),
                     ParameterSpec("task", .name, default: "classifier", "for a PEFT folder: the task its classifier answers (eval TASK run=… then scores it)"),
                     ParameterSpec("force", .bool, default: false, "load an adapter trained on other base weights than the current model's (refused otherwise)")],
        returns: "run", examples: ["model\nlora rank=2\nlet r = train sst limit=32\nsave r \"/tmp/lorabook-example-run.safetensors\"\nlet again = load \"/tmp/lorabook-example-run.safetensors\"\neval sst limit=20 run=again"]
    ) { inv in
        let model = try inv.session.requireModel(at: inv.call.location)
        let path = try inv.string("path")!
        let url = URL(fileURLWithPath: path)
        let isFolder = PeftFolder.isAdapterFolder(url)
        if inv.has("task") && !isFolder { throw Diagnostic("task= is for PEFT adapter folders; a lorabook file names its heads itself", at: inv.location("task")) }
        let head = try inv.defaulted("task", inv.string), force = try inv.defaulted("force", inv.bool)
        let network = try inv.at("path") { try AdapterFile.open(url, model: model, peftHead: head, force: force) }
        var r = SessionCommands.describe(network.adaptation)
        let name = isFolder ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
        r.fields += [("name", .string(name)), ("tasks", .list(network.heads.map { .string($0.name) })), ("trainable", .number(Double(network.trainableParameterCount)))]
        let run = RunHandle(name: name, network: network, record: r, tasks: network.heads.map(\.name))
        inv.session.lastRun = run
        return .run(run)
    }

    static let predict = CommandSpec(
        "predict", group: "training", summary: "What a run answers for one text (or a pair): the label and class probabilities, or a value.",
        parameters: [ParameterSpec("run", .run, positional: true, required: true, "the run"),
                     ParameterSpec("text", .string, positional: true, required: true, "the text"),
                     ParameterSpec("pair", .string, positional: true, "the second text of a pair (quora, sts)"),
                     ParameterSpec("task", .name, defaultNote: "the run's first task", "which head answers"),
                     ParameterSpec("max_length", .integer, default: 128, "tokens per example")],
        returns: "record: task, text, label, probability, probabilities, logits (classification); value (regression, similarity)",
        examples: ["model\nlora rank=2\nlet r = train sst limit=32\nlet p = predict r \"a gripping, beautifully made film\"\nprint len(p.probabilities)\n# expect: 5"]
    ) { inv in
        guard let run = try inv.run("run") else { throw Diagnostic("predict needs a run", at: inv.call.location) }
        let task = try inv.string("task") ?? run.tasks.first ?? run.network.heads.first?.name ?? ""
        guard let head = run.network.head(task) else {
            throw Diagnostic("run \(run.name) has no head for '\(task)'", at: inv.has("task") ? inv.location("task") : inv.location("run"),
                             hint: run.network.heads.isEmpty ? "it has no task head" : "its heads: \(run.network.heads.map(\.name).joined(separator: ", "))")
        }
        let text = try inv.string("text")!, pair = try inv.string("pair")
        if head.kind == .cosine && pair == nil { throw Diagnostic("a similarity head compares two texts: give the pair", at: inv.location("text")) }
        let maxLength = try inv.defaulted("max_length") { try inv.count($0, in: 3...65_536) }
        let p = try inv.at("text") { try Predictor(network: run.network, head: head, maxLength: maxLength).predict([(text, pair)])[0] }
        var fields: [(String, Value)] = [("task", .string(task)), ("text", .string(text))]
        if let pair { fields.append(("pair", .string(pair))) }
        if let label = p.label {
            fields += [("label", .number(Double(label))), ("probability", .number(p.probabilities[label])),
                       ("probabilities", .list(p.probabilities.map { .number($0) })), ("logits", .list(p.logits.map { .number($0) }))]
        } else {
            fields.append(("value", .number(p.logits[0])))
        }
        return .record(Record(fields))
    }
}
