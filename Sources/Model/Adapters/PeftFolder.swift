// PEFT's adapter folder, in and out: `adapter_config.json` + `adapter_model.safetensors` (metadata
// {"format": "pt"}), as PEFT's `save_pretrained` writes it for a LoRA or DoRA on a BERT model
// (BertModel, or BertForSequenceClassification with its classifier in `modules_to_save`).
//
// Keys: base_model.model.[bert.]MODULE.lora_A.weight [r, in], ….lora_B.weight [out, r],
// ….lora_magnitude_vector [out] (DoRA), base_model.model.classifier.{weight,bias}; MODULE is
// encoder.layer.N.attention.self.{query,key,value}, ….attention.output.dense,
// ….intermediate.dense, ….output.dense, or pooler.dense. The classifier reads the pooled output,
// tanh(W_pooler h_[CLS] + b): it becomes a pooled head.
//
// Which modules carry adapters follows PEFT's own rules (peft/tuners/tuners_utils.py,
// check_target_module_exists): a list of names matches a module whose name is the entry or ends
// with "." + entry; a string is a regular expression the whole module name must match;
// "all-linear" is every linear layer but the classifier; layers_to_transform keeps modules whose
// name has that layer index (so never the pooler). lorabook adapts the same targets in every
// adapted layer with one rank and one alpha: a folder that needs more is refused, naming the key.
//
// AdaLoRA (peft_type ADALORA): keys ….lora_A [k, in], ….lora_E [k, 1], ….lora_B [out, k] (no
// ".weight"), where k is the number of triplets the module kept: PEFT saves only those, and its
// config's rank_pattern says which of the init_r triplets they are (MODULE.lora_E: [true, false, …]).
// lorabook's AdaLoRA adapters keep all init_r triplets with the masked ones' E at 0.
import Foundation

public enum PeftFolder {
    public static let configName = "adapter_config.json"
    public static let weightsName = "adapter_model.safetensors"

