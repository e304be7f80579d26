import BGSyncReplication
import BGSyncStore
import Synchronization

/// A factory compiled into a custom `bgsync` build: builds a replicator configuration from a
/// job's input, from scratch, every run (the counterpart of a `WorkManagerReplicatorFactory`).
///
/// ```swift
/// struct NotesFactory: ReplicatorFactory {
///     let name = "notes"
///     func makeConfiguration(input: JSONObject) throws -> ReplicatorConfiguration {
///         let user = input["user"]?.stringValue ?? "anonymous"
///         var configuration = ReplicatorConfiguration(
///             database: "/var/lib/notes/\(user).sqlite",
///             remote: try Endpoint(parsing: "https://couch.example.com/notes_\(user)"))
///         configuration.direction = .pullAndPush
///         return configuration
///     }
/// }
/// ```
public protocol ReplicatorFactory: Sendable {
    /// The name job files use in `factory = "…"`.
    var name: String { get }
    /// Builds the configuration for one run. Throw to refuse the input; the message is shown
    /// as a configuration error (exit 78).
    func makeConfiguration(input: JSONObject) throws -> ReplicatorConfiguration
}

/// The factories registered by the executable's `main` (see `BGSyncCLI.main(factories:)`).
public enum CompiledFactories {
    private static let storage = Mutex<[String: any ReplicatorFactory]>([:])

    /// Registers factories by name (a later one replaces an earlier one of the same name).
    public static func register(_ factories: [any ReplicatorFactory]) {
        storage.withLock { table in
            for factory in factories { table[factory.name] = factory }
        }
    }

    /// The factory called `name`, if one is compiled in.
    public static func named(_ name: String) -> (any ReplicatorFactory)? {
        storage.withLock { $0[name] }
    }

    /// Every compiled-in factory's name, sorted.
    public static var names: [String] {
        storage.withLock { $0.keys.sorted() }
    }
}
