// The one error type of the Model module. Every case names the file (or argument) and what was
// expected, and renders as a single line; the CLI prints it after "error: ".
import Foundation

public enum ModelError: Error, Equatable, CustomStringConvertible {
    /// A folder that should hold a checkpoint does not exist.
    case modelFolderNotFound(path: String)
    /// A checkpoint folder lacks one of its files.
    case missingModelFile(folder: String, file: String, expected: String)
    case fileUnreadable(path: String, reason: String)
    /// A file that could not be written (nothing of it is left: writes go through AtomicFile).
    case fileUnwritable(path: String, reason: String)
    case invalidConfig(path: String, reason: String)
    case invalidSafetensors(path: String, reason: String)
    case unknownDType(path: String, key: String, dtype: String)
    case unsupportedDType(path: String, key: String, dtype: String)
    case missingTensor(path: String, key: String, expectedShape: [Int])
    case unusedTensor(path: String, key: String)
    case shapeMismatch(path: String, key: String, expected: [Int], actual: [Int])
    case invalidVocabulary(path: String, reason: String)
    case invalidUTF8(what: String, byteOffset: Int)
    case invalidArgument(name: String, reason: String)
    case csv(path: String, line: Int, column: Int, reason: String)

    public var description: String {
        switch self {
        case .modelFolderNotFound(let path):
            return "model folder '\(path)' does not exist (expected a BERT checkpoint folder with config.json, vocab.txt and model.safetensors; run scripts/setup.sh for the default one)"
        case .missingModelFile(let folder, let file, let expected):
            return "\(folder): no \(file) in the model folder (expected \(expected))"
        case .fileUnreadable(let path, let reason):
            return "\(path): cannot read the file: \(reason)"
        case .fileUnwritable(let path, let reason):
            return "\(path): cannot write the file: \(reason)"
        case .invalidConfig(let path, let reason):
            return "\(path): invalid BERT config: \(reason)"
        case .invalidSafetensors(let path, let reason):
            return "\(path): not a valid safetensors file: \(reason)"
        case .unknownDType(let path, let key, let dtype):
            return "\(path): tensor '\(key)' has unknown dtype '\(dtype)' (expected one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)"
        case .unsupportedDType(let path, let key, let dtype):
            return "\(path): tensor '\(key)' has dtype \(dtype), which cannot be read as float weights (expected F32, F16 or BF16)"
        case .missingTensor(let path, let key, let shape):
            return "\(path): missing tensor '\(key)' (expected shape \(shape))"
        case .unusedTensor(let path, let key):
            return "\(path): unexpected tensor '\(key)' is not part of a BERT encoder (expected only embeddings.*, encoder.layer.N.*, pooler.*, optionally prefixed by 'bert.')"
        case .shapeMismatch(let path, let key, let expected, let actual):
            return "\(path): tensor '\(key)' has shape \(actual), expected \(expected) from config.json"
        case .invalidVocabulary(let path, let reason):
            return "\(path): invalid vocabulary: \(reason)"
        case .invalidUTF8(let what, let offset):
            return "\(what) is not valid UTF-8 (first bad byte at offset \(offset))"
        case .invalidArgument(let name, let reason):
            return "invalid \(name): \(reason)"
        case .csv(let path, let line, let column, let reason):
            return "\(path):\(line):\(column): \(reason)"
        }
    }
}

extension ModelError: LocalizedError {
    public var errorDescription: String? { description }
}
