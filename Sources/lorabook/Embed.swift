// `lorabook embed`: tokenize a text (or a pair), run the encoder, print what a check needs.
import ArgumentParser
import Foundation
import Model

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the encoder on a text or a pair and print tokens, ids and summary values.",
        discussion: """
        Prints the word pieces, their ids, the first 16 values of the [CLS] last hidden state, the mean and \
        L2 norm of the whole last hidden state (all tokens, all dimensions) and the first 8 pooler values. \
        Inputs longer than --max-length are truncated (pairs: longest first) with a warning on stderr.
        """)

    @OptionGroup var options: ModelOptions
    @Flag(name: .long, help: "Print one JSON object (keys ids, tokens, cls_first16, last_hidden_mean, last_hidden_l2norm, pooler_first8).") var json = false
    @Option(name: .long, help: "Maximum tokens including [CLS] and [SEP].") var maxLength = 128
    @Argument(help: "The text.") var text: String
    @Argument(help: "A second text, for a pair ([CLS] text [SEP] pair [SEP]).") var pairText: String?

    func validate() throws {
        if maxLength < 4 { throw ValidationError("--max-length must be at least 4, got \(maxLength).") }
    }

    func run() throws {
        let model = try options.load()
        let batch = try model.batch([(text, pairText)], maxLength: maxLength)
        let encoding = try model.tokenizer.encode(text, pairText, maxLength: maxLength)
        if encoding.truncated > 0 {
            FileHandle.standardError.write(Data("warning: input truncated to \(maxLength) tokens (\(encoding.truncated) word pieces dropped, \(pairText == nil ? "from the end" : "longest first"))\n".utf8))
        }
        let out = model.forward(batch)
        let hidden = out.hidden(0).map(Double.init)
        let mean = hidden.reduce(0, +) / Double(hidden.count)
        let norm = hidden.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let cls = Array(hidden.prefix(16))
        let pooler = Array(out.pooled(0).prefix(8)).map(Double.init)
        if json {
            let object: [String: Any] = [
                "ids": encoding.ids.map(Int.init), "tokens": encoding.tokens, "cls_first16": cls,
                "last_hidden_mean": mean, "last_hidden_l2norm": norm, "pooler_first8": pooler,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            func fmt(_ v: [Double]) -> String { v.map { String(format: "%.6f", $0) }.joined(separator: " ") }
            print("model:        \(model.config.name) (\(model.folder.path))")
            print("tokens (\(encoding.count)):  \(encoding.tokens.joined(separator: " "))")
            print("ids:          \(encoding.ids.map(String.init).joined(separator: " "))")
            print("cls[0..<16]:  \(fmt(cls))")
            print("hidden mean:  \(String(format: "%.8f", mean))")
            print("hidden L2:    \(String(format: "%.6f", norm))")
            print("pooler[0..<8]: \(fmt(pooler))")
        }
    }
}
