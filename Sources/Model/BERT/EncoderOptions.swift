// Options of a forward pass beyond the batch: adapters, dropout, training mode, and the seeds of the
// counter-based dropout masks (one per step, layer and site, so backward can regenerate each mask).
import Foundation

public struct EncoderOptions {
    public var adapters: AdapterSet?
    public var training = false
    /// Dropout after the embeddings' LayerNorm and on both dense outputs of every layer (HF's
    /// hidden_dropout_prob); 0 unless training.
    public var hiddenDropout: Float = 0
    /// Dropout on the attention probabilities (attention_probs_dropout_prob).
    public var attentionDropout: Float = 0
    /// Mixed into every dropout seed (the training step's seed).
    public var stepSeed: UInt64 = 0
    /// Whether to compute the pooler (tasks on the raw [CLS] vector do not need it).
    public var pooler = true
    /// Mixed precision: the linear layers' products in bf16 (fp32 accumulation), their inputs kept
    /// in bf16 for backward; softmax, LayerNorm, GELU, attention, adapters and losses stay fp32.
    public var amp = false
    /// The base weights do not change between steps (LoRA, DoRA, head training; inference): amp keeps
    /// their bf16 copies instead of converting them every step. Whatever changes them otherwise calls
    /// `BertModel.parametersChanged()`.
    public var baseWeightsFrozen = false

    public init(adapters: AdapterSet? = nil, training: Bool = false, hiddenDropout: Float = 0, attentionDropout: Float = 0,
                stepSeed: UInt64 = 0, pooler: Bool = true, amp: Bool = false) {
        self.adapters = adapters; self.training = training; self.amp = amp
        self.hiddenDropout = training ? hiddenDropout : 0
        self.attentionDropout = training ? attentionDropout : 0
        self.stepSeed = stepSeed; self.pooler = pooler
    }

    public var usesDropout: Bool { hiddenDropout > 0 || attentionDropout > 0 }

    public enum Site: Hashable {
        case embeddings, attentionProbs, attentionOutput, output
        case adapter(AdapterTarget)
        var code: UInt64 {
            switch self {
            case .embeddings: return 1
            case .attentionProbs: return 2
            case .attentionOutput: return 3
            case .output: return 4
            case .adapter(let t): return 10 + UInt64(AdapterTarget.allCases.firstIndex(of: t)!)
            }
        }
    }

    /// The dropout seed of one site of one layer in this step.
    public func seed(layer: Int, site: Site) -> UInt64 {
        var g = SplitMix64(seed: stepSeed ^ (UInt64(layer + 2) &* 0x100000001B3) ^ (site.code &* 0xC2B2AE3D27D4EB4F))
        return g.next()
    }
}
