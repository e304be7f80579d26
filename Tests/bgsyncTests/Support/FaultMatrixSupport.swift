import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// A job against a fixture server for the fault matrix: a sandbox, a server with database `db`,
/// and a dataset in both directions (documents only the server has, documents only the local
/// store has, conflicts, tombstones on both sides).
struct FaultMatrixWorld {
    let sandbox: JobSandbox
    let server: FixtureServer
    let remote: DocumentStore
    let job: String

    /// Documents only the server has at first (`remote-000` …).
    static let remoteOnly = 150
    /// Documents only the local store has at first (`local-000` …).
    static let localOnly = 150
    /// Documents with two live branches on the server (`conflict-0` …).
    static let conflicts = 3
    /// Every document id both sides hold once converged (tombstones included).
    static let totalDocuments = remoteOnly + localOnly + conflicts + 4 + 4

    /// Registry lines every case uses: small batches, fast retries.
    static let registryExtra = """
        batch_size = 40
        max_retries = 2
        retry_delay = "10ms"
        """

    /// Starts a server and writes the registry, job and both datasets.
    static func make(configuration: FixtureServer.Configuration = FixtureServer.Configuration(),
                     auth: String? = nil) async throws -> FaultMatrixWorld {
        let sandbox = try JobSandbox()
        let server = try await FixtureServer.start(configuration)
        do {
            let remote = try server.createDatabase("db")
            try remote.write { tx in
                for i in 0..<remoteOnly { _ = try tx.put(id: String(format: "remote-%03d", i), json: #"{"side":"remote","n":\#(i),"f":1.0}"#) }
                for i in 0..<conflicts {
                    for (branch, value) in [("aaaa", "a"), ("bbbb", "b")] {
                        _ = try tx.put(json: """
                            {"_id":"conflict-\(i)","_rev":"2-\(branch)\(i)","_revisions":{"start":2,"ids":["\(branch)\(i)","f00d\(i)"]},"v":"\(value)"}
                            """, newEdits: false)
                    }
                }
                for i in 0..<4 {
                    let rev = try tx.put(id: "remote-gone-\(i)", json: "{}")
                    _ = try tx.delete(id: "remote-gone-\(i)", rev: rev)
                }
            }
            let local = try DocumentStore.open(at: sandbox.localStore)
            try local.write { tx in
                for i in 0..<localOnly { _ = try tx.put(id: String(format: "local-%03d", i), json: #"{"side":"local","n":\#(i)}"#) }
                for i in 0..<4 {
                    let rev = try tx.put(id: "local-gone-\(i)", json: "{}")
                    _ = try tx.delete(id: "local-gone-\(i)", rev: rev)
                }
            }
            var world = FaultMatrixWorld(sandbox: sandbox, server: server, remote: remote, job: "")
            try world.writeRegistry(auth: auth)
            world = FaultMatrixWorld(sandbox: sandbox, server: server, remote: remote, job: try sandbox.job())
            return world
        } catch {
            await server.stop()
            sandbox.remove()
            throw error
        }
    }

    /// Points the job at `url` (default: the server's `db`) with the common settings, a request
    /// timeout, and `auth` (a TOML line) when given.
    func writeRegistry(url: String? = nil, auth: String? = nil, requestTimeout: String = "30s", extra: String = "") throws {
        var lines = Self.registryExtra + "\nrequest_timeout = \"\(requestTimeout)\""
        if let auth { lines += "\n" + auth }
        if !extra.isEmpty { lines += "\n" + extra }
        try sandbox.registry(remote: url ?? server.url("db"), extra: lines)
    }

    /// Stops the server and removes the sandbox.
    func tearDown() async {
        await server.stop()
        sandbox.remove()
    }

    /// `bgsync run JOB --json [--force]`, with the parsed JSON result.
    func run(force: Bool = false) async throws -> (status: Int32, result: JSONValue?, stderr: String) {
        let run = try await sandbox.bgsync(["run", job, "--json"] + (force ? ["--force"] : []))
        return (run.status, try? JSONValue.parse(run.stdout), run.stderr)
    }

    /// The local store.
    func local() throws -> DocumentStore {
        try DocumentStore.open(at: sandbox.localStore)
    }
}

/// Compares two stores document by document: the same ids (tombstones included), the same
/// leaves, and for every leaf the same body and `_revisions` history — so the same revision
/// trees, winners and conflicts, and nothing duplicated or lost.
enum FaultMatrixComparison {
    /// Every document: its leaves (winner first, `-deleted` marked) and each leaf's JSON with
    /// `_revisions`.
    static func image(of store: DocumentStore) throws -> [String: [String]] {
        try store.read { tx in
            var image: [String: [String]] = [:]
            for summary in try tx.allDocuments(includeDeleted: true) {
                let leaves = try tx.tree(of: summary.id)?.leaves ?? []
                var entry = leaves.map { "\($0.rev)\($0.deleted ? " deleted" : "")" }
                for revision in try tx.openRevisions(summary.id, revs: nil) {
                    if case .ok(let json) = revision { entry.append(json) }
                }
                image[summary.id] = entry
            }
            return image
        }
    }

    /// Records an issue naming the first documents that differ; true when both sides match.
    @discardableResult
    static func expectIdentical(_ local: DocumentStore, _ remote: DocumentStore, expectedDocuments: Int,
                                sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
        let left = try image(of: local)
        let right = try image(of: remote)
        let differing = Set(left.keys).union(right.keys).filter { left[$0] != right[$0] }.sorted()
        #expect(differing.isEmpty, "documents that differ: \(differing.prefix(5).map { "\($0): local \(left[$0] ?? []) remote \(right[$0] ?? [])" })",
                sourceLocation: sourceLocation)
        #expect(left.count == expectedDocuments, "local holds \(left.count) documents, expected \(expectedDocuments)", sourceLocation: sourceLocation)
        #expect(right.count == expectedDocuments, "remote holds \(right.count) documents, expected \(expectedDocuments)", sourceLocation: sourceLocation)
        return differing.isEmpty && left.count == expectedDocuments && right.count == expectedDocuments
    }

    /// How many documents have more than one leaf.
    static func conflictedDocuments(_ store: DocumentStore) throws -> Int {
        try store.read { tx in try tx.allDocuments(includeDeleted: true).filter { (try tx.tree(of: $0.id)?.leaves.count ?? 0) > 1 }.count }
    }
}
