// Commands that set up the session: the model, data, the seed, and the adaptation to train.
import Foundation
import Project
import Model

enum SessionCommands {
    static let all: [CommandSpec] = [model, data, seed] + adaptationCommands + [help, quit]

    static let model = CommandSpec(
        "model", group: "setup", summary: "Load a BERT checkpoint folder (default: the MiniLM-L6 from setup).",
        detail: "Any HF BERT checkpoint folder with config.json, model.safetensors and a vocabulary (vocab.txt, or tokenizer.json) loads, e.g. bert-base-uncased or a cased model (tokenizer_config.json's do_lower_case is followed). A fine-tuned BertForSequenceClassification's classifier becomes the current run when its label count fits a task (the record's `classifier`); MLM heads are ignored. Later commands use this model.",
        parameters: [ParameterSpec("path", .string, positional: true, defaultNote: "models/minilm-l6", "the checkpoint folder")],
        returns: "record {name, path, layers, hidden, heads, parameters}",
        examples: ["let m = model\nprint m.layers"]
    ) { inv in
        let folder = try inv.string("path").map { URL(fileURLWithPath: $0) } ?? Locations.modelFolder().url
        let m: BertModel
        m = try inv.at("path") { try BertModel.load(folder: folder) }
        inv.session.model = m
        let c = m.config
        var fields: [(String, Value)] = [("name", .string(c.name)), ("path", .string(folder.path)), ("layers", .number(Double(c.numLayers))),
                                         ("hidden", .number(Double(c.hiddenSize))), ("heads", .number(Double(c.numHeads))),
                                         ("parameters", .number(Double(m.parameters.count)))]
        if let run = try checkpointRun(m, session: inv.session) {
            fields.append(("classifier", .run(run)))
        }
        return .record(Record(fields))
    }

    /// A fine-tuned checkpoint's classifier as a run (a frozen encoder and a pooled head named
    /// `classifier`) when its label count fits a built-in task: `eval TASK` then scores it. Otherwise
    /// it is ignored, and a note says so.
    static func checkpointRun(_ m: BertModel, session s: Session) throws -> RunHandle? {
        guard let classifier = m.classifier else { return nil }
        let K = classifier.weight.shape[0]
        let labels = classifier.labels.isEmpty ? "" : " (\(classifier.labels.joined(separator: ", ")))"
        let fitting = Datasets.builtIn.filter { $0.value.spec.kind == (K == 1 ? .regression : .classification) && (K == 1 || $0.value.spec.classes == K) }.keys.sorted()
            + (K == 2 ? ["sst2"] : [])
        guard !fitting.isEmpty else {
            s.emit(.warning("the checkpoint's classifier has \(K) labels\(labels), which no built-in task has: it is ignored (the encoder is loaded)"))
            return nil
        }
        guard m.hasPooler else {
            s.emit(.warning("the checkpoint's classifier reads the pooled output, and it has no pooler weights: the classifier is ignored"))
            return nil
        }
        let network = try Network(model: m, adaptation: AdaptationConfig(mode: .head))
        let head = network.addHead("classifier", kind: K == 1 ? .regression : .classification, classes: K, pooled: true)
        head.weight.copy(from: classifier.weight)
        head.bias.copy(from: classifier.bias)
        var r = describe(network.adaptation)
        r.fields += [("name", .string("classifier")), ("tasks", .list([.string("classifier")])), ("labels", .list(classifier.labels.map { .string($0) }))]
        let run = RunHandle(name: "classifier", network: network, record: r, tasks: ["classifier"])
        s.lastRun = run
        s.emit(.text("the checkpoint's classifier (\(K) label\(K == 1 ? "" : "s")\(labels)) is the current run: `eval \(fitting.joined(separator: "|"))` scores it"))
        return run
    }

