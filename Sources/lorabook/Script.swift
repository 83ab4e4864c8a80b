// `lorabook exec FILE.lb` and `lorabook repl` with input from a pipe: run a script, print its
// outputs, stop at the first error.
//
// Exit codes: 0 success; 1 a runtime error; 2 syntax errors (nothing ran); 3 every statement ran but
// a claim (`expect`) failed; 64 usage.
import ArgumentParser
import Foundation
import Project
import Kernel
import Model
import Sweeps
import Notebook

enum ScriptExit {
    static let runtimeError: Int32 = 1, syntaxError: Int32 = 2, failedClaims: Int32 = 3, inconclusiveClaims: Int32 = 5
}

/// Prepares a session for a front end: progress on stderr, Ctrl-C between training steps, charts
/// drawn as text.
func makeInterpreter(data: String?, store: URL? = nil) -> Interpreter {
    let session = Session(dataFolder: Locations.dataFolder(data).url)
    session.store = store.map { RunStore(directory: $0) }
    let printer = ProgressPrinter(label: "train:")
    session.progress = { printer.show($0) }
    session.shouldStop = { Interrupt.requested }
    session.chartText = { try? Gnuplot.render($0, format: .text(width: 78, height: 22)) }
    Interrupt.install()
    return Interpreter(session: session)
}

func printOutputs(_ outputs: [Output], file: String, source: String, session: Session) {
    // a progress bar left on the line (a stopped training) is cleared before anything is printed
    if !outputs.isEmpty, isatty(STDERR_FILENO) != 0, ProgressPrinter.mode == nil { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    for o in outputs {
        let text = OutputText.render(o, file: file, source: source, chart: session.chartText)
        switch o {
        case .error, .warning: FileHandle.standardError.write(Data((text + "\n").utf8))
        default: print(text)
        }
    }
}

/// Runs a whole script; returns the exit status.
func runScript(_ source: String, file: String, interpreter: Interpreter) -> Int32 {
    let result = interpreter.execute(source)
    printOutputs(result.outputs, file: file, source: source, session: interpreter.session)
    if !result.diagnostics.isEmpty {
        for d in result.diagnostics { FileHandle.standardError.write(Data((d.rendered(file: file, source: source) + "\n").utf8)) }
        return result.isStatic ? ScriptExit.syntaxError : ScriptExit.runtimeError
    }
    return result.failedClaims > 0 ? ScriptExit.failedClaims : result.inconclusiveClaims > 0 ? ScriptExit.inconclusiveClaims : 0
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a lorabook script (.lb) and print its outputs.",
        discussion: "Exit status: 0 success, 1 runtime error, 2 syntax errors (nothing ran), 3 a claim failed.")

    @Argument(help: "The script file.") var file: String
    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }

    func run() throws {
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw ModelError.fileUnreadable(path: file, reason: "no such file")
        }
        let source: String
        do { source = try NotebookParser.text(bytes, path: file) } catch let e as NotebookError {
            throw fail(e.description, ScriptExit.syntaxError)
        }
        let status = runScript(source, file: file, interpreter: makeInterpreter(data: data, store: storeOptions.current))
        if status != 0 { throw ExitCode(status) }
    }
}
