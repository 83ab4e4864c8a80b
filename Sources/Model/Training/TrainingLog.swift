// A training run's TensorBoard log (`train … log="DIR"`, `lorabook train --log-dir DIR`): the
// scalars HF Trainer logs, in DIR/RUN-NAME/events.out.tfevents.*:
//   train/loss, train/learning_rate     every step
//   train/epoch_loss                    at the end of each epoch (its mean loss)
//   eval/<metric>, eval/train_loss      at each evaluation during training (eval=, eval_every=)
// A run loaded from a run store trained elsewhere: its log holds what the store kept, its curve.
import Foundation

public final class TrainingLog {
    public let writer: TensorBoardWriter
    private var lastStep = 0

    /// A new event file in `folder`/`run` (the run's name, so that TensorBoard shows runs side by side).
    public init(folder: URL, run: String) throws {
        let safe = String(run.map { $0.isLetter || $0.isNumber || "-_.+".contains($0) ? $0 : "_" })
        writer = try TensorBoardWriter(folder: folder.appendingPathComponent(safe.isEmpty ? "run" : safe))
    }

    public func record(_ event: TrainingEvent) {
        switch event {
        case .step(let p):
            lastStep = p.step
            writer.scalar("train/loss", Double(p.loss), step: p.step)
            writer.scalar("train/learning_rate", Double(p.learningRate), step: p.step)
        case .epochFinished(_, let meanLoss, _):
            writer.scalar("train/epoch_loss", Double(meanLoss), step: lastStep)
        case .evaluated(let point):
            record(point)
        default:
            break
        }
    }

    private func record(_ point: CurvePoint) {
        for m in point.metrics { writer.scalar("eval/" + m.name, m.value, step: point.step) }
        if let loss = point.trainLoss { writer.scalar("eval/train_loss", loss, step: point.step) }
    }

    /// A run from a store: the evaluations it kept.
    public func record(stored result: TrainResult) {
        for point in result.curve { record(point) }
    }

    public func close() { writer.close() }
}
