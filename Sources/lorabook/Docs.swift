// `lorabook docs`: regenerates the command reference in docs/language.md from the registry.
import ArgumentParser
import Foundation
import Kernel
import Model

struct Docs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Regenerate the command reference in docs/language.md from the command registry.")

    @Option(name: .long, help: "The file to update.") var file = "docs/language.md"

    func run() throws {
        let url = URL(fileURLWithPath: file)
        let old = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let new = LanguageReference.update(old, registry: .standard)
        if new != old { try AtomicFile.write(Data(new.utf8), to: url); print("updated \(file)") } else { print("\(file) is up to date") }
    }
}
