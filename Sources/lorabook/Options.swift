// The Model's choices as command-line argument types, declared once: ArgumentParser checks them,
// lists them in --help, and names the allowed values when one is wrong.
import ArgumentParser
import Model

extension AdaptationMode: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension Sampling: ExpressibleByArgument {}
extension TrainRequest.Similarity: ExpressibleByArgument {}
extension HeadInput: ExpressibleByArgument {}
extension EvaluationRequest.Keep: ExpressibleByArgument {}

/// How `train --save` writes the trained adapter.
enum AdapterFormat: String, CaseIterable, ExpressibleByArgument {
    /// One safetensors file with lorabook's metadata.
    case lorabook
    /// A PEFT adapter folder (adapter_config.json + adapter_model.safetensors).
    case peft
}

/// `--data DIR`, declared once for every command that reads the data folder.
struct DataOption: ParsableArguments {
    @Option(name: .long, help: "Data folder (default: $LORABOOK_DATA, else ../shared/data; a notebook's front matter `data:` comes before both).")
    var data: String?
}
