// `lorabook predict`: what a trained adapter (a lorabook file or a PEFT folder) answers for texts,
// one line (or one JSON object) per input, batched; the rate goes to stderr.
import ArgumentParser
import Foundation
import Model

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict with a trained adapter: a label and probabilities (or a value) for each text.",
        discussion: """
        Inputs: the TEXT arguments, else the lines of --file, else standard input; a tab in a line separates a pair \
        (quora, sts). Output: one line per input, LABEL<tab>PROBABILITY<tab>TEXT (a value for regression), or with \
        --json one object per line: text, label, probabilities, logits (value for regression).
        """)

    @OptionGroup var options: ModelOptions
    @OptionGroup var trained: AdapterOptions
    @Option(name: .long, help: "Which head answers (default: the adapter's first; a PEFT folder's classifier is named after this).") var task: String?
    @Option(name: .long, help: "Read inputs from this file, one per line (a tab separates a pair).") var file: String?
    @Option(name: .long, help: "Maximum tokens per input.") var maxLength = 128
    @Option(name: .long, help: "Inputs per forward pass.") var batch = 64
    @Flag(name: .long, help: "One JSON object per input.") var json = false
    @Argument(help: "Texts to predict (default: --file or standard input).") var texts: [String] = []

    func run() throws {
        guard (3...65_536).contains(maxLength) else { throw ModelError.invalidArgument(name: "--max-length \(maxLength)", reason: "expected 3…65536") }
        guard (1...65_536).contains(batch) else { throw ModelError.invalidArgument(name: "--batch \(batch)", reason: "expected 1…65536") }
        let inputs = try readInputs()
        let model = try options.load()
        let network = try trained.open(model: model, peftHead: task ?? "classifier")
        let name = task ?? network.heads.first?.name
        guard let name, let head = network.head(name) else {
            throw ModelError.invalidArgument(name: "--task \(task ?? "")", reason: network.heads.isEmpty
                ? "the adapter \(trained.adapter) has no task head to predict with"
                : "the adapter has no head '\(name ?? "")'; its heads: \(network.heads.map(\.name).joined(separator: ", "))")
        }
        let start = Date()
        let predictions = try Predictor(network: network, head: head, maxLength: maxLength, batchSize: batch).predict(inputs)
        let seconds = Date().timeIntervalSince(start)
        var out = ""
        for (input, p) in zip(inputs, predictions) {
            if json {
                var o: [String: Any] = ["text": input.0, "logits": p.logits]
                if let pair = input.1 { o["pair"] = pair }
                if let label = p.label { o["label"] = label; o["probabilities"] = p.probabilities } else { o["value"] = p.logits[0] }
                out += String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self) + "\n"
            } else {
                let shown = input.0 + (input.1.map { "\t" + $0 } ?? "")
                if let label = p.label { out += "\(label)\t\(String(format: "%.4f", p.probabilities[label]))\t\(shown)\n" }
                else { out += "\(String(format: "%.4f", p.logits[0]))\t\(shown)\n" }
            }
            if out.utf8.count > 1 << 16 { FileHandle.standardOutput.write(Data(out.utf8)); out = "" }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        let rate = Double(inputs.count) / max(seconds, 1e-9)
        FileHandle.standardError.write(Data("predict: \(inputs.count) input\(inputs.count == 1 ? "" : "s") with head '\(name)' in \(String(format: "%.2f", seconds)) s (\(String(format: "%.1f", rate)) sequences/s)\n".utf8))
    }

    /// The inputs: arguments, else the file's lines, else standard input's; a tab separates a pair.
    func readInputs() throws -> [(String, String?)] {
        if !texts.isEmpty { return texts.map { ($0, nil) } }
        let data: Data, source: String
        if let file {
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw ModelError.fileUnreadable(path: file, reason: "cannot be read")
            }
            source = file
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
            source = "standard input"
        }
        var inputs: [(String, String?)] = []
        for (n, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var bytes = Array(line)
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            if bytes.isEmpty { continue }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ModelError.invalidArgument(name: "\(source):\(n + 1)", reason: "not valid UTF-8")
            }
            let parts = text.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            inputs.append((parts[0], parts.count > 1 ? parts[1] : nil))
        }
        guard !inputs.isEmpty else { throw ModelError.invalidArgument(name: source, reason: "no input text (give TEXT arguments, --file, or lines on standard input)") }
        return inputs
    }
}

/// The trained adapter `eval` and `predict` read: a lorabook file or a PEFT folder, refused on other
/// base weights unless forced.
struct AdapterOptions: ParsableArguments {
    @Option(name: .long, help: "The adapter: a file saved by lorabook (train --save, save RUN \"f.safetensors\") or a PEFT adapter folder.") var adapter: String
    @Flag(name: .long, help: "Load the adapter even if it was trained on other base weights than the model's.") var force = false

    func open(model: BertModel, peftHead: String) throws -> Network {
        try AdapterFile.open(URL(fileURLWithPath: adapter), model: model, peftHead: peftHead, force: force)
    }
}
