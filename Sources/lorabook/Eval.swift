// `lorabook eval`: a trained adapter (a lorabook file or a PEFT folder) scored on a task's dev split.
import ArgumentParser
import Foundation
import Project
import Model

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a trained adapter (a lorabook file or a PEFT folder) on a task's dev split.",
        discussion: "Prints the task's metric (accuracy, or Pearson r for sts), the majority-class baseline on the same rows, and the loss; --json gives one object.")

    @OptionGroup var options: ModelOptions
    @OptionGroup var trained: AdapterOptions
    @Option(name: .long, help: "Task: sst, quora, sts, cfimdb or sst2 (a PEFT folder's classifier answers it).") var task = "sst"
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }
    @Option(name: .long, help: "Score N dev examples, drawn by --sample with seed 0 (default: all).") var devLimit: Int?
    @Option(name: .long, help: "How --dev-limit draws rows: stratified keeps every class in proportion, first takes the file's order.") var sample: Sampling = .stratified
    @Option(name: .long, help: "Maximum tokens per example.") var maxLength = 128
    @Flag(name: .long, help: "One JSON object.") var json = false

    func run() throws {
        if let devLimit, devLimit < 1 { throw ModelError.invalidArgument(name: "--dev-limit \(devLimit)", reason: "expected at least 1") }
        guard (3...65_536).contains(maxLength) else { throw ModelError.invalidArgument(name: "--max-length \(maxLength)", reason: "expected 3…65536") }
        let model = try options.load()
        // a PEFT folder's classifier is named after the task
        let network = try trained.open(model: model, peftHead: task)
        let dev = DataFolder(folder: Locations.dataFolder(data).url, tokenizer: model.tokenizer, split: "dev")
        guard let head = network.head(task) else {
            throw ModelError.invalidArgument(name: "--task \(task)", reason: "the adapter has no head for it; its heads: \(network.heads.map(\.name).joined(separator: ", "))")
        }
        let rows = try dev.encoded(task, subset: Subset(limit: devLimit, sampling: sample, seed: 0), maxLength: maxLength, separatePairs: head.kind == .cosine)
        let e = TaskEvaluator.evaluate(network, head: head, data: rows)
        if json {
            let object: [String: Any] = ["task": task, "adapter": trained.adapter, "examples": e.examples, "metric": e.metricName, "score": e.score,
                                         "baseline": e.baseline, "loss": e.loss]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("\(task) dev \(e.metricName): \(String(format: "%.4f", e.score)) on \(e.examples) examples (baseline \(String(format: "%.4f", e.baseline)), loss \(String(format: "%.4f", e.loss)))")
        }
    }
}
