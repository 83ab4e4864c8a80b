// Plans and jobs: `lorabook plan` runs a notebook without training; each training the store does
// not hold becomes a job, one self-contained JSON line (model, data sources, every setting, the
// seed, the store and the key), which any executor runs with `lorabook job PLAN --index I`: local
// worker processes (`lorabook run --jobs N`), GNU parallel (`--commands`), or a Slurm array
// (`--slurm`). A notebook rendered afterwards finds every run in the store.
import Foundation
import Model

/// One training to run, self-contained.
public struct JobSpec: Codable, Sendable, Equatable {
    public var key: String
    public var request: TrainRequest
    /// The model folder (absolute).
    public var model: String
    public var sources: [TaskSource]
    /// The run store it writes to (absolute; `lorabook job --store` overrides it).
    public var store: String
    public init(key: String, request: TrainRequest, model: String, sources: [TaskSource], store: String) {
        self.key = key; self.request = request; self.model = model; self.sources = sources; self.store = store
    }
    public var label: String { "\(request.name ?? request.defaultName) on \(request.tasks.joined(separator: "+"))" }
}

/// What planning a notebook found: new jobs (each key once), how many trainings the store already
/// holds, and whether something could not be planned because it depends on a result not trained yet
/// (then the plan is a round: run its jobs and plan again).
///
/// A training whose own arguments are unknown is left for the next round, and planning goes on. A
/// setting that could not be applied (`lora rank=best_rank` with best_rank unknown, or a skipped
/// branch that would change one) leaves that part of the session unknown: no training is planned
/// while it is, until a later command sets it again with known values (`lora …`, `seed …`).
public final class Planner: @unchecked Sendable {
    public private(set) var jobs: [JobSpec] = []
    public private(set) var stored = 0
    /// Why another round is needed (the first thing that depended on an unknown result).
    public private(set) var blockedBy: String?
    /// Session settings not known now: "adaptation", "seed", "setup" (model, data).
    public private(set) var unknownSettings: Set<String> = []
    public init() {}
    public var complete: Bool { blockedBy == nil }
    /// Whether a training now would be planned with known settings.
    public var settingsKnown: Bool { unknownSettings.isEmpty }
    public func add(_ job: JobSpec) { if !jobs.contains(where: { $0.key == job.key }) { jobs.append(job) } }
    public func noteStored() { stored += 1 }
    /// Something needs another round.
    public func needsRound(_ reason: String) { if blockedBy == nil { blockedBy = reason } }
    /// A setting is unknown until set again; another round is needed.
    public func unknownSetting(_ part: String, _ reason: String) { unknownSettings.insert(part); needsRound(reason) }
    /// A setting was set with known values.
    public func knownSetting(_ part: String) { unknownSettings.remove(part) }
}

public enum PlanFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// One job per line, written atomically.
    public static func write(_ jobs: [JobSpec], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for job in jobs { data.append(try encoder.encode(job)); data.append(0x0A) }
        try AtomicFile.write(data, to: url)
    }

    /// The jobs of a plan file; a line that is not a job is an error naming the file and line.
    public static func read(_ url: URL) throws -> [JobSpec] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Failure(description: "\(url.path): cannot read the plan file")
        }
        var jobs: [JobSpec] = []
        for (i, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
            do {
                let job = try JSONDecoder().decode(JobSpec.self, from: Data(line))
                try job.request.validate()
                jobs.append(job)
            } catch {
                throw Failure(description: "\(url.path):\(i + 1):1: not a lorabook job line (\(Self.reason(error)))")
            }
        }
        return jobs
    }

    static func reason(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let c): return c.codingPath.isEmpty ? "not JSON" : "bad value at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case let e as ModelError: return e.description
        default: return "\(error)"
        }
    }

    /// A word for a POSIX shell: single-quoted unless it is plainly safe.
    public static func shellWord(_ s: String) -> String {
        let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@%")
        if !s.isEmpty, s.unicodeScalars.allSatisfy(safe.contains) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// One shell command per job (for GNU parallel, xargs, any scheduler).
    public static func commands(plan: URL, count: Int, executable: String) -> [String] {
        (0..<count).map { "\(shellWord(executable)) job \(shellWord(plan.path)) --index \($0)" }
    }
}

