// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Slipway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "slipway", targets: ["SlipwayCLI"]),
        .executable(name: "slipway-demo-service", targets: ["SlipwayDemoService"]),
        .executable(name: "slipway-notify", targets: ["SlipwayNotify"]),
        // For the fuzzing harness in Benchmarks/Fuzz: the parsers of what Slipway reads back from a repository.
        .library(name: "SlipwayParsers", targets: ["SlipwayCore", "SlipwayManifest", "SlipwayRecords"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibGit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        // Identities and outcomes every other module shares: environment name, object id,
        // deployment id, result, strategy, trigger, decision.
        .target(name: "SlipwayCore", swiftSettings: swiftSettings),
        .target(name: "SlipwayGit", dependencies: ["CLibGit2", "SlipwayCore"], swiftSettings: swiftSettings),
        .target(
            name: "SlipwayManifest",
            dependencies: ["SlipwayCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .target(name: "CSlipwaySystem"),
        .target(
            name: "SlipwayHost",
            dependencies: [
                "SlipwayCore", "CSlipwaySystem", .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayTraffic",
            dependencies: ["SlipwayHost", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayBundle",
            resources: [.embedInCode("Templates"), .embedInCode("Environments"), .embedInCode("Hooks")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayRecords",
            dependencies: [
                "SlipwayCore", "SlipwayManifest",
                "SlipwayBundle",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Telling people: events delivered to webhooks, chat and commands, beside the pipeline.
        .target(
            name: "SlipwayNotifications",
            dependencies: ["SlipwayCore", "SlipwayManifest", "SlipwayHost", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayEngine",
            dependencies: [
                "SlipwayCore", "SlipwayGit", "SlipwayManifest", "SlipwayHost", "SlipwayTraffic", "SlipwayRecords", "SlipwayBundle",
                "SlipwayNotifications",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SlipwayDaemon",
            dependencies: [
                "SlipwayCore", "SlipwayEngine", "SlipwayHost", "CSlipwaySystem",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SlipwayCLI",
            dependencies: [
                "SlipwayCore", "SlipwayEngine", "SlipwayDaemon", "SlipwayBundle",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            // libgit2 must not parse the system CA bundle at start-up: see CSlipwaySystem/libgit2_certificates.c.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic-symbol=mbedtls_x509_crt_parse_file",
                                           "-Xlinker", "--export-dynamic-symbol=mbedtls_x509_crt_parse_path"])]
        ),
        .executableTarget(name: "SlipwayDemoService", swiftSettings: swiftSettings),
        .executableTarget(name: "SlipwayNotify", swiftSettings: swiftSettings),
        .testTarget(
            name: "SlipwayUnitTests",
            dependencies: ["SlipwayCore", "SlipwayEngine", "SlipwayManifest", "SlipwayRecords", "SlipwayHost", "SlipwayTraffic", "SlipwayBundle", "SlipwayDaemon",
                           "SlipwayNotifications"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SlipwayTests",
            dependencies: ["SlipwayCore", "SlipwayEngine", "SlipwayDaemon", "SlipwayCLI", "SlipwayDemoService", "SlipwayBundle", "CSlipwaySystem",
                           "SlipwayNotifications"],
            swiftSettings: swiftSettings
        ),
    ]
)
