// `lorabook info`: version, BLAS core type and threads, the model and data folders found.
import ArgumentParser
import Foundation
import Project
import Model

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the version, the BLAS it runs with, and the model and data it finds.")

    @Option(name: .long, help: "A BERT checkpoint folder to check instead of the default.") var model: String?
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }

    func run() throws {
        let fm = FileManager.default
        print("lorabook \(LorabookVersion.current)")
        print("blas:    OpenBLAS core \(BLAS.summary)")
        print("amp:     \(BF16.note)")
        let (modelURL, modelSource) = Locations.modelFolder(model)
        let hasConfig = fm.fileExists(atPath: modelURL.appendingPathComponent("config.json").path)
        var modelLine = "model:   \(modelURL.path) (\(modelSource))"
        if hasConfig, let c = try? BertConfig(contentsOf: modelURL.appendingPathComponent("config.json")) {
            modelLine += ": \(c.name), \(c.numLayers) layers, hidden \(c.hiddenSize), \(c.numHeads) heads"
        } else {
            modelLine += ": not found (run scripts/setup.sh, or pass --model DIR)"
        }
        print(modelLine)
        let (dataURL, dataSource) = Locations.dataFolder(data)
        let files = ((try? fm.contentsOfDirectory(atPath: dataURL.path)) ?? []).filter { $0.hasSuffix(".csv") }.sorted()
        print("data:    \(dataURL.path) (\(dataSource)): " + (files.isEmpty ? "not found (set LORABOOK_DATA or pass --data DIR)" : files.joined(separator: ", ")))
    }
}