/// An sbatch array script: task I runs job I of the plan.
public struct SlurmScript: Sendable {
    public var jobName = "lorabook"
    public var partition: String?
    public var time: String?
    public var cpusPerTask = 1
    /// At most this many tasks at once (`%K`); nil: as many as Slurm allows.
    public var maxParallel: Int?
    /// Where the per-task logs go.
    public var logFolder: URL
    public init(logFolder: URL) { self.logFolder = logFolder }

    /// Values Slurm reads from `#SBATCH` lines (not a shell): refused unless plainly safe.
    static func checked(_ value: String, _ what: String, allowed: String) throws -> String {
        let set = CharacterSet(charactersIn: allowed)
        guard !value.isEmpty, value.unicodeScalars.allSatisfy(set.contains) else {
            throw PlanFile.Failure(description: "\(what) '\(value)': expected only the characters \(allowed.count > 40 ? "letters, digits and \(allowed.suffix(allowed.count - 62).map(String.init).joined(separator: " "))" : allowed)")
        }
        return value
    }

    public func render(plan: URL, count: Int, executable: String) throws -> String {
        let word = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        guard count > 0 else { throw PlanFile.Failure(description: "the plan has no jobs") }
        guard cpusPerTask >= 1 else { throw PlanFile.Failure(description: "--cpus-per-task must be at least 1") }
        var lines = ["#!/bin/bash", "# Written by lorabook plan: task I of the array runs job I of \(plan.lastPathComponent)."]
        lines.append("#SBATCH --job-name=\(try Self.checked(jobName, "job name", allowed: word + "_-."))")
        lines.append("#SBATCH --array=0-\(count - 1)" + (maxParallel.map { "%\(max(1, $0))" } ?? ""))
        lines.append("#SBATCH --ntasks=1")
        lines.append("#SBATCH --cpus-per-task=\(cpusPerTask)")
        lines.append("#SBATCH --output=\(try Self.checked(logFolder.path, "log folder", allowed: word + "_-./+,@"))/%x-%A_%a.log")
        if let partition { lines.append("#SBATCH --partition=\(try Self.checked(partition, "partition", allowed: word + "_-.,"))") }
        if let time { lines.append("#SBATCH --time=\(try Self.checked(time, "time", allowed: "0123456789:-"))") }
        lines += ["set -euo pipefail",
                  "exec \(PlanFile.shellWord(executable)) job \(PlanFile.shellWord(plan.path)) --index \"$SLURM_ARRAY_TASK_ID\" --threads \"${SLURM_CPUS_PER_TASK:-1}\"",
                  ""]
        return lines.joined(separator: "\n")
    }
}

/// Runs jobs into their store, one after another, loading each model once.
public final class JobRunner {
    public var storeOverride: URL?
    private var models: [String: BertModel] = [:]
    public init(storeOverride: URL? = nil) { self.storeOverride = storeOverride }

    public enum Outcome: Sendable { case trained(TrainResult), stored, stopped }

    public func run(_ job: JobSpec, onEvent: (TrainingEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false },
                    warn: (String) -> Void = { _ in }) throws -> Outcome {
        let store = RunStore(directory: storeOverride ?? URL(fileURLWithPath: job.store))
        if case .hit = store.lookup(job.key) { return .stored }
        let model: BertModel
        if let m = models[job.model] { model = m } else {
            model = try BertModel.load(folder: URL(fileURLWithPath: job.model))
            models[job.model] = model
        }
        let data = SourceData(sources: job.sources, tokenizer: model.tokenizer)
        let key = try RunStore.key(job.request, model: model.folder, sources: job.sources)
        guard key == job.key else {
            throw ModelError.invalidArgument(name: "job \(job.key.prefix(12))",
                                             reason: "its model or data files changed since it was planned (their key is now \(key.prefix(12))); plan again")
        }
        let obtained = try store.obtain(job.request, model: model, sources: job.sources, data: data, key: key, onEvent: onEvent, shouldStop: shouldStop, warn: warn)
        if obtained.result.stopped { return .stopped }
        return obtained.origin == .stored ? .stored : .trained(obtained.result)
    }
}
