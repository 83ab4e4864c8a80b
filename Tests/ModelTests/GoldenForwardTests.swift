// The pretrained MiniLM-L6 against HF transformers (../shared/golden/minilm_forward.json, copied to
// Fixtures/golden): token ids exactly; hidden values within 1e-4; batched with padding equals
// unbatched within 1e-5.
import XCTest
@testable import Model

final class GoldenForwardTests: XCTestCase {
    func cases() throws -> [[String: Any]] {
        try Fixtures.golden("minilm_forward")["cases"] as! [[String: Any]]
    }

    func testTokenIdsMatchHFExactly() throws {
        let model = try Fixtures.model.get()
        for c in try cases() {
            let name = c["name"] as! String
            let e = try model.tokenizer.encode(c["text_a"] as! String, c["text_b"] as? String, maxLength: 128)
            XCTAssertEqual(e.tokens, c["tokens"] as! [String], "\(name): tokens")
            XCTAssertEqual(e.ids.map(Int.init), c["input_ids"] as! [Int], "\(name): ids")
            XCTAssertEqual(e.tokenTypes.map(Int.init), c["token_type_ids"] as! [Int], "\(name): token types")
            if let full = c["untruncated_num_tokens"] as? Int {
                XCTAssertEqual(e.truncated, full - e.count, "\(name): truncated word pieces")
            }
        }
    }

    func testHiddenStatesAndPoolerMatchHF() throws {
        let model = try Fixtures.model.get()
        let acts = BertActivations(config: model.config, keepAllLayers: true)
        for c in try cases() {
            let name = c["name"] as! String
            let fp32 = c["fp32"] as! [String: Any]
            let batch = try model.batch([(c["text_a"] as! String, c["text_b"] as? String)])
            let out = model.forward(batch, activations: acts)
            let h = out.hidden(0).map(Double.init)
            XCTAssertClose(Array(h.prefix(16)), fp32["cls_first16"] as! [Double], tolerance: 1e-4, "\(name) cls_first16")
            XCTAssertClose(Array(out.pooled(0).prefix(8)).map(Double.init), fp32["pooler_first8"] as! [Double], tolerance: 1e-4, "\(name) pooler_first8")
            let mean = h.reduce(0, +) / Double(h.count)
            let norm = h.reduce(0) { $0 + $1 * $1 }.squareRoot()
            XCTAssertEqual(mean, fp32["last_hidden_mean"] as! Double, accuracy: 1e-4, "\(name) mean")
            XCTAssertEqual(norm, fp32["last_hidden_l2norm"] as! Double, accuracy: 1e-4 * max(1, norm), "\(name) L2 norm (relative 1e-4)")
            // every layer's output: layer 0 is the embeddings, 1…6 the encoder layers
            let C = model.config.hiddenSize, T = batch.sequenceLength
            for entry in fp32["per_layer"] as! [[String: Any]] {
                let l = entry["layer"] as! Int
                let p = l == 0 ? acts.embOut : acts.layer(l - 1).out
                let values = (0..<(T * C)).map { Double(p[$0]) }
                XCTAssertClose(Array(values.prefix(4)), entry["cls_first4"] as! [Double], tolerance: 1e-4, "\(name) layer \(l) cls_first4")
                XCTAssertEqual(values.reduce(0, +) / Double(values.count), entry["mean"] as! Double, accuracy: 1e-4, "\(name) layer \(l) mean")
            }
        }
    }

    func testBatchedWithPaddingEqualsUnbatched() throws {
        let model = try Fixtures.model.get()
        let inputs = try cases().map { ($0["text_a"] as! String, $0["text_b"] as? String) }
        var single: [([Float], [Float])] = []
        for input in inputs {
            let out = model.forward(try model.batch([input]))
            single.append((out.hidden(0), out.pooled(0)))
        }
        let batch = try model.batch(inputs)
        XCTAssertGreaterThan(batch.sequenceLength, batch.lengths.min()!, "the batch must actually pad")
        let out = model.forward(batch)
        for b in 0..<inputs.count {
            XCTAssertClose(out.hidden(b).map(Double.init), single[b].0.map(Double.init), tolerance: 1e-5, "sequence \(b) hidden")
            XCTAssertClose(out.pooled(b).map(Double.init), single[b].1.map(Double.init), tolerance: 1e-5, "sequence \(b) pooled")
        }
    }
}
