// One deterministic LoRA step and one DoRA step against HF transformers + PEFT
// (../shared/golden/{lora,dora}_step.json): loss, logits, every gradient norm, sampled gradients,
// and the loss after one AdamW step, within 1e-4 relative.
import XCTest
import Foundation
@testable import Model

final class GoldenTrainingStepTests: XCTestCase {
    func testLoRAStepMatchesPEFT() throws { try check("lora_step", mode: .lora) }
    func testDoRAStepMatchesPEFT() throws { try check("dora_step", mode: .dora) }

    /// Six AdaLoRA steps against PEFT (Fixtures/golden/adalora_steps.json, made by
    /// scripts/adalora_golden.py): loss with the orthogonal term, every gradient norm of A, E and B,
    /// then after each allocation the budget, every triplet's score and the mask — within 1e-4 relative.
    func testAdaLoRAStepsMatchPEFT() throws {
        let golden = try Fixtures.golden("adalora_steps")
        let model = try Fixtures.model.get()
        let conv = golden["conventions"] as! [String: Any]
        let r0 = conv["init_r"] as! Int, T = conv["total_step"] as! Int
        var config = AdaptationConfig(mode: .adalora, rank: r0, alpha: (conv["alpha"] as! NSNumber).floatValue, targets: [.query, .value])
        config.adaLoRA = AdaLoRASettings(targetRank: conv["target_r"] as! Int, tinit: conv["tinit"] as! Int, tfinal: conv["tfinal"] as! Int,
                                         deltaT: conv["deltaT"] as! Int, beta1: 0.85, beta2: 0.85, orthogonality: (conv["orth_reg_weight"] as! NSNumber).floatValue)
        let net = try Network(model: model, adaptation: config)
        net.hiddenDropout = 0; net.attentionDropout = 0
        var adapters: [AdaLoRAAdapter] = []
        for l in 0..<6 {
            for (p, t) in [AdapterTarget.query, .value].enumerated() {
                let a = try XCTUnwrap(net.adapters!.layers[l][t] as? AdaLoRAAdapter)
                for i in 0..<r0 {
                    for j in 0..<384 { a.A.data[i * 384 + j] = Float(0.05 * sin(Double(1 + 7 * i + 3 * j + 11 * l + 29 * p))) }
                    a.E.data[i] = Float(0.3 * cos(Double(1 + 5 * i + 7 * l + 13 * p)))
                }
                for o in 0..<384 { for j in 0..<r0 { a.B.data[o * r0 + j] = Float(0.01 * cos(Double(2 + 5 * o + 13 * j + 17 * l + 31 * p))) } }
                adapters.append(a)
            }
        }
        let head = net.addHead("sst", kind: .classification, classes: 5)
        for c in 0..<5 { for k in 0..<384 { head.weight.data[c * 384 + k] = Float(0.02 * sin(Double(3 + 5 * c + 7 * k))) } }
        head.bias.fill(0)
        let batchInfo = golden["batch"] as! [String: Any]
        let batch = try model.batch((batchInfo["sentences"] as! [String]).map { ($0, nil) })
        XCTAssertEqual(batch.ids.map(Int.init), (batchInfo["input_ids"] as! [[Int]]).flatMap { $0 }, "padded ids")
        let labels = batchInfo["labels"] as! [Int]
        let opt = conv["optimizer"] as! [String: Any]
        let adam = AdamW(net.trainables, eps: 1e-8, weightDecay: (opt["weight_decay"] as! NSNumber).floatValue)
        let allocator = try XCTUnwrap(net.rankAllocator)
        for step in golden["steps"] as! [[String: Any]] {
            let t = step["step"] as! Int
            net.zeroGradients()
            let (ce, _) = net.lossAndGradients(batch, head: head, labels: .classes(labels), stepSeed: 0)
            let orthogonal = allocator.addOrthogonality()
            assertRelative(Double(ce + orthogonal), step["loss"] as! Double, "step \(t) loss")
            assertRelative(Double(orthogonal) / 0.5, step["orthogonal"] as! Double, "step \(t) orthogonal term")
            for (a, entry) in zip(adapters, step["grad_norms"] as! [[String: Any]]) {
                for (name, g) in [("A", a.dA!), ("E", a.dE!), ("B", a.dB!)] {
                    assertRelative(norm(g), entry[name] as! Double, "step \(t) layer \(a.layer) \(a.target) ‖d\(name)‖")
                }
            }
            adam.update(net.trainables, learningRate: (opt["lr"] as! NSNumber).floatValue)
            let before = allocator.history.count
            allocator.update(step: t, totalSteps: T)
            let masked = allocator.history.count > before
            XCTAssertEqual(masked, step["masked"] as! Bool, "step \(t) masks")
            if masked {
                XCTAssertEqual(allocator.history.last?.budget, step["budget"] as? Int, "step \(t) budget")
                let theirs = (step["scores"] as! [[Double]]).flatMap { $0 }
                for (k, (ours, score)) in zip(allocator.scores, theirs).enumerated() {
                    assertRelative(Double(ours), score, "step \(t) score of triplet \(k)")
                }
            }
            for (a, E) in zip(adapters, step["E"] as! [[Double]]) {
                XCTAssertEqual((0..<r0).map { a.E.data[$0] == 0 }, E.map { $0 == 0 }, "step \(t) layer \(a.layer) \(a.target): the mask")
                for i in 0..<r0 where E[i] != 0 { assertRelative(Double(a.E.data[i]), E[i], "step \(t) layer \(a.layer) \(a.target) E[\(i)]") }
            }
        }
    }