    static let data = CommandSpec(
        "data", group: "setup", summary: "Describe a task's data, or register a CSV file as a task.",
        detail: """
        Built-in tasks: sst (SST-5, 5 classes), quora (paraphrase pairs, binary), sts (similarity pairs, regression 0–5), \
        cfimdb (2 classes), sst2 (SST-5 without neutral). A file registers a new task: `data "reviews.csv" name=reviews \
        text=review label=stars` (tab- or comma-separated, quoted fields allowed; classes from the labels unless given). \
        The file's train and dev splits are the same file unless `dev=` names another.
        """,
        parameters: [
            ParameterSpec("task", .name, positional: true, required: true, "a task name, or a CSV file to register"),
            ParameterSpec("split", .choice(["train", "dev"]), default: "dev", "which split to describe"),
            ParameterSpec("limit", .integer, "N examples, drawn by sample= with seed 0 (as eval draws them)"),
            ParameterSpec("sample", .choice(Sampling.allCases.map(\.rawValue)), default: "stratified", "how limit= draws rows: stratified, random or first"),
            ParameterSpec("name", .name, "the task name for a registered file (default: the file's name)"),
            ParameterSpec("text", .name, "column of the text (registering a file)"),
            ParameterSpec("pair", .name, "column of the second text, for pair tasks"),
            ParameterSpec("label", .name, "column of the label"),
            ParameterSpec("classes", .integer, "number of classes (default: from the labels)"),
            ParameterSpec("dev", .string, "a separate file for the dev split"),
        ],
        returns: "record {task, split, examples, kind, classes, path}",
        examples: ["data sst", "data sts split=train limit=100"]
    ) { inv in
        let s = inv.session
        var task = try inv.string("task")!
        if task.hasSuffix(".csv") || task.hasSuffix(".tsv") || task.contains("/") {
            guard let text = try inv.string("text"), let label = try inv.string("label") else {
                throw Diagnostic("registering a file needs text=COLUMN and label=COLUMN", at: inv.call.location)
            }
            let name = try inv.string("name") ?? URL(fileURLWithPath: task).deletingPathExtension().lastPathComponent
            let registration = TaskRegistration(name: name, path: URL(fileURLWithPath: task).standardizedFileURL.path, text: text, pair: try inv.string("pair"),
                                                label: label, classes: try inv.count("classes", in: 2...TaskSpec.maxClasses),
                                                devPath: try inv.string("dev").map { URL(fileURLWithPath: $0).standardizedFileURL.path })
            try inv.at("task") { try s.register(registration) }
            task = name
        }
        let split = try inv.defaulted("split", inv.string)
        let d = try s.dataset(task, split: split, subset: try TrainingCommands.evaluationSubset(inv), at: inv.location("task"))
        return .record(Record([("task", .string(task)), ("split", .string(split)), ("examples", .number(Double(d.count))),
                               ("kind", .string(d.spec.kind.rawValue)), ("classes", .number(Double(d.spec.classes))), ("path", .string(d.path))]))
    }

    static let seed = CommandSpec(
        "seed", group: "setup", summary: "Set the seed of initialisation, shuffling and dropout for the following runs.",
        parameters: [ParameterSpec("value", .integer, positional: true, required: true, "a non-negative integer")],
        examples: ["seed 42", "for s in [0, 1, 2] {\n  seed s\n}"]
    ) { inv in
        let v = try inv.integer("value")!
        guard v >= 0 else { throw Diagnostic("seed must be ≥ 0, got \(v)", at: inv.location("value")) }
        inv.session.seed = UInt64(v)
        return .none
    }

    static let targetNames = AdapterTarget.sets.keys.sorted() + AdapterTarget.allCases.map(\.rawValue)

    static func adaptation(_ mode: AdaptationMode) -> CommandSpec {
        let adapters = mode.usesAdapters
        return CommandSpec(
            mode.rawValue, group: "adaptation", summary: adaptationSummary(mode), parameters: adaptationParameters(mode), returns: "record of the configuration",
            examples: mode == .adalora ? ["adalora", "adalora init_rank=12 target_rank=4 targets=all-linear", "adalora init_rank=8 target_rank=2 tinit=20 tfinal=20 delta_t=5"]
                : adapters ? ["\(mode.rawValue) rank=4", "\(mode.rawValue) rank=8 targets=all-linear alpha=16", "\(mode.rawValue) rank=2 targets=[query, value, output] layers=[4, 5]"] : [mode.rawValue]
        ) { inv in try adapt(mode, inv) }
    }

