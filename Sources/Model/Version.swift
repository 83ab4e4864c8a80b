// lorabook's version, reported by `lorabook info`, in reports, adapter files, run manifests and cache keys.
public enum LorabookVersion {
    public static let current = "0.1.0"
}