    /// Whether `url` is a folder holding a PEFT adapter configuration.
    public static func isAdapterFolder(_ url: URL) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &directory) && directory.boolValue
            && FileManager.default.fileExists(atPath: url.appendingPathComponent(configName).path)
    }

    /// PEFT's module name (in BertForSequenceClassification) of an adapter's linear layer.
    static func moduleName(layer: Int, target: AdapterTarget) -> String {
        let prefix = "bert.encoder.layer.\(layer)."
        switch target {
        case .query: return prefix + "attention.self.query"
        case .key: return prefix + "attention.self.key"
        case .value: return prefix + "attention.self.value"
        case .attentionOutput: return prefix + "attention.output.dense"
        case .intermediate: return prefix + "intermediate.dense"
        case .output: return prefix + "output.dense"
        case .pooler: return "bert.pooler.dense"
        }
    }

    /// Every linear layer of the model as PEFT names it, with where lorabook puts an adapter.
    static func linearModules(_ c: BertConfig) -> [(name: String, layer: Int?, target: AdapterTarget)] {
        var list: [(String, Int?, AdapterTarget)] = []
        for l in 0..<c.numLayers { for t in AdapterTarget.encoder { list.append((moduleName(layer: l, target: t), l, t)) } }
        list.append((moduleName(layer: 0, target: .pooler), nil, .pooler))
        return list
    }

    // MARK: reading

    /// Builds a network on `model` from a PEFT folder: its adapters and, when the folder saved a
    /// classifier, a pooled head named `head`. Every problem names the file and the key.
    public static func load(_ folder: URL, model: BertModel, head: String = "classifier", force: Bool = false) throws -> Network {
        let (config, configURL, weightsURL) = try readConfig(folder, model: model, force: force)
        let file = try SafeTensorsFile(contentsOf: weightsURL)
        let classes = try classifierClasses(file, folder: folder, weightsURL: weightsURL, model: model)
        let network = try network(config, model: model, configURL: configURL)
        let (expected, triplets) = try expectedTensors(network, config: config, configURL: configURL, head: head, classes: classes)
        try read(expected, triplets: triplets, from: file, weightsURL: weightsURL)
        return network
    }

    /// The folder's adapter_config.json, checked against the model (and its base checkpoint, when
    /// it names a local one); the config's and the weights' paths.
    static func readConfig(_ folder: URL, model: BertModel, force: Bool) throws -> (Config, URL, URL) {
        let configURL = folder.appendingPathComponent(configName), weightsURL = folder.appendingPathComponent(weightsName)
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw ModelError.missingModelFile(folder: folder.path, file: configName, expected: "a PEFT adapter folder (adapter_config.json and adapter_model.safetensors, as PEFT's save_pretrained writes them)")
        }
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            let bin = FileManager.default.fileExists(atPath: folder.appendingPathComponent("adapter_model.bin").path)
            throw ModelError.missingModelFile(folder: folder.path, file: weightsName, expected: bin
                ? "safetensors weights; this folder has only adapter_model.bin: save it again with PEFT's save_pretrained(…, safe_serialization=True)"
                : "the adapter's weights")
        }
        let data: Data
        do { data = try Data(contentsOf: configURL) } catch {
            throw ModelError.fileUnreadable(path: configURL.path, reason: "\(error.localizedDescription)")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError.invalidConfig(path: configURL.path, reason: "not a JSON object")
        }
        let config = try Config(json, path: configURL.path, model: model.config)
        // base_model_name_or_path: when it is a local checkpoint folder, its weights must be this model's
        if let base = json["base_model_name_or_path"] as? String, base.hasPrefix("/") || base.hasPrefix("."),
           let theirs = SHA256.remembered(URL(fileURLWithPath: base, relativeTo: folder).appendingPathComponent("model.safetensors").path) {
            try AdapterFile.checkBase(theirs, model: model, path: folder.path, force: force)
        }
        return (config, configURL, weightsURL)
    }

    /// The saved classifier's number of classes, if the folder saved one.
    static func classifierClasses(_ file: SafeTensorsFile, folder: URL, weightsURL: URL, model: BertModel) throws -> Int? {
        let prefix = "base_model.model."
        var classes: Int?
        if let w = file.entries[prefix + "classifier.weight"] {
            guard w.shape.count == 2, w.shape[1] == model.config.hiddenSize, (1...TaskSpec.maxClasses).contains(w.shape[0]) else {
                throw ModelError.shapeMismatch(path: weightsURL.path, key: prefix + "classifier.weight", expected: [-1, model.config.hiddenSize], actual: w.shape)
            }
            classes = w.shape[0]
        }

        if classes != nil && !model.hasPooler {
            throw ModelError.invalidArgument(name: folder.path, reason: "its classifier reads the pooled output, and the model \(model.folder.path) has no pooler weights (pooler.dense.*)")
        }
        return classes
    }

    /// The network the config describes, untrained.
    static func network(_ config: Config, model: BertModel, configURL: URL) throws -> Network {
        var adaptation = AdaptationConfig(mode: config.adaLoRA != nil ? .adalora : config.dora ? .dora : .lora, rank: config.rank, alpha: config.alpha,
                                          dropout: config.dora ? 0 : config.dropout, targets: config.targets, layers: config.layers, rsLoRA: config.rsLoRA)
        adaptation.rankPattern = config.rankPattern
        adaptation.alphaPattern = config.alphaPattern
        if let settings = config.adaLoRA { adaptation.adaLoRA = settings }
        do { return try Network(model: model, adaptation: adaptation) } catch let e as ModelError {
            throw ModelError.invalidConfig(path: configURL.path, reason: "\(e)")
        }
    }

    /// The tensors the folder must hold, by name, with where each goes (an AdaLoRA module's kept
    /// triplets go through staging tensors).
    static func expectedTensors(_ network: Network, config: Config, configURL: URL, head: String, classes: Int?) throws
        -> ([(key: String, tensor: Tensor)], [(adapter: AdaLoRAAdapter, kept: [Int], A: Tensor, E: Tensor, B: Tensor)]) {
        let prefix = "base_model.model."
        var expected: [(key: String, tensor: Tensor)] = []
        var triplets: [(adapter: AdaLoRAAdapter, kept: [Int], A: Tensor, E: Tensor, B: Tensor)] = []
        for a in network.adapters?.all ?? [] {
            let module = prefix + moduleName(layer: a.layer, target: a.target)
            if let ada = a as? AdaLoRAAdapter {
                // the kept triplets only, in rank_pattern's order
                let pattern = config.adaLoRAPattern[moduleName(layer: a.layer, target: a.target) + ".lora_E"]
                guard pattern == nil || pattern!.count == a.rank else {
                    throw ModelError.invalidConfig(path: configURL.path, reason: "rank_pattern: '\(moduleName(layer: a.layer, target: a.target)).lora_E' has \(pattern!.count) entries for init_r \(a.rank)")
                }
                let kept = (0..<a.rank).filter { pattern?[$0] ?? true }
                let t = (adapter: ada, kept: kept, A: Tensor(zeros: [kept.count, a.inFeatures]), E: Tensor(zeros: [kept.count, 1]), B: Tensor(zeros: [a.outFeatures, kept.count]))
                triplets.append(t)
                expected += [(module + ".lora_A", t.A), (module + ".lora_E", t.E), (module + ".lora_B", t.B)]
                continue
            }
            expected.append((module + ".lora_A.weight", a.A))
            expected.append((module + ".lora_B.weight", a.B))
            if let m = a.magnitude { expected.append((module + ".lora_magnitude_vector", m)) }
        }
        if let classes {
            let h = network.addHead(head, kind: classes == 1 ? .regression : .classification, classes: classes, pooled: true)
            expected.append((prefix + "classifier.weight", h.weight))
            expected.append((prefix + "classifier.bias", h.bias))
        }
        return (expected, triplets)
    }

    /// Reads every expected tensor (shapes checked), places AdaLoRA's kept triplets, and refuses
    /// a tensor lorabook would not use.
    static func read(_ expected: [(key: String, tensor: Tensor)], triplets: [(adapter: AdaLoRAAdapter, kept: [Int], A: Tensor, E: Tensor, B: Tensor)],
                     from file: SafeTensorsFile, weightsURL: URL) throws {
        for (key, tensor) in expected {
            // older PEFT versions saved the magnitude as a module with a weight
            let name = file.entries[key] != nil ? key : key + ".weight"
            guard let e = file.entries[name] else { throw ModelError.missingTensor(path: weightsURL.path, key: key, expectedShape: tensor.shape) }
            guard e.shape == tensor.shape else { throw ModelError.shapeMismatch(path: weightsURL.path, key: key, expected: tensor.shape, actual: e.shape) }
            try file.read(name, into: tensor.data)
        }
        for t in triplets {
            let a = t.adapter
            a.A.fill(0); a.B.fill(0); a.E.fill(0)
            for (j, i) in t.kept.enumerated() {
                (a.A.data + i * a.inFeatures).update(from: t.A.data + j * a.inFeatures, count: a.inFeatures)
                a.E.data[i] = t.E.data[j]
                for o in 0..<a.outFeatures { a.B.data[o * a.rank + i] = t.B.data[o * t.kept.count + j] }
            }
        }
        let used = Set(expected.flatMap { [$0.key, $0.key + ".weight"] })
        if let extra = file.names.first(where: { !used.contains($0) }) {
            throw ModelError.invalidSafetensors(path: weightsURL.path, reason: "tensor '\(extra)' is not one lorabook can load: expected only the LoRA/DoRA tensors of the modules in target_modules and a classifier")
        }
    }

    /// What lorabook reads of a PEFT LoraConfig.
    struct Config {
        var rank: Int
        var alpha: Float
        var dropout: Float
        var rsLoRA: Bool
        var dora: Bool
        var targets: [AdapterTarget]
        var layers: [Int]?
        /// By adapter name (AdaptationConfig.adapterName), where they differ from r and lora_alpha.
        var rankPattern: [String: Int]?
        var alphaPattern: [String: Float]?
        /// AdaLoRA (peft_type ADALORA): its settings, and which triplets each module kept (by
        /// PEFT's module name + ".lora_E").
        var adaLoRA: AdaLoRASettings?
        var adaLoRAPattern: [String: [Bool]] = [:]

        init(_ json: [String: Any], path: String, model c: BertConfig) throws {
            let r = Reader(json: json, path: path)
            let type = (json["peft_type"] as? String) ?? "LORA"
            guard type == "LORA" || type == "ADALORA" else { throw r.bad("peft_type", "'\(type)' is not supported (lorabook reads LORA, with use_dora for DoRA, and ADALORA)") }
            if type == "ADALORA" {
                rank = try r.whole("init_r", 12, least: 1)
                (adaLoRA, adaLoRAPattern) = try Self.adaLoRA(r, rank: rank)
            } else {
                guard let n = r.number("r"), n >= 1, n == n.rounded(), n <= 1_000_000 else { throw r.bad("r", "expected a whole number of at least 1") }
                rank = Int(n)
            }
            alpha = Float(r.number("lora_alpha") ?? 8)
            guard alpha.isFinite else { throw r.bad("lora_alpha", "expected a number") }
            dropout = Float(r.number("lora_dropout") ?? 0)
            guard dropout >= 0 && dropout < 1 else { throw r.bad("lora_dropout", "expected 0 ≤ lora_dropout < 1") }
            rsLoRA = try r.flag("use_rslora")
            dora = try r.flag("use_dora")
            try Self.rejectUnsupported(r)
            let rankPatterns = adaLoRA != nil ? [] : try r.pattern("rank_pattern"), alphaPatterns = try r.pattern("alpha_pattern")
            if adaLoRA != nil, try r.flag("use_dora") || r.flag("use_rslora") { throw r.bad("peft_type", "ADALORA with use_dora or use_rslora is not something PEFT writes") }
            for (_, k, n) in rankPatterns where n < 1 || n != n.rounded() || n > 1_000_000 { throw r.bad("rank_pattern", "'\(k)': expected a whole number of at least 1") }
            let matched = try Self.matchedModules(r, model: c)
            // lorabook's form: the same targets in every adapted layer, and perhaps the pooler
            let adaptedLayers = Set(matched.compactMap(\.layer)).sorted()
            let encoderTargets = AdapterTarget.encoder.filter { t in matched.contains { $0.target == t } }
            for l in adaptedLayers {
                let here = Set(matched.filter { $0.layer == l }.map(\.target))
                guard here == Set(encoderTargets) else {
                    throw r.bad("target_modules", "layer \(l) adapts \(here.map(\.rawValue).sorted()) but others adapt \(encoderTargets.map(\.rawValue)): lorabook adapts the same layers in every adapted block")
                }
            }
            targets = encoderTargets + (matched.contains { $0.target == .pooler } ? [.pooler] : [])
            // per-module ranks and alphas, PEFT's way: the longest pattern key that the module name
            // ends with (after a dot) decides
            func lookup(_ patterns: [(NSRegularExpression, String, Double)], _ name: String) -> Double? {
                patterns.first { $0.0.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil }?.2
            }
            var ranks: [String: Int] = [:], alphas: [String: Float] = [:]
            for m in matched {
                let module = PeftFolder.moduleName(layer: m.layer ?? 0, target: m.target)
                let name = AdaptationConfig.adapterName(layer: m.layer ?? 0, target: m.target)
                if let n = lookup(rankPatterns, module), Int(n) != rank { ranks[name] = Int(n) }
                if let a = lookup(alphaPatterns, module), Float(a) != alpha { alphas[name] = Float(a) }
            }
            rankPattern = ranks.isEmpty ? nil : ranks
            alphaPattern = alphas.isEmpty ? nil : alphas
            self.layers = adaptedLayers.isEmpty || adaptedLayers.count == c.numLayers || encoderTargets.isEmpty ? nil : adaptedLayers
        }

        /// Reads adapter_config.json's keys; every problem names the key.
        struct Reader {
            let json: [String: Any]
            let path: String
            func bad(_ key: String, _ reason: String) -> ModelError { .invalidConfig(path: path, reason: "\(key): \(reason)") }
            func number(_ key: String) -> Double? { (json[key] as? NSNumber)?.doubleValue }
            func flag(_ key: String) throws -> Bool {
                guard let v = json[key], !(v is NSNull) else { return false }
                guard let b = v as? Bool else { throw bad(key, "expected true or false") }
                return b
            }
            func isEmpty(_ key: String) -> Bool {
                guard let v = json[key] else { return true }
                if v is NSNull { return true }
                if let d = v as? [String: Any] { return d.isEmpty }
                if let a = v as? [Any] { return a.isEmpty }
                return false
            }
            func whole(_ key: String, _ fallback: Int, least: Int) throws -> Int {
                guard let v = number(key) else { return fallback }
                guard v >= Double(least), v == v.rounded(), v <= 1_000_000 else { throw bad(key, "expected a whole number of at least \(least)") }
                return Int(v)
            }
            /// rank_pattern / alpha_pattern: module-name patterns (longest first) and their numbers.
            func pattern(_ key: String) throws -> [(NSRegularExpression, String, Double)] {
                guard let v = json[key], !(v is NSNull) else { return [] }
                guard let d = v as? [String: Any] else { throw bad(key, "expected an object of module name patterns and numbers") }
                return try d.keys.sorted { $0.count > $1.count }.map { k in
                    guard let n = (d[k] as? NSNumber)?.doubleValue, n.isFinite else { throw bad(key, "'\(k)' needs a number") }
                    guard let re = try? NSRegularExpression(pattern: "^(?:.*\\.)?(?:" + k + ")$") else { throw bad(key, "'\(k)' is not a regular expression") }
                    return (re, k, n)
                }
            }
        }

        /// AdaLoRA's settings, and which triplets each module kept (rank_pattern's lists of flags).
        static func adaLoRA(_ r: Reader, rank: Int) throws -> (AdaLoRASettings, [String: [Bool]]) {
            let d = AdaLoRASettings()
            let settings = AdaLoRASettings(targetRank: try r.whole("target_r", d.targetRank, least: 1), tinit: try r.whole("tinit", 0, least: 0),
                                           tfinal: try r.whole("tfinal", 0, least: 0), deltaT: try r.whole("deltaT", 1, least: 1),
                                           beta1: Float(r.number("beta1") ?? 0.85), beta2: Float(r.number("beta2") ?? 0.85),
                                           orthogonality: Float(r.number("orth_reg_weight") ?? 0.5))
            do { try settings.validate(initialRank: rank) } catch let e as ModelError { throw r.bad("target_r", "\(e)") }
            var kept: [String: [Bool]] = [:]
            switch r.json["rank_pattern"] {
            case nil, is NSNull: break
            case let d as [String: Any]:
                for (k, v) in d {
                    guard let flags = v as? [Bool] else { throw r.bad("rank_pattern", "'\(k)': expected a list of true/false, one per triplet") }
                    kept[k.hasPrefix("base_model.model.") ? String(k.dropFirst("base_model.model.".count)) : k] = flags
                }
            default: throw r.bad("rank_pattern", "expected an object of module names and lists of true/false")
            }
            return (settings, kept)
        }

        /// Keys that ask for what lorabook's adapters do not do.
        static func rejectUnsupported(_ r: Reader) throws {
            if try r.flag("fan_in_fan_out") { throw r.bad("fan_in_fan_out", "true is for GPT-2's Conv1D layers; BERT's linear layers need false") }
            if let b = r.json["bias"] as? String, b != "none" { throw r.bad("bias", "'\(b)' trains biases, which lorabook's adapters do not (expected \"none\")") }
            if try r.flag("lora_bias") { throw r.bad("lora_bias", "a bias on lora_B is not supported") }
            for key in ["layer_replication", "target_parameters", "trainable_token_indices", "exclude_modules"] where !r.isEmpty(key) {
                throw r.bad(key, "not supported by lorabook (expected null)")
            }
            for key in ["use_qalora", "use_bdlora"] where try r.flag(key) { throw r.bad(key, "not supported by lorabook (expected false)") }
            if let saved = r.json["modules_to_save"] as? [String], let other = saved.first(where: { !["classifier", "score"].contains($0) }) {
                throw r.bad("modules_to_save", "'\(other)' is not supported (lorabook saves only a classifier head)")
            }
        }

        /// The linear modules that carry adapters, by PEFT's rules: target_modules (names, a
        /// regular expression or all-linear), then layers_to_transform and layers_pattern.
        static func matchedModules(_ r: Reader, model c: BertConfig) throws -> [(layer: Int?, target: AdapterTarget)] {
            var layers: [Int]?
            switch r.json["layers_to_transform"] {
            case nil, is NSNull: layers = nil
            case let n as NSNumber: layers = [n.intValue]
            case let a as [NSNumber]: layers = a.map(\.intValue)
            default: throw r.bad("layers_to_transform", "expected a layer index or a list of them")
            }
            for l in layers ?? [] where !(0..<c.numLayers).contains(l) { throw r.bad("layers_to_transform", "layer \(l) does not exist (the model has layers 0…\(c.numLayers - 1))") }
            if let pattern = r.json["layers_pattern"] as? String, !pattern.isEmpty, pattern != "layer" { throw r.bad("layers_pattern", "'\(pattern)' does not name BERT's encoder layers (expected \"layer\" or null)") }
            let modules = PeftFolder.linearModules(c)
            var matched: [(layer: Int?, target: AdapterTarget)] = []
            switch r.json["target_modules"] {
            case let names as [String]:
                if names.contains("classifier") || names.contains("score") { throw r.bad("target_modules", "an adapter on the classifier is not supported") }
                for m in modules where names.contains(where: { m.name == $0 || m.name.hasSuffix("." + $0) }) { matched.append((m.layer, m.target)) }
            case let text as String where text == "all-linear":
                matched = modules.map { ($0.layer, $0.target) }
            case let text as String:
                let regex: NSRegularExpression
                do { regex = try NSRegularExpression(pattern: "^(?:" + text + ")$") } catch { throw r.bad("target_modules", "'\(text)' is not a regular expression") }
                for m in modules where regex.firstMatch(in: m.name, range: NSRange(m.name.startIndex..., in: m.name)) != nil { matched.append((m.layer, m.target)) }
            default:
                throw r.bad("target_modules", "expected a list of module names or a regular expression")
            }
            if let layers { matched = matched.filter { $0.layer.map(layers.contains) ?? false } }
            guard !matched.isEmpty else { throw r.bad("target_modules", "no linear layer of this BERT matches") }
            return matched
        }
    }

    // MARK: writing

    /// Writes `network`'s adapters (and its pooled head, as PEFT's classifier) as a PEFT folder
    /// that PeftModel.from_pretrained(BertForSequenceClassification.from_pretrained(base), folder)
    /// loads. Written into a temporary folder and renamed into place: a folder is complete or absent.
    public static func save(_ network: Network, to folder: URL) throws {
        let head = try exportedHead(network)
        let (tensors, adaPattern) = exportedTensors(network, head: head)
        try writeFolder(folder, config: exportedConfig(network, head: head, adaPattern: adaPattern), tensors: tensors)
    }

    /// The one head a PEFT folder can hold (BertForSequenceClassification's pooled classifier), if any.
    static func exportedHead(_ network: Network) throws -> LinearHead? {
        let a = network.adaptation
        guard network.adapters != nil, a.usesAdapters else {
            throw ModelError.invalidArgument(name: "format=peft", reason: "a PEFT adapter folder holds LoRA or DoRA adapters; this run trained with \(a.mode.rawValue)")
        }
        let trainedHeads = network.heads.filter { $0.kind != .cosine }
        guard trainedHeads.count <= 1 else {
            throw ModelError.invalidArgument(name: "format=peft", reason: "the run has \(trainedHeads.count) heads (\(trainedHeads.map(\.name).joined(separator: ", "))); PEFT's BertForSequenceClassification has one classifier")
        }
        if let h = trainedHeads.first, !h.pooled {
            throw ModelError.invalidArgument(name: "format=peft", reason: "head '\(h.name)' reads the raw [CLS] vector; BertForSequenceClassification's classifier reads the pooled one: train with head=pooled to export it")
        }
        return trainedHeads.first
    }

    /// The tensors by PEFT's names, sorted; and for AdaLoRA which triplets each module kept.
    static func exportedTensors(_ network: Network, head: LinearHead?) -> (tensors: [(name: String, tensor: Tensor)], adaPattern: [String: [Bool]]) {
        let prefix = "base_model.model."
        var tensors: [(name: String, tensor: Tensor)] = []
        var adaPattern: [String: [Bool]] = [:]
        for ad in network.adapters?.all ?? [] {
            let module = prefix + moduleName(layer: ad.layer, target: ad.target)
            if let ada = ad as? AdaLoRAAdapter {
                // PEFT's layout: only the kept triplets, and which they are in rank_pattern
                let kept = (0..<ada.rank).filter { ada.E.data[$0] != 0 }
                let A = Tensor(zeros: [kept.count, ada.inFeatures]), E = Tensor(zeros: [kept.count, 1]), B = Tensor(zeros: [ada.outFeatures, kept.count])
                for (j, i) in kept.enumerated() {
                    (A.data + j * ada.inFeatures).update(from: ada.A.data + i * ada.inFeatures, count: ada.inFeatures)
                    E.data[j] = ada.E.data[i]
                    for o in 0..<ada.outFeatures { B.data[o * kept.count + j] = ada.B.data[o * ada.rank + i] }
                }
                tensors += [(module + ".lora_A", A), (module + ".lora_E", E), (module + ".lora_B", B)]
                adaPattern[moduleName(layer: ad.layer, target: ad.target) + ".lora_E"] = (0..<ada.rank).map { ada.E.data[$0] != 0 }
                continue
            }
            tensors.append((module + ".lora_A.weight", ad.A))
            tensors.append((module + ".lora_B.weight", ad.B))
            if let m = ad.magnitude { tensors.append((module + ".lora_magnitude_vector", m)) }
        }
        if let head {
            tensors.append((prefix + "classifier.weight", head.weight))
            tensors.append((prefix + "classifier.bias", head.bias))
        }
        return (tensors.sorted { $0.name < $1.name }, adaPattern)
    }

    /// adapter_config.json as PEFT's LoraConfig (or AdaLoraConfig) writes it.
    static func exportedConfig(_ network: Network, head: LinearHead?, adaPattern: [String: [Bool]]) -> [String: Any] {
        let a = network.adaptation
        var config: [String: Any] = [
            "peft_type": "LORA",
            "task_type": head == nil ? "FEATURE_EXTRACTION" : "SEQ_CLS",
            "base_model_name_or_path": network.model.folder.path,
            "r": a.rank, "lora_alpha": Double(a.alpha), "lora_dropout": Double(a.dropout),
            "use_rslora": a.rsLoRA, "use_dora": a.mode == .dora,
            "target_modules": targetModules(a, layers: network.model.config.numLayers),
            "layers_to_transform": NSNull(), "layers_pattern": NSNull(),
            "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
            "rank_pattern": patternJSON(a.rankPattern?.mapValues(Double.init), network: network),
            "alpha_pattern": patternJSON(a.alphaPattern?.mapValues(Double.init), network: network),
            "modules_to_save": head == nil ? NSNull() as Any : ["classifier"] as Any,
            "revision": NSNull(),
        ]
        if let ada = a.adaLoRA, a.mode == .adalora {
            // PEFT's AdaLoraConfig: r is ignored (init_r is the rank); total_step must leave a budgeting phase
            let total = max(network.rankAllocator?.totalSteps ?? 0, ada.tinit + ada.tfinal + 1)
            let adaConfig: [String: Any] = ["peft_type": "ADALORA", "r": 8, "init_r": a.rank, "target_r": ada.targetRank, "tinit": ada.tinit,
                                            "tfinal": ada.tfinal, "deltaT": ada.deltaT, "beta1": Double(ada.beta1.description)!, "beta2": Double(ada.beta2.description)!,
                                            "orth_reg_weight": Double(ada.orthogonality.description)!, "total_step": total, "rank_pattern": adaPattern,
                                            "use_dora": false, "use_rslora": false]
            config.merge(adaConfig) { _, new in new }
        }
        return config
    }

    /// Writes the folder into a temporary one and renames it into place (complete or absent); an
    /// existing folder is replaced only when it is an adapter folder or empty.
    static func writeFolder(_ folder: URL, config: [String: Any], tensors: [(name: String, tensor: Tensor)]) throws {
        let fm = FileManager.default
        let parent = folder.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let tmp = parent.appendingPathComponent(".\(folder.lastPathComponent).tmp-\(UUID().uuidString)")
        try fm.createDirectory(at: tmp, withIntermediateDirectories: false)
        do {
            let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try json.write(to: tmp.appendingPathComponent(configName))
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: tmp.appendingPathComponent(weightsName))
            if fm.fileExists(atPath: folder.path) {
                guard isAdapterFolder(folder) || ((try? fm.contentsOfDirectory(atPath: folder.path))?.isEmpty ?? false) else {
                    throw ModelError.invalidArgument(name: folder.path, reason: "exists and is not a PEFT adapter folder; it is left as it is")
                }
                try fm.removeItem(at: folder)
            }
            try fm.moveItem(at: tmp, to: folder)
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
    }

    /// A rank or alpha pattern by PEFT's full module names (which match only themselves).
    static func patternJSON(_ pattern: [String: Double]?, network: Network) -> [String: Any] {
        var out: [String: Any] = [:]
        for a in network.adapters?.all ?? [] {
            if let v = pattern?[a.name] { out[moduleName(layer: a.layer, target: a.target)] = v == v.rounded() ? Int(v) as Any : v as Any }
        }
        return out
    }

    /// PEFT's target_modules for lorabook's targets and layers: a list of module-name suffixes when
    /// one matches exactly these layers, else a regular expression over the full module names.
    static func targetModules(_ a: AdaptationConfig, layers count: Int) -> Any {
        let encoder = AdapterTarget.encoder.filter(a.targets.contains)
        let pooler = a.targets.contains(.pooler)
        let suffixes: [AdapterTarget: String] = [.query: "query", .key: "key", .value: "value", .attentionOutput: "attention.output.dense",
                                                 .intermediate: "intermediate.dense", .pooler: "pooler.dense"]
        // a list works when every layer is adapted and `output` (whose suffix "output.dense" also
        // matches "attention.output.dense") comes with the attention output
        if a.layers == nil, !encoder.contains(.output) || encoder.contains(.attentionOutput) {
            var names = encoder.filter { $0 != .attentionOutput || !encoder.contains(.output) }.map { $0 == .output ? "output.dense" : suffixes[$0]! }
            if pooler { names.append("pooler.dense") }
            return names
        }
        let layers = (a.layers ?? Array(0..<count)).map(String.init).joined(separator: "|")
        let parts = encoder.map { moduleName(layer: 0, target: $0).replacingOccurrences(of: "bert.encoder.layer.0.", with: "").replacingOccurrences(of: ".", with: "\\.") }
        var pattern = "bert\\.encoder\\.layer\\.(?:\(layers))\\.(?:\(parts.joined(separator: "|")))"
        if encoder.isEmpty { pattern = "" }
        if pooler { pattern += (pattern.isEmpty ? "" : "|") + "bert\\.pooler\\.dense" }
        return pattern
    }
}