    static func adaptationParameters(_ mode: AdaptationMode) -> [ParameterSpec] {
        var params: [ParameterSpec] = []
        let placement = [
            ParameterSpec("targets", .list(.choice(targetNames)), default: "attention",
                          "attention (query, value), qkv, attention-all, all-linear, or a list of query, key, value, attention-output, intermediate, output"),
            ParameterSpec("layers", .list(.integer), defaultNote: "all", "encoder layers that get adapters"),
        ]
        if mode == .lora || mode == .dora {
            params = [
                ParameterSpec("rank", .integer, default: 8, "adapter rank r"),
                ParameterSpec("alpha", .number, defaultNote: "2 × rank", "scaling numerator: s = alpha / r"),
                ParameterSpec("dropout", .number, default: 0, "dropout on the adapter input (LoRA only)"),
            ] + placement + [
                ParameterSpec("rslora", .bool, default: false, "scale alpha/√r instead of alpha/r"),
            ]
        } else if mode == .adalora {
            let d = AdaLoRASettings()
            params = [
                ParameterSpec("init_rank", .integer, default: 12, "initial rank r0 of every adapter (PEFT's init_r)"),
                ParameterSpec("target_rank", .integer, default: .number(Double(d.targetRank)), "average rank the budget is cut to (target_r)"),
                ParameterSpec("alpha", .number, default: .number(Double(AdaLoRASettings.defaultAlpha)), "scaling numerator: s = alpha / (r0 + 1e-5) (PEFT's lora_alpha)"),
                ParameterSpec("dropout", .number, default: 0, "dropout on the adapter input"),
            ] + placement + [
                ParameterSpec("tinit", .integer, default: .number(Double(d.tinit)), "steps at the full budget before cutting starts"),
                ParameterSpec("tfinal", .integer, default: .number(Double(d.tfinal)), "last steps trained at the final rank pattern"),
                ParameterSpec("delta_t", .integer, default: .number(Double(d.deltaT)), "steps between two allocations (deltaT)"),
                ParameterSpec("beta1", .number, default: 0.85, "smoothing of the importance |p · ∂L/∂p|"),
                ParameterSpec("beta2", .number, default: 0.85, "smoothing of the importance's uncertainty"),
                ParameterSpec("orthogonality", .number, default: 0.5, "weight of the orthogonal regularisation of A and B (orth_reg_weight)"),
            ]
        }
        params.append(ParameterSpec("amp", .bool, default: false, "bf16 mixed precision: bf16 products of the linear layers, fp32 master weights (see docs/training.md)"))
        return params
    }

    static func adaptationSummary(_ mode: AdaptationMode) -> String {
        let summary: String
        switch mode {
        case .full: summary = "Train every encoder weight (full fine-tuning) in the following runs."
        case .head: summary = "Freeze the encoder and train only the task heads in the following runs."
        case .lora: summary = "Train LoRA adapters (h = W0 x + (alpha/r) B A x) in the following runs."
        case .dora: summary = "Train DoRA adapters (magnitude × direction, PEFT semantics) in the following runs."
        case .adalora: summary = "Train AdaLoRA adapters (ΔW = s·B(A⊙E), the rank budget cut by importance during training, PEFT semantics) in the following runs."
        }
        return summary
    }

    /// Sets the session's adaptation from a `lora` / `dora` / `adalora` / `full` / `head` call.
    static func adapt(_ mode: AdaptationMode, _ inv: Invocation) throws -> Value {
        let adapters = mode.usesAdapters
        var targets: [AdapterTarget] = [.query, .value]
        if let names = try inv.strings("targets") {
            var list: [AdapterTarget] = []
            for n in names { for t in try inv.at("targets", { try AdapterTarget.parse(n) }) where !list.contains(t) { list.append(t) } }
            targets = list
        }
        // full and head have no rank or adapter dropout: the configuration's own defaults stand
        let rank = adapters ? try inv.defaulted(mode == .adalora ? "init_rank" : "rank", inv.integer) : AdaptationConfig(mode: mode).rank
        var config = AdaptationConfig(mode: mode, rank: rank, alpha: try inv.number("alpha").map(Float.init),
                                      dropout: adapters ? Float(try inv.defaulted("dropout", inv.number)) : 0, targets: targets,
                                      layers: try inv.list("layers")?.map { v -> Int in if case .number(let n) = v, n == n.rounded(), abs(n) < 1e6 { return Int(n) }; return -1 },
                                      rsLoRA: try inv.bool("rslora") ?? false, amp: try inv.defaulted("amp", inv.bool))
        if mode == .adalora {
            let settings = AdaLoRASettings(targetRank: try inv.defaulted("target_rank", inv.integer), tinit: try inv.defaulted("tinit", inv.integer),
                                           tfinal: try inv.defaulted("tfinal", inv.integer), deltaT: try inv.defaulted("delta_t", inv.integer),
                                           beta1: Float(try inv.defaulted("beta1", inv.number)), beta2: Float(try inv.defaulted("beta2", inv.number)),
                                           orthogonality: Float(try inv.defaulted("orthogonality", inv.number)))
            try inv.at("target_rank") { try settings.validate(initialRank: rank) }
            config.adaLoRA = settings
        }
        if let m = inv.session.model {
            try inv.at { try config.validate(for: m.config) }
        } else if adapters && rank < 1 {
            throw Diagnostic("invalid rank \(rank): expected a rank of at least 1", at: inv.location("rank"))
        }
        inv.session.adaptation = config
        return .record(describe(config))
    }

