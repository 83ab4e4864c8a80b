// Listing and pruning the run store (`lorabook runs ls|show|gc`).
import Foundation
import Model

extension RunStore {
    /// One folder in the store, checked.
    public struct Listed: Sendable {
        public var key: String
        public var manifest: Manifest?
        /// Why the entry cannot be used (nil when it can).
        public var problem: String?
        public var bytes: Int
    }

    /// Every entry, newest first; corrupt ones say why.
    public func list() -> [Listed] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var listed: [Listed] = []
        for name in names where !name.hasPrefix(".") {
            let bytes = Self.size(entryURL(name))
            switch lookup(name) {
            case .hit(let m): listed.append(Listed(key: name, manifest: m, problem: nil, bytes: bytes))
            case .corrupt(let why): listed.append(Listed(key: name, manifest: nil, problem: why, bytes: bytes))
            case .miss: break
            }
        }
        return listed.sorted { ($0.manifest?.created ?? .distantPast, $0.key) > ($1.manifest?.created ?? .distantPast, $1.key) }
    }

    /// The keys that start with `prefix` (at least 4 characters).
    public func keys(matching prefix: String) -> [String] {
        guard prefix.count >= 4 else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0.hasPrefix(prefix) }.sorted()
    }

    public struct Pruned: Sendable { public var entries = 0, corrupt = 0, temporary = 0, bytes = 0 }

    /// Removes corrupt entries, temporary folders older than `staleAfter` seconds (a writer that was
    /// killed; younger ones may belong to a writer still at work on a shared store), entries created
    /// before `olderThan`, and then the oldest entries while the store is larger than `maxBytes`.
    /// Entries whose keys are in `keep` stay.
    @discardableResult
    public func gc(olderThan: Date? = nil, maxBytes: Int? = nil, keep: Set<String> = [], staleAfter: TimeInterval = 3600, dryRun: Bool = false) -> Pruned {
        let fm = FileManager.default
        var pruned = Pruned()
        let names = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
        let now = Date()
        for name in names where name.hasPrefix(".tmp-") || name.hasPrefix(".trash-") {
            let url = directory.appendingPathComponent(name)
            let modified = ((try? fm.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date) ?? .distantPast
            guard now.timeIntervalSince(modified) > staleAfter else { continue }
            pruned.bytes += Self.size(url)
            pruned.temporary += 1
            if !dryRun { try? fm.removeItem(at: url) }
        }
        var live: [Listed] = []
        for entry in list() {
            if entry.problem != nil {
                pruned.corrupt += 1; pruned.bytes += entry.bytes
                if !dryRun { discard(entry.key) }
            } else if let olderThan, let m = entry.manifest, m.created < olderThan, !keep.contains(entry.key) {
                pruned.entries += 1; pruned.bytes += entry.bytes
                if !dryRun { discard(entry.key) }
            } else {
                live.append(entry)
            }
        }
        if let maxBytes {
            var total = live.reduce(0) { $0 + $1.bytes }
            for entry in live.reversed() where total > maxBytes && !keep.contains(entry.key) {   // oldest first
                total -= entry.bytes
                pruned.entries += 1; pruned.bytes += entry.bytes
                if !dryRun { discard(entry.key) }
            }
        }
        return pruned
    }

    static func size(_ url: URL) -> Int {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else { return 0 }
        if !isDir.boolValue { return ((try? fm.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0 }
        return ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).reduce(0) { $0 + size(url.appendingPathComponent($1)) }
    }
}
