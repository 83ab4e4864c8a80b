// The adapters of a network: one per adapted (layer, target), and the pooler's.
import Foundation

/// The adapters of a model, by layer and target.
public final class AdapterSet: @unchecked Sendable {
    public let config: AdaptationConfig
    public let layers: [[AdapterTarget: LowRankAdapter]]
    /// The adapter on the pooler's dense layer (target `pooler`), which pooled heads read.
    public let pooler: LowRankAdapter?
    public private(set) var isMerged = false

    init(config: AdaptationConfig, layers: [[AdapterTarget: LowRankAdapter]], pooler: LowRankAdapter? = nil) {
        self.config = config; self.layers = layers; self.pooler = pooler
        adaptsLinearInputsKeptInBF16 = config.targets.contains { [.attentionOutput, .intermediate, .output].contains($0) }
    }

    /// Every adapter, in (layer, target) order, then the pooler's.
    public var all: [LowRankAdapter] {
        layers.flatMap { l in AdapterTarget.encoder.compactMap { l[$0] } } + (pooler.map { [$0] } ?? [])
    }

    /// The adapters that act in the forward pass (none while merged into the base weights).
    func active(layer: Int) -> [AdapterTarget: LowRankAdapter] { isMerged ? [:] : layers[layer] }

    public var parameterCount: Int { all.reduce(0) { $0 + $1.parameterCount } }

    /// Whether an adapter sits on a layer whose input amp keeps only in bf16 (attention output, the
    /// feed-forward layers): its backward then needs that input widened back to fp32.
    let adaptsLinearInputsKeptInBF16: Bool

    func setMerged(_ merged: Bool) { isMerged = merged }
}