    func assertRelative(_ a: Double, _ b: Double, _ what: String, tol: Double = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(abs(a - b), tol * max(abs(b), 1e-12) + 1e-9, "\(what): ours \(a), PEFT \(b)", file: file, line: line)
    }

    func norm(_ t: Tensor) -> Double { (0..<t.count).reduce(0.0) { $0 + Double(t.data[$1]) * Double(t.data[$1]) }.squareRoot() }

    func check(_ file: String, mode: AdaptationMode) throws {
        let golden = try Fixtures.golden(file)
        let model = try Fixtures.model.get()
        let conv = golden["conventions"] as! [String: Any]
        let rank = conv["rank"] as! Int, alpha = (conv["alpha"] as! NSNumber).floatValue
        let net = try Network(model: model, adaptation: AdaptationConfig(mode: mode, rank: rank, alpha: alpha, targets: [.query, .value]))
        net.hiddenDropout = 0; net.attentionDropout = 0
        // the closed-form initial values of the golden file
        for l in 0..<6 {
            for (p, t) in [AdapterTarget.query, .value].enumerated() {
                let a = net.adapters!.layers[l][t]!
                for i in 0..<rank { for j in 0..<384 { a.A.data[i * 384 + j] = Float(0.05 * sin(Double(1 + 7 * i + 3 * j + 11 * l + 29 * p))) } }
                for i in 0..<384 { for j in 0..<rank { a.B.data[i * rank + j] = Float(0.01 * cos(Double(2 + 5 * i + 13 * j + 17 * l + 31 * p))) } }
                (a as? DoRAAdapter)?.resetMagnitude(base: model.parameters.linearWeight(t, layer: l))
            }
        }
        let head = net.addHead("sst", kind: .classification, classes: 5)
        for c in 0..<5 { for k in 0..<384 { head.weight.data[c * 384 + k] = Float(0.02 * sin(Double(3 + 5 * c + 7 * k))) } }
        head.bias.fill(0)

        let batchInfo = golden["batch"] as! [String: Any]
        let sentences = batchInfo["sentences"] as! [String], labels = batchInfo["labels"] as! [Int]
        let batch = try model.batch(sentences.map { ($0, nil) })
        XCTAssertEqual(batch.ids.map(Int.init), (batchInfo["input_ids"] as! [[Int]]).flatMap { $0 }, "padded ids")
        XCTAssertEqual(batch.attentionMask.map(Int.init), (batchInfo["attention_mask"] as! [[Int]]).flatMap { $0 }, "attention mask")

        let fp32 = golden["fp32"] as! [String: Any]
        net.zeroGradients()
        let (loss, logits) = net.lossAndGradients(batch, head: head, labels: .classes(labels), stepSeed: 0)
        assertRelative(Double(loss), fp32["loss"] as! Double, "loss")
        XCTAssertClose(logits.map(Double.init), (fp32["logits"] as! [[Double]]).flatMap { $0 }, tolerance: 1e-5, "logits")
        for entry in fp32["grad_norms"] as! [[String: Any]] {
            let l = entry["layer"] as! Int, t = AdapterTarget(rawValue: entry["module"] as! String)!
            let a = net.adapters!.layers[l][t]!
            assertRelative(norm(a.dA!), entry["A_grad_norm"] as! Double, "layer \(l) \(t) ‖dA‖")
            assertRelative(norm(a.dB!), entry["B_grad_norm"] as! Double, "layer \(l) \(t) ‖dB‖")
            if let m = entry["m_grad_norm"] as? Double { assertRelative(norm((a as! DoRAAdapter).dMagnitude!), m, "layer \(l) \(t) ‖dm‖") }
        }
        assertRelative(norm(head.dWeight), fp32["head_W_grad_norm"] as! Double, "‖dW_head‖")
        assertRelative(norm(head.dBias), fp32["head_b_grad_norm"] as! Double, "‖db_head‖")
        XCTAssertClose(head.dBias.toArray().map(Double.init), fp32["head_b_grad"] as! [Double], tolerance: 1e-6, "db_head")
        let samples = fp32["samples_layer0_query"] as! [String: [Double]]
        let q0 = net.adapters!.layers[0][.query]!
        XCTAssertClose((0..<4).map { Double(q0.dA!.data[$0]) }, samples["A_grad[0][:4]"]!, tolerance: 1e-8, "dA[0][:4]")
        XCTAssertClose((0..<4).map { Double(q0.dB!.data[$0 * rank]) }, samples["B_grad[:4][0]"]!, tolerance: 1e-8, "dB[:4][0]")
        if let dm = samples["m_grad[:4]"] {
            XCTAssertClose((0..<4).map { Double((q0 as! DoRAAdapter).dMagnitude!.data[$0]) }, dm, tolerance: 1e-8, "dm[:4]")
            XCTAssertClose((0..<4).map { Double(q0.magnitude!.data[$0]) }, samples["m_init[:4]"]!, tolerance: 1e-5, "m init")
        }

        // one AdamW step (lr 1e-3, wd 0.01 on every trainable tensor), then the same batch again
        let opt = try XCTUnwrap(golden["conventions"] as? [String: Any])["optimizer"] as! [String: Any]
        let adam = AdamW(net.trainables, eps: 1e-8, weightDecay: (opt["weight_decay"] as! NSNumber).floatValue)
        adam.update(net.trainables, learningRate: (opt["lr"] as! NSNumber).floatValue)
        XCTAssertClose((0..<4).map { Double(q0.A.data[$0]) }, samples["A_after[0][:4]"]!, tolerance: 1e-7, "A after")
        XCTAssertClose((0..<4).map { Double(q0.B.data[$0 * rank]) }, samples["B_after[:4][0]"]!, tolerance: 1e-7, "B after")
        if let m = samples["m_after[:4]"] { XCTAssertClose((0..<4).map { Double(q0.magnitude!.data[$0]) }, m, tolerance: 1e-5, "m after") }
        XCTAssertClose(head.bias.toArray().map(Double.init), fp32["head_b_after"] as! [Double], tolerance: 1e-7, "head b after")
        net.zeroGradients()
        let (after, logitsAfter) = net.lossAndGradients(batch, head: head, labels: .classes(labels), stepSeed: 0)
        assertRelative(Double(after), fp32["loss_after_adamw_step"] as! Double, "loss after one AdamW step")
        XCTAssertClose(logitsAfter.map(Double.init), (fp32["logits_after_adamw_step"] as! [[Double]]).flatMap { $0 }, tolerance: 2e-5, "logits after")
    }
}
