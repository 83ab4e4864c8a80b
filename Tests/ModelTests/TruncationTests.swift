// Rank from the spectrum: truncating to the full rank changes nothing; truncating by energy keeps,
// per adapter, the rank the spectrum names and the best approximation of that rank (its error is
// exactly the dropped singular values' energy); DoRA keeps its magnitude; per-layer ranks survive
// saving and loading.
import XCTest
@testable import Model

final class TruncationTests: XCTestCase {
    static let tiny = Fixtures.tinyModel(seed: 9)

    func trained(_ mode: AdaptationMode) throws -> Network {
        let net = try Network(model: Self.tiny, adaptation: AdaptationConfig(mode: mode, rank: 4, targets: [.query, .value, .intermediate]), seed: 2)
        var rng = SplitMix64(seed: 7)
        for a in net.adapters!.all {
            // an update whose singular values fall off: column j of B scaled by 0.5^j
            for o in 0..<a.outFeatures { for j in 0..<a.rank { a.B.data[o * a.rank + j] = Float(rng.nextUniform() - 0.5) * Float(pow(0.5, Double(j))) } }
        }
        net.addHead("sst", kind: .classification, classes: 3)
        return net
    }

    func delta(_ a: LowRankAdapter) -> [Float] {
        var d = [Float](repeating: 0, count: a.outFeatures * a.inFeatures)
        d.withUnsafeMutableBufferPointer { BLAS.gemm(m: a.outFeatures, n: a.inFeatures, k: a.rank, alpha: a.scaling, a: a.B.data, lda: a.rank, b: a.A.data, ldb: a.inFeatures, c: $0.baseAddress!, ldc: a.inFeatures) }
        return d
    }

    func testFullRankChangesNothingAndEnergyKeepsTheBestApproximation() throws {
        let net = try trained(.lora)
        let batch = try Self.tiny.batch([("the cat sat on a mat", nil), ("a dog is running", nil)])
        let same = try Truncation.truncated(net, rule: .rank(4))
        for (x, y) in zip(net.predict(batch, head: net.heads[0]), same.predict(batch, head: same.heads[0])) { XCTAssertEqual(x, y, accuracy: 1e-5) }

        let cut = try Truncation.truncated(net, rule: .energy(0.9))
        let spectra = Spectrum.updates(net, base: Self.tiny)
        for (a, (b, spectrum)) in zip(net.adapters!.all, zip(cut.adapters!.all, spectra)) {
            XCTAssertEqual(b.name, a.name)
            XCTAssertEqual(b.rank, max(1, spectrum.rank(energy: 0.9)), a.name)
            XCTAssertEqual(b.scaling, a.scaling, accuracy: 1e-6, "the same scaling")
            let full = delta(a), approx = delta(b)
            let error = zip(full, approx).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            let dropped = spectrum.singularValues.dropFirst(b.rank).reduce(0.0) { $0 + $1 * $1 }
            XCTAssertEqual(error, dropped, accuracy: 1e-6 + 1e-3 * dropped, "\(a.name): Eckart–Young")
        }
        XCTAssertTrue(cut.adapters!.all.contains { $0.rank < 4 }, "something was cut")
        XCTAssertLessThan(cut.trainableParameterCount, net.trainableParameterCount)
        XCTAssertEqual(cut.adaptation.rankPattern?.count, net.adapters!.all.count)

        // per-layer ranks survive a lorabook file
        let file = Fixtures.temporaryDirectory().appendingPathComponent("cut.safetensors")
        try AdapterFile.save(cut, to: file)
        let back = try AdapterFile.load(file, model: Self.tiny)
        XCTAssertEqual(back.adapters!.all.map(\.rank), cut.adapters!.all.map(\.rank))
        XCTAssertEqual(back.predict(batch, head: back.heads[0]), cut.predict(batch, head: cut.heads[0]))

        XCTAssertThrowsError(try Truncation.truncated(net, rule: .energy(1.5)))
        XCTAssertThrowsError(try Truncation.truncated(try Network(model: Self.tiny, adaptation: AdaptationConfig(mode: .full)), rule: .rank(2)))
    }

    func testDoRAKeepsItsMagnitude() throws {
        let net = try trained(.dora)
        let cut = try Truncation.truncated(net, rule: .rank(2))
        for (a, b) in zip(net.adapters!.all, cut.adapters!.all) {
            XCTAssertEqual(b.rank, 2)
            XCTAssertEqual(b.magnitude?.toArray(), a.magnitude?.toArray())
        }
    }
}
