// swift-tools-version: 6.1
// The fuzzing harness for the parsers of what Slipway reads back from an ops repository
// (manifests, status and record front matter, record file names). Run by Benchmarks/fuzz,
// never by CI: it needs the toolchain's libFuzzer (-sanitize=fuzzer).
import PackageDescription

let package = Package(
    name: "SlipwayFuzz",
    dependencies: [.package(name: "Slipway", path: "../..")],
    targets: [
        .executableTarget(
            name: "SlipwayFuzz",
            dependencies: [.product(name: "SlipwayParsers", package: "Slipway")]
        ),
    ]
)
