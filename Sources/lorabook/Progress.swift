// Progress of long work on stderr: a redrawn bar on a terminal, a plain line every few seconds
// elsewhere (CI logs). Ctrl-C asks the running work to stop between steps.
import Foundation
import Model

final class ProgressPrinter {
    /// A redrawn bar on a terminal; plain lines elsewhere, every 10 s (LORABOOK_PROGRESS=lines), or
    /// every second for a parent that draws its workers' progress (LORABOOK_PROGRESS=worker).
    static var mode: String? { ProcessInfo.processInfo.environment["LORABOOK_PROGRESS"] }
    let isTerminal = isatty(STDERR_FILENO) != 0 && ProgressPrinter.mode == nil
    let interval: Double = ProgressPrinter.mode == "worker" ? 1 : 10
    private var lastLine = 0.0
    let label: String

    init(label: String) { self.label = label }

    /// The terminal's width (80 when it cannot be asked).
    static var terminalColumns: Int {
        var size = winsize()
        return ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    func show(_ p: TrainingProgress) {
        let eta = formatDuration(p.eta)
        let text = String(format: "%@ epoch %d/%d  step %d/%d  loss %.4f (mean %.4f)  %.1f ex/s  ETA %@",
                          label + (p.label.isEmpty || label.contains("(") ? "" : " " + p.label), p.epoch, p.epochs, p.step, p.totalSteps, p.loss, p.meanLoss, p.examplesPerSecond, eta)
        if isTerminal {
            let width = 24, filled = Int(Double(width) * Double(p.step) / Double(max(1, p.totalSteps)))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            // one screen line, never wrapped: a wrapped line cannot be redrawn in place
            let line = String("[\(bar)] \(text)".prefix(max(20, Self.terminalColumns - 1)))
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
            if p.step == p.totalSteps { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if p.elapsed - lastLine >= interval || p.step == p.totalSteps || p.step == 1 {
            lastLine = p.elapsed
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    func line(_ s: String) {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        FileHandle.standardError.write(Data("\(label) \(s)\n".utf8))
    }
}

func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}

/// Ctrl-C sets a flag that training polls between steps; a second Ctrl-C exits at once.
/// `lorabook run` also takes SIGTERM (a scheduler's stop) the same way and remembers which came.
enum Interrupt {
    nonisolated(unsafe) static var requested = false
    nonisolated(unsafe) static var signalNumber: Int32 = 0
    static func install() {
        signal(SIGINT) { _ in
            if Interrupt.requested { _exit(130) }
            Interrupt.requested = true
        }
    }
    static func installHeadless() {
        for s in [SIGINT, SIGTERM] {
            signal(s) { sig in
                if Interrupt.requested { _exit(128 + sig) }
                Interrupt.signalNumber = sig
                Interrupt.requested = true
            }
        }
    }
    /// "SIGINT" or "SIGTERM" once one came.
    static var name: String? { requested ? (signalNumber == SIGTERM ? "SIGTERM" : "SIGINT") : nil }
}