    static let adaptationCommands = AdaptationMode.allCases.map(adaptation)

    static func describe(_ c: AdaptationConfig) -> Record {
        var r = Record([("mode", .string(c.mode.rawValue))])
        if c.usesAdapters {
            r["rank"] = .number(Double(c.rank)); r["alpha"] = .number(Double(c.alpha))
            r["targets"] = .list(c.targets.map { .string($0.rawValue) })
            if c.dropout > 0 { r["dropout"] = .number(Double(c.dropout)) }
            if let l = c.layers { r["layers"] = .list(l.map { .number(Double($0)) }) }
            if c.rsLoRA { r["rslora"] = .bool(true) }
            if let a = c.adaLoRA, c.mode == .adalora {
                r["target_rank"] = .number(Double(a.targetRank))
                for (k, v) in [("tinit", a.tinit), ("tfinal", a.tfinal), ("delta_t", a.deltaT)] { r[k] = .number(Double(v)) }
                r["orthogonality"] = .number(Double(a.orthogonality))
            }
            if let p = c.rankPattern { r["rank_pattern"] = .record(Record(p.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) })) }
            if let p = c.alphaPattern { r["alpha_pattern"] = .record(Record(p.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) })) }
        }
        if c.amp { r["amp"] = .bool(true) }
        return r
    }

    static let help = CommandSpec(
        "help", group: "session", summary: "List the commands, or describe one.",
        parameters: [ParameterSpec("command", .name, positional: true, "a command name")],
        examples: ["help", "help train"]
    ) { inv in
        let registry = inv.session.registry
        if let name = try inv.string("command") {
            guard let spec = registry[name] else {
                throw Diagnostic("no command '\(name)'", at: inv.location("command"), hint: Suggestions.didYouMean(name, among: registry.order))
            }
            inv.session.emit(.text(HelpText.command(spec)))
        } else {
            inv.session.emit(.text(HelpText.overview(registry)))
        }
        return .none
    }

    static let quit = CommandSpec("quit", group: "session", summary: "Leave the REPL (Ctrl-D does the same).") { inv in
        inv.session.quitRequested = true
        return .none
    }
}

/// Help text generated from the specs (the REPL's `help` and docs/language.md share it).
public enum HelpText {
    public static func overview(_ registry: CommandRegistry) -> String {
        var groups: [String: [CommandSpec]] = [:], order: [String] = []
        for n in registry.order { let s = registry[n]!; if groups[s.group] == nil { order.append(s.group) }; groups[s.group, default: []].append(s) }
        var out = "Commands (help COMMAND for details):\n"
        for g in order {
            out += "\n\(g):\n"
            for s in groups[g]! { out += "  " + s.name.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + s.summary + "\n" }
        }
        out += "\nFunctions: " + Builtins.names.joined(separator: ", ")
        out += "\nLanguage: let x = …, x += …, for x in list { … }, if … { … } else { … }, # comments"
        return out
    }

    public static func command(_ s: CommandSpec) -> String {
        var out = "\(s.usage)\n\n\(s.summary)"
        if !s.detail.isEmpty { out += "\n\(s.detail)" }
        if !s.parameters.isEmpty {
            out += "\n\nParameters:"
            for p in s.parameters {
                var line = "\n  \(p.name) (\(p.type)\(p.required ? ", required" : ""))"
                if let d = p.defaultText { line += ", default \(d)" }
                out += line + ": " + p.summary
            }
        }
        if s.returns != "none" { out += "\n\nReturns: \(s.returns)" }
        if !s.examples.isEmpty { out += "\n\nExamples:\n" + s.examples.map { "  " + $0.replacingOccurrences(of: "\n", with: "\n  ") }.joined(separator: "\n") }
        return out
    }
}
