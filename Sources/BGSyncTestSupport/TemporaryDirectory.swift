import Foundation

/// The one temporary-directory helper of the tests: a directory of its own for one test, created empty and removed (with everything in it) when
/// the test's body returns or throws.
///
/// Tests run in parallel: every test gets a fresh directory with a unique name, and nothing here
/// changes the process's current directory or environment.
///
/// ```swift
/// func something() throws {   // inside a test
///     try withTemporaryDirectory { dir in
///         let store = try dir.openStore()
///         …
///     }
/// }
/// ```
public struct TemporaryDirectory: Sendable {
    /// The directory.
    public let url: URL

    /// The directory's path.
    public var path: String { url.path }

    /// The path of `name` inside the directory (nothing is created).
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Creates a new, empty, uniquely named directory under the system's temporary directory.
    public static func create() throws -> TemporaryDirectory {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("bgsync-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        return TemporaryDirectory(url: url)
    }

    /// Removes the directory and its contents.
    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }

    /// Writes `bytes` to `name` inside the directory and returns the file's path.
    @discardableResult
    public func write(_ bytes: [UInt8], to name: String) throws -> String {
        let file = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Writes `text` (UTF-8) to `name` inside the directory and returns the file's path.
    @discardableResult
    public func write(_ text: String, to name: String) throws -> String {
        try write(Array(text.utf8), to: name)
    }

    /// The bytes of the file at `path`.
    public func contents(of path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// Runs `body` with a fresh temporary directory, removed afterwards.
public func withTemporaryDirectory<T>(_ body: (TemporaryDirectory) throws -> T) throws -> T {
    let directory = try TemporaryDirectory.create()
    defer { directory.remove() }
    return try body(directory)
}

/// Runs `body` with a fresh temporary directory, removed afterwards.
public func withTemporaryDirectory<T>(_ body: (TemporaryDirectory) async throws -> T) async throws -> T {
    let directory = try TemporaryDirectory.create()
    defer { directory.remove() }
    return try await body(directory)
}

/// Runs `body` with the path of a fresh temporary directory, removed afterwards.
public func withTemporaryPath<T>(_ body: (String) throws -> T) throws -> T {
    try withTemporaryDirectory { try body($0.path) }
}

/// Runs `body` with the path of a fresh temporary directory, removed afterwards.
public func withTemporaryPath<T>(_ body: (String) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { try await body($0.path) }
}
