// The tokenizer a checkpoint folder describes, as HF transformers reads it:
//   vocabulary   vocab.txt, else the WordPiece `model.vocab` of tokenizer.json (transformers 5 saves
//                only tokenizer.json);
//   settings     tokenizer.json's BertNormalizer (lowercase, strip_accents), which HF's fast
//                tokenizer uses, else tokenizer_config.json (do_lower_case, strip_accents), else
//                uncased; special tokens (cls_token, sep_token, pad_token, unk_token, mask_token)
//                from tokenizer_config.json, as strings or {"content": …}; WordPiece's
//                max_input_chars_per_word from tokenizer.json.
// A cased checkpoint (do_lower_case: false) keeps the case: "Hello" is not "hello".
import Foundation

extension BertTokenizer {
    public static func load(folder: URL) throws -> BertTokenizer {
        let fm = FileManager.default
        let vocabURL = folder.appendingPathComponent("vocab.txt")
        let jsonURL = folder.appendingPathComponent("tokenizer.json")
        let configURL = folder.appendingPathComponent("tokenizer_config.json")

        let tokenizerJSON = try object(jsonURL)
        let config = try object(configURL) ?? [:]

        let vocabulary = try readVocabulary(folder: folder, vocabURL: vocabURL, jsonURL: jsonURL, tokenizerJSON: tokenizerJSON)

        // the settings
        func flag(_ o: [String: Any], _ key: String) -> Bool? { o[key] as? Bool }
        var lowercase = flag(config, "do_lower_case") ?? true
        var stripAccents = flag(config, "strip_accents")
        if let normalizer = tokenizerJSON?["normalizer"] as? [String: Any], (normalizer["type"] as? String) == "BertNormalizer" {
            lowercase = flag(normalizer, "lowercase") ?? lowercase
            stripAccents = normalizer["strip_accents"] is NSNull ? nil : flag(normalizer, "strip_accents") ?? stripAccents
        }
        var specials = Specials()
        func special(_ key: String) -> String? {
            if let s = config[key] as? String { return s }
            return (config[key] as? [String: Any])?["content"] as? String
        }
        specials.cls = special("cls_token") ?? specials.cls
        specials.sep = special("sep_token") ?? specials.sep
        specials.pad = special("pad_token") ?? specials.pad
        specials.unk = special("unk_token") ?? specials.unk
        specials.mask = special("mask_token") ?? specials.mask
        for (name, token) in [("cls_token", specials.cls), ("sep_token", specials.sep), ("pad_token", specials.pad), ("unk_token", specials.unk)] where vocabulary.id(token) == nil {
            throw ModelError.invalidVocabulary(path: fm.fileExists(atPath: vocabURL.path) ? vocabURL.path : jsonURL.path, reason: "no \(token) token (the \(name))")
        }
        let maxChars = ((tokenizerJSON?["model"] as? [String: Any])?["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100
        return BertTokenizer(vocabulary: vocabulary, lowercase: lowercase, stripAccents: stripAccents, specials: specials, maxInputCharsPerWord: max(1, maxChars))
    }

    /// A JSON object file, or nil when the file is absent.
    static func object(_ url: URL) throws -> [String: Any]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ModelError.fileUnreadable(path: url.path, reason: (error as NSError).localizedDescription) }
        guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError.invalidVocabulary(path: url.path, reason: "not a JSON object")
        }
        return o
    }

    /// vocab.txt, else the WordPiece `model.vocab` of tokenizer.json.
    static func readVocabulary(folder: URL, vocabURL: URL, jsonURL: URL, tokenizerJSON: [String: Any]?) throws -> Vocabulary {
        let fm = FileManager.default
        if fm.fileExists(atPath: vocabURL.path) {
            return try Vocabulary(contentsOf: vocabURL)
        } else if let model = tokenizerJSON?["model"] as? [String: Any] {
            guard (model["type"] as? String) == "WordPiece", let vocab = model["vocab"] as? [String: Any] else {
                throw ModelError.invalidVocabulary(path: jsonURL.path, reason: "model.type is \(model["type"] as? String ?? "missing"); lorabook reads BERT's WordPiece vocabulary")
            }
            var tokens = [String](repeating: "", count: vocab.count)
            for (token, id) in vocab {
                guard let i = (id as? NSNumber)?.intValue, tokens.indices.contains(i), tokens[i].isEmpty else {
                    throw ModelError.invalidVocabulary(path: jsonURL.path, reason: "model.vocab gives '\(token)' the id \(id), not one of 0…\(vocab.count - 1) used once")
                }
                tokens[i] = token
            }
            if let prefix = model["continuing_subword_prefix"] as? String, prefix != "##" {
                throw ModelError.invalidVocabulary(path: jsonURL.path, reason: "continuing_subword_prefix is '\(prefix)'; lorabook's WordPiece uses '##'")
            }
            return Vocabulary(tokens: tokens)
        } else {
            throw ModelError.missingModelFile(folder: folder.path, file: "vocab.txt", expected: "the WordPiece vocabulary, one token per line (or tokenizer.json with a WordPiece model)")
        }
    }
}
