// Learning-rate schedules (HF's get_linear_schedule_with_warmup and friends): warm-up from 0 over
// `warmupSteps`, then linear decay to 0 at `totalSteps`, constant, or cosine.
import Foundation

public enum ScheduleKind: String, Codable, Sendable, CaseIterable { case linear, constant, cosine }

public struct LearningRateSchedule: Sendable {
    public let kind: ScheduleKind
    public let peak: Float
    public let warmupSteps: Int
    public let totalSteps: Int

    public init(kind: ScheduleKind, peak: Float, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind; self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = max(totalSteps, 1)
    }

    /// The learning rate of optimizer step `step` (0-based, as torch's LambdaLR before its first step).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step) / Float(max(1, warmupSteps)) }
        let progress = Float(step - warmupSteps) / Float(max(1, totalSteps - warmupSteps))
        switch kind {
        case .constant: return peak
        case .linear: return peak * max(0, 1 - progress)
        case .cosine: return peak * 0.5 * (1 + cos(Float.pi * min(progress, 1)))
        }
    }
}
