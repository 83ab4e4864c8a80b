// Coverage-guided fuzz targets (libFuzzer) for the readers of untrusted text and files: the
// language (lexer, parser and static checks), the notebook parser (front matter, fences, cell
// options, UTF-8), the CSV reader, and the safetensors header reader. Every input must give a value
// or an error: a crash, a trap or a hang is a finding.
//
// Built with the fuzzer by scripts/fuzz.sh (`-sanitize=fuzzer,address -DFUZZING`):
//   LORABOOK_FUZZ_TARGET=language .build-fuzz/debug/lorabook-fuzz Fuzz/corpus/language -max_total_time=600
// Built without it (by every `swift build`), the same binary replays files:
//   lorabook-fuzz TARGET FILE…
import Foundation
import Kernel
import Model
import Notebook

enum FuzzTarget: String, CaseIterable {
    case language, notebook, csv, safetensors

    func run(_ data: Data) {
        switch self {
        case .language:
            guard let source = String(data: data, encoding: .utf8) else { return }
            _ = Parser.parse(source, commands: CommandRegistry.standard.names)
            _ = Self.interpreter.check(source)
        case .notebook:
            guard let text = try? NotebookParser.text(data, path: "fuzz.md"),
                  let doc = try? NotebookParser.parse(text, path: "fuzz.md") else { return }
            for cell in doc.cells { _ = Self.interpreter.check(cell.source, firstLine: cell.line) }
            // the report's Markdown path: guard, Ink, sanitiser
            for case .markdown(let md, _) in doc.blocks { _ = HTMLSanitizer.sanitize(MarkdownGuard.prepare(md)) }
        case .csv:
            guard let text = String(data: data, encoding: .utf8) else { return }
            _ = try? DelimitedTable.parse(text, path: "fuzz.csv", delimiter: ",")
            _ = try? DelimitedTable.parse(text, path: "fuzz.tsv", delimiter: "\t")
        case .safetensors:
            guard let file = try? SafeTensorsFile(data: data, path: "fuzz.safetensors") else { return }
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 4096)
            defer { buffer.deallocate() }
            for name in file.names where file.entries[name]!.count <= 4096 { try? file.read(name, into: buffer) }
        }
    }

    /// One interpreter for the process: `check` runs nothing and changes no session state.
    static let interpreter = Interpreter()

    static var current: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["LORABOOK_FUZZ_TARGET"] ?? ""
        guard let t = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("LORABOOK_FUZZ_TARGET must be one of \(allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return t
    }()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let data = count > 0 && bytes != nil ? Data(bytes: bytes!, count: count) : Data()
    FuzzTarget.current.run(data)
    return 0
}

#if FUZZING
/// libFuzzer's driver (in the runtime -sanitize=fuzzer links). SwiftPM names an executable's entry
/// point after its module, so libFuzzer's own main is not used: this one hands over to the driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@main
struct FuzzDriver {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { bytes, count in fuzzOneInput(bytes, count) })
    }
}
#else
/// Without libFuzzer: `lorabook-fuzz TARGET FILE…` runs each file through the target (replaying
/// the corpus or a crash reproducer).
@main
struct Replay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let target = FuzzTarget(rawValue: name), args.count > 1 else {
            print("usage: lorabook-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE…")
            exit(64)
        }
        for path in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { print("cannot read \(path)"); exit(1) }
            target.run(data)
        }
        print("\(target.rawValue): \(args.count - 1) inputs, no crash")
    }
}
#endif
