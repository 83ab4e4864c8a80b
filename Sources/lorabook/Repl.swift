// `lorabook repl`: the language at a prompt, with libedit line editing, history kept across
// sessions (~/.lorabook_history, or $LORABOOK_HISTORY), Tab completion of commands, parameters and
// variables, and multi-line input while a bracket is open. Without a terminal it runs stdin as a
// script.
import ArgumentParser
import CEditLine
import Foundation
import Kernel
import Model

struct Repl: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The lorabook language at a prompt (or a script on stdin: `lorabook repl < script.lb`).",
        discussion: "Ctrl-C stops a running training and returns to the prompt; Ctrl-D or `quit` leaves. Exit status as for exec when stdin is a script.")

    @OptionGroup var dataOption: DataOption

    var data: String? { dataOption.data }
    @OptionGroup var storeOptions: StoreOptions

    func run() throws {
        let interpreter = makeInterpreter(data: data, store: storeOptions.current)
        if isatty(STDIN_FILENO) == 0 {
            let source = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            let status = runScript(source, file: "<stdin>", interpreter: interpreter)
            if status != 0 { throw ExitCode(status) }
            return
        }
        LineEditor.run(interpreter)
    }
}

enum LineEditor {
    nonisolated(unsafe) static var interpreter: Interpreter!
    nonisolated(unsafe) static var candidates: [String] = []

    static var historyPath: String {
        if let p = ProcessInfo.processInfo.environment["LORABOOK_HISTORY"], !p.isEmpty { return p }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".lorabook_history").path
    }

    /// Completion words for `word`, given the text of the line before it (libedit splits words at
    /// spaces, '=' and brackets).
    static func completions(before: String, word: String) -> [String] {
        let session = interpreter.session
        let registry = session.registry
        let variables = session.variables.keys.sorted()
        let functions = Builtins.names.map { $0 + "(" }
        let words = before.split(whereSeparator: { " \t([{,".contains($0) }).map(String.init)
        var pool: [String]
        // the command this word belongs to: the first word, or the one after `let x =`
        let commandWord = words.first == "let" ? (words.count >= 3 ? words[2] : nil) : words.first
        let spec = commandWord.flatMap { registry[$0] }
        if before.hasSuffix("="), let spec, let key = words.last?.dropLast(), let p = spec.parameters.first(where: { $0.name == key }) {
            // a parameter's value: its choices, then variables
            if case .choice(let options) = p.type.elementType { pool = options } else { pool = variables + functions }
        } else if words.isEmpty || (words == ["let"]) || (words.count == 3 && words[0] == "let" && before.hasSuffix("= ")) {
            pool = registry.order + ["let", "for", "if"] + variables
        } else if let spec {
            pool = commandWord == "help" ? registry.order
                : spec.parameters.filter { !$0.positional }.map { $0.name + "=" } + variables + functions
        } else {
            pool = variables + functions + registry.order
        }
        return pool.filter { $0.hasPrefix(word) }
    }

    static func run(_ interp: Interpreter) {
        interpreter = interp
        let session = interp.session
        _ = historyPath.withCString { read_history($0) }
        rl_catch_signals = 0   // our SIGINT handler decides: cancel the line, or stop a training
        rl_attempted_completion_function = { text, start, _ in
            let word = text.map { String(cString: $0) } ?? ""
            let line = rl_line_buffer.map { String(cString: $0) } ?? ""
            let before = String(decoding: Array(line.utf8.prefix(Int(start))), as: UTF8.self)
            LineEditor.candidates = LineEditor.completions(before: before, word: word)
            rl_attempted_completion_over = 1
            // no space after `rank=` or `mean(`: a value follows
            rl_completion_append_character = LineEditor.candidates.allSatisfy { $0.hasSuffix("=") || $0.hasSuffix("(") } ? 0 : 32
            guard let text else { return nil }
            return rl_completion_matches(text) { _, state in
                let i = Int(state)
                guard i < LineEditor.candidates.count else { return nil }
                return strdup(LineEditor.candidates[i])
            }
        }
        print("lorabook \(LorabookVersion.current): type `help` for commands, `quit` or Ctrl-D to leave.")
        var buffer = ""
        var lineNumber = 0
        while !session.quitRequested {
            Interrupt.requested = false
            guard let raw = readline(buffer.isEmpty ? "lorabook> " : "...> ") else {
                if Interrupt.requested {   // Ctrl-C at the prompt: drop the line, stay
                    print("^C")
                    buffer = ""
                    continue
                }
                print("")   // Ctrl-D
                break
            }
            let line = String(cString: raw)
            free(raw)
            if buffer.isEmpty && line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            buffer += (buffer.isEmpty ? "" : "\n") + line
            if Interpreter.needsMoreInput(buffer) { continue }
            _ = buffer.replacingOccurrences(of: "\n", with: " ").withCString { add_history($0) }
            _ = historyPath.withCString { write_history($0) }
            lineNumber += 1
            let source = buffer
            buffer = ""
            let result = interp.execute(source)
            printOutputs(result.outputs, file: "<repl>", source: source, session: session)
            for d in result.diagnostics { FileHandle.standardError.write(Data((d.rendered(file: "<repl>", source: source) + "\n").utf8)) }
        }
    }
}

extension ParameterType {
    /// The element type of a list parameter, else itself.
    var elementType: ParameterType { if case .list(let t) = self { return t }; return self }
}
