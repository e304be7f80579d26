// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "bgsync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "bgsync", targets: ["bgsync"]),
        .executable(name: "bgsync-bench", targets: ["bgsync-bench"]),
        .library(name: "BGSyncStore", targets: ["BGSyncStore"]),
        .library(name: "BGSyncReplication", targets: ["BGSyncReplication"]),
        .library(name: "BGSyncJobs", targets: ["BGSyncJobs"]),
        .library(name: "BGSync", targets: ["BGSync"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
        // Declared because BGSyncTestSupport imports them (hummingbird brings them in anyway).
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // The local document database on SQLite (no networking).
        .target(
            name: "BGSyncStore",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift")]
        ),
        // Peers, checkpoints and the one-shot replicate algorithm.
        .target(
            name: "BGSyncReplication",
            dependencies: [
                "BGSyncStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Job files, factory registry, constraints, schedule/backoff state, the runner.
        .target(
            name: "BGSyncJobs",
            dependencies: [
                "BGSyncStore",
                "BGSyncReplication",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The library a custom `bgsync` build imports: every layer plus the command line.
        .target(
            name: "BGSync",
            dependencies: ["BGSyncStore", "BGSyncReplication", "BGSyncJobs", "BGSyncCLI"]
        ),
        // The command line as a library, so that custom builds can add Swift factories.
        .target(
            name: "BGSyncCLI",
            dependencies: [
                "BGSyncStore",
                "BGSyncReplication",
                "BGSyncJobs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "bgsync", dependencies: ["BGSyncCLI"]),
        // The benchmark of DESIGN §8: times the built `bgsync` binary against the fixture server
        // (or a real CouchDB) and measures the floor. `swift run -c release bgsync-bench`.
        .executableTarget(
            name: "bgsync-bench",
            dependencies: [
                "BGSyncStore",
                "BGSyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Tests only: a CouchDB-protocol fixture server with fault injection.
        .target(
            name: "BGSyncTestSupport",
            dependencies: [
                "BGSyncStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "BGSyncStoreTests",
            dependencies: ["BGSyncStore", "BGSyncTestSupport", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "BGSyncJobsTests",
            dependencies: [
                "BGSyncJobs", "BGSyncReplication", "BGSyncStore", "BGSyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "BGSyncReplicationTests",
            dependencies: [
                "BGSyncReplication",
                "BGSyncStore",
                "BGSyncTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        // The benchmark's pure parts (budgets, ratios, report shape); never timed assertions.
        .testTarget(
            name: "bgsyncBenchTests",
            dependencies: ["bgsync-bench", "BGSyncStore"]
        ),
        .testTarget(
            name: "bgsyncTests",
            dependencies: ["BGSyncStore", "BGSyncTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
