// swift-tools-version: 6.0
// lorabook: a literate notebook runner and REPL for LoRA/DoRA experiments on small BERT models.
// Dependencies flow one way: lorabook → Notebook → Kernel → Sweeps → Model → (CCompute, COpenBLAS);
// Kernel, the CLI and the tests also use Project (where this clone keeps its model and data).
import PackageDescription

let package = Package(
    name: "lorabook",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lorabook", targets: ["lorabook"]),
        .library(name: "Model", targets: ["Model"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/JohnSundell/Ink", from: "0.6.0"),
        // Counts heap allocations in the tests (a training step in steady state allocates nothing).
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
    ],
    targets: [
        // OpenBLAS's CBLAS interface (Debian: libopenblas-dev, pkg-config name `openblas`).
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // BSD editline for the REPL (Debian: libedit-dev, pkg-config name `libedit`).
        .systemLibrary(
            name: "CEditLine",
            path: "Sources/CEditLine",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        // C kernels: the OpenBLAS core-type repair (runs as a constructor before any Swift code) and
        // the element-wise hot loops (softmax, LayerNorm, GELU), compiled -O3 even in debug builds so
        // that `swift test` runs the real model at a usable speed.
        .target(
            name: "CCompute",
            dependencies: ["COpenBLAS"],
            path: "Sources/CCompute",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]
        ),
        // lorabook's worker pool (Parallel.chunks over CCompute's pool), inlinable into Model.
        .target(name: "Workers", dependencies: ["CCompute"]),
        // Optimized even in debug builds: `swift test` then runs the real model at release speed, and
        // the allocation tests check the code as it ships (unoptimized Swift allocates where -O does not).
        .target(name: "Model", dependencies: ["CCompute", "COpenBLAS", "Workers"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // Where this clone keeps its files: the project root, the default model and data folders.
        // The model library does not know the repository's layout; the session, the CLI and the tests do.
        .target(name: "Project"),
        // The run store (trainings keyed by what decides them), plans, jobs and their executors' scripts.
        .target(name: "Sweeps", dependencies: ["Model"]),
        .target(name: "Kernel", dependencies: ["Model", "Sweeps", "Project"]),
        .target(name: "Notebook", dependencies: ["Kernel", "Model", "Yams", "Ink"]),
        // libFuzzer targets for the readers of untrusted input (scripts/fuzz.sh builds it with
        // -sanitize=fuzzer); a plain build makes a replayer of the corpus.
        .executableTarget(name: "lorabook-fuzz", dependencies: ["Notebook", "Kernel", "Model"], path: "Sources/LorabookFuzz"),
        .executableTarget(
            name: "lorabook",
            dependencies: [
                "Notebook", "Kernel", "Sweeps", "Model", "Project", "CEditLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Project", "CCompute", "Workers", .product(name: "MallocInterposerSwift", package: "malloc-interposer")],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "KernelTests", dependencies: ["Kernel", "Sweeps", "Model", "Project"], exclude: ["Scripts"]),
        .testTarget(name: "NotebookTests", dependencies: ["Notebook", "Kernel", "Sweeps", "Model"], exclude: ["Snapshots"]),
        // Runs the built `lorabook` executable (built by `swift test` with every other product).
        .testTarget(name: "CLITests", dependencies: ["lorabook", "Sweeps"]),
    ],
    swiftLanguageModes: [.v5]
)
