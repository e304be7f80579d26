// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bgsync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "bgsync", targets: ["bgsync"]),
        .library(name: "BGSyncStore", targets: ["BGSyncStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        .target(
            name: "BGSyncStore",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift")]
        ),
        .executableTarget(
            name: "bgsync",
            dependencies: [
                "BGSyncStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "BGSyncStoreTests", dependencies: ["BGSyncStore"]),
        .testTarget(name: "bgsyncTests", dependencies: ["BGSyncStore"]),
    ],
    swiftLanguageModes: [.v6]
)
