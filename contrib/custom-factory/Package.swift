// swift-tools-version:6.1
// A custom `bgsync` build with a factory written in Swift. Build it with `swift build`, then use
// .build/debug/my-bgsync exactly like bgsync: job files name the factory "greetings".
import PackageDescription

let package = Package(
    name: "my-bgsync",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "bgsync", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "my-bgsync",
            dependencies: [.product(name: "BGSync", package: "bgsync")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
