// The lorabook command line: flags, wiring and exit codes. The only place that prints or exits.
//
// Exit codes: 0 success; 1 an error in what was asked (bad model folder, bad input file, …);
// 64 a usage error (unknown option, missing argument; from ArgumentParser).
import ArgumentParser
import Foundation
import Project
import Model

@main
struct Lorabook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lorabook",
        abstract: "A notebook runner and REPL for LoRA/DoRA experiments on small BERT models.",
        version: LorabookVersion.current,
        subcommands: [RunNotebook.self, Check.self, Repl.self, Exec.self, Info.self, Embed.self, Train.self, Eval.self, Predict.self, Bench.self, Docs.self, Cache.self, Plan.self, Job.self, Runs.self]
    )

    static func main() {
        // Arguments must be valid UTF-8; Swift would silently repair them, so check the raw bytes.
        for i in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[i] else { continue }
            if let bad = firstInvalidUTF8Byte(raw) {
                fail(ModelError.invalidUTF8(what: "argument \(i)", byteOffset: bad))
            }
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as ModelError {
            fail(error)
        } catch {
            exit(withError: error)
        }
    }

    static func fail(_ error: ModelError) -> Never {
        FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
        Foundation.exit(1)
    }

    /// Offset of the first byte that breaks UTF-8, or nil when the C string is valid.
    static func firstInvalidUTF8Byte(_ p: UnsafePointer<CChar>) -> Int? {
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
        var decoder = UTF8()
        var it = bytes.makeIterator()
        var offset = 0
        var consumed = 0
        while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s):
                consumed += UTF8.width(s); offset = consumed
            case .emptyInput:
                return nil
            case .error:
                return offset
            }
        }
    }
}

/// Options shared by the commands that load a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A BERT checkpoint folder (config.json, vocab.txt, model.safetensors). Default: $LORABOOK_MODEL or models/minilm-l6.") var model: String?
    @Option(name: .long, help: "BLAS threads (default: OpenBLAS's choice, one per core).") var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads).") }
    }

    func load() throws -> BertModel {
        if let threads { BLAS.setThreads(threads) }
        return try BertModel.load(folder: Locations.modelFolder(model).url)
    }
}
