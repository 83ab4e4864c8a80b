// lorabook's version, reported by `lorabook info`, in reports and in cache keys.
public enum Lorabook {
    public static let version = "0.1.0"
}
