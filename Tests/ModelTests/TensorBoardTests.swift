// TensorBoard event files: CRC32C against its published check value, records read back exactly by
// an independent reading of the framing and protobuf, a truncated last record skipped and a
// corrupt one refused.
import XCTest
@testable import Model

final class TensorBoardTests: XCTestCase {
    func testCRC32CMatchesItsCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
    }

    func testScalarsReadBackAndDamageIsCaught() throws {
        let dir = Fixtures.temporaryDirectory()
        let w = try TensorBoardWriter(folder: dir.appendingPathComponent("run"))
        XCTAssertTrue(w.url.lastPathComponent.hasPrefix("events.out.tfevents."))
        w.scalar("train/loss", 1.625, step: 1, wallTime: 100.5)
        w.scalar("train/learning_rate", 5e-4, step: 1, wallTime: 100.5)
        w.scalar("eval/accuracy", 0.375, step: 300, wallTime: 101)
        w.close()
        let (version, scalars) = try TensorBoardReader.scalars(w.url)
        XCTAssertEqual(version, "brain.Event:2")
        XCTAssertEqual(scalars, [.init(step: 1, tag: "train/loss", value: 1.625, wallTime: 100.5),
                                 .init(step: 1, tag: "train/learning_rate", value: 5e-4, wallTime: 100.5),
                                 .init(step: 300, tag: "eval/accuracy", value: 0.375, wallTime: 101)])

        // the bytes of one record as the format defines them, checked by hand: length 8 bytes LE,
        // masked CRC of the length, the Event, masked CRC of the Event
        let bytes = [UInt8](try Data(contentsOf: w.url))
        let first = Int(bytes[0]) | Int(bytes[1]) << 8
        let event = Array(bytes[12..<12 + first])
        XCTAssertEqual(event[0], 0x09, "field 1 (wall_time), 64-bit")
        XCTAssertEqual(Array(event[9...]), [0x1a, 13] + Array("brain.Event:2".utf8), "field 3 (file_version)")

        // a run killed while writing: the truncated record is skipped
        let truncated = dir.appendingPathComponent("truncated")
        try Data(bytes.dropLast(5)).write(to: truncated)
        XCTAssertEqual(try TensorBoardReader.scalars(truncated).scalars.count, 2)
        // a flipped byte inside a record: refused
        var corrupt = bytes
        corrupt[bytes.count - 10] ^= 0x40
        try Data(corrupt).write(to: truncated)
        XCTAssertThrowsError(try TensorBoardReader.scalars(truncated))
    }

    func testATrainingLogHasEveryStepAndEvaluation() throws {
        let dir = Fixtures.temporaryDirectory()
        let log = try TrainingLog(folder: dir, run: "lora-r2-s0")
        for step in 1...3 {
            log.record(.step(TrainingProgress(step: step, totalSteps: 3, epoch: 1, epochs: 1, task: "sst", loss: Float(2 - Double(step) / 10),
                                              meanLoss: 1.9, learningRate: Float(step) * 1e-4, examplesPerSecond: 10, elapsed: 1)))
        }
        log.record(.epochFinished(epoch: 1, meanLoss: 1.8, seconds: 1))
        log.record(.evaluated(CurvePoint(epoch: 1, step: 3, trainLoss: 1.8, metrics: [.init(name: "accuracy", value: 0.4)], score: 0.4, learningRate: 0, seconds: 1)))
        log.close()
        let (_, scalars) = try TensorBoardReader.scalars(log.writer.url)
        XCTAssertEqual(log.writer.url.deletingLastPathComponent().lastPathComponent, "lora-r2-s0")
        XCTAssertEqual(scalars.filter { $0.tag == "train/loss" }.map(\.step), [1, 2, 3])
        XCTAssertEqual(scalars.filter { $0.tag == "train/learning_rate" }.map(\.value), [1, 2, 3].map { Float($0) * 1e-4 })
        XCTAssertEqual(scalars.first { $0.tag == "train/epoch_loss" }?.step, 3)
        XCTAssertEqual(scalars.first { $0.tag == "eval/accuracy" }?.value, 0.4)
        XCTAssertEqual(scalars.first { $0.tag == "eval/train_loss" }?.value, 1.8)
    }
}
