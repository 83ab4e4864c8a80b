// One training pipeline: the language's `train` is TrainingPipeline.run on a typed request, with
// the defaults in one place; requests and results are Codable.
import XCTest
import Foundation
@testable import Kernel
import Model

final class TrainingPipelineTests: XCTestCase {
    func testDefaultsLiveInTheRequest() {
        let lora = TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .lora, rank: 4), seed: 3)
        XCTAssertEqual(lora.training.learningRate, 5e-4)
        XCTAssertEqual(lora.maxLength, 128)
        XCTAssertEqual(lora.defaultName, "lora-r4-s3")
        XCTAssertEqual(TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .head), seed: 0).training.learningRate, 1e-3)
        XCTAssertEqual(TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .full), seed: 0).training.learningRate, 5e-5)
        XCTAssertEqual(TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .full), seed: 0, learningRate: 0.1).training.learningRate, 0.1)
        XCTAssertThrowsError(try TrainRequest(tasks: ["sst", "sst"], adaptation: AdaptationConfig(mode: .head), seed: 0).validate())
        XCTAssertThrowsError(try TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .head), seed: 0, weights: [1, 2]).validate())
    }

    func testRequestsRoundTripAsJSON() throws {
        let r = TrainRequest(tasks: ["sst", "sts"], adaptation: AdaptationConfig(mode: .dora, rank: 2, targets: [.query, .value, .output]), seed: 9,
                             limit: 100, similarity: .cosine, epochs: 3, schedule: .cosine, clipNorm: 1, sampling: .roundRobin, weights: [1, 0.5], name: "x")
        let back = try JSONDecoder().decode(TrainRequest.self, from: JSONEncoder().encode(r))
        XCTAssertEqual(back, r)
    }

    /// The language's `train` and a direct pipeline run on the same request train the same
    /// network, and the record is a view of the typed result.
    func testTheLanguageTrainsThroughThePipeline() throws {
        let session = Session()
        let (_, diagnostics, _) = K.run("model\nlora rank=2\nseed 5\nlet r = train sst limit=24 batch=8 name=viaLanguage", session: session)
        XCTAssertEqual(diagnostics.map(\.message), [])
        guard case .run(let run)? = session.variables["r"], let model = session.model else { return XCTFail("no run") }
        let request = TrainRequest(tasks: ["sst"], adaptation: AdaptationConfig(mode: .lora, rank: 2), seed: 5, limit: 24, batchSize: 8)
        let direct = try TrainingPipeline.run(request, model: model, data: DataFolder(folder: session.dataFolder, tokenizer: model.tokenizer))
        let a = run.network.trainables, b = direct.network.trainables
        XCTAssertEqual(a.map(\.name), b.map(\.name))
        for (x, y) in zip(a, b) {
            XCTAssertEqual(Array(UnsafeBufferPointer(start: x.parameter.data, count: x.parameter.count)),
                           Array(UnsafeBufferPointer(start: y.parameter.data, count: y.parameter.count)), x.name)
        }
        XCTAssertEqual(run.record["steps"], .number(Double(direct.result.steps)))
        XCTAssertEqual(run.record["trainable"], .number(Double(direct.result.trainableParameters)))
        XCTAssertEqual(run.record["name"], .string("viaLanguage"))
        XCTAssertEqual(direct.result.name, "lora-r2-s5")
        XCTAssertEqual(direct.result.examples, ["sst": 24])
        let json = try JSONEncoder().encode(direct.result)
        XCTAssertEqual(try JSONDecoder().decode(TrainResult.self, from: json).request, request)
    }
}
