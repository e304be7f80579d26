import BGSyncStore
import BGSyncTestSupport
import Foundation

/// The server the scenarios run against: the in-process fixture server, or `--server`.
protocol BenchServer: Sendable {
    /// What to print in the header, e.g. `fixture server (in-process) http://127.0.0.1:40123`.
    var label: String { get }
    /// The URL of database `name`, as bgsync is given it.
    func url(_ name: String) -> String
    /// Creates an empty database.
    func createDatabase(_ name: String) async throws
    /// Deletes a database; nothing happens when it does not exist.
    func deleteDatabase(_ name: String) async throws
    /// Writes documents `indexes` (seed round 0) into database `name`.
    func seed(_ name: String, _ indexes: Range<Int>, bodies: DocumentBodies) async throws
    /// Edits documents `indexes` of database `name` once more (edit number `round`).
    func change(_ name: String, _ indexes: [Int], round: Int, bodies: DocumentBodies) async throws
    /// Forgets the requests counted so far; false when the server cannot count them.
    func resetRequestCount() -> Bool
    /// Requests received since ``resetRequestCount()``; nil when the server cannot count them.
    func requestCount() -> Int?
    /// Stops the server if this process started it.
    func stop() async
    /// Whether the server runs in this process (its CPU time is then this process's).
    var isInProcess: Bool { get }
}

/// The fixture server of BGSyncTestSupport, started in this process on 127.0.0.1, port 0.
/// Seeding writes straight into its stores, without HTTP.
final class FixtureBenchServer: BenchServer {
    private let server: FixtureServer

    /// The documents written per seeding transaction.
    static let seedChunk = 50_000

    private init(server: FixtureServer) {
        self.server = server
    }

    static func start() async throws -> FixtureBenchServer {
        FixtureBenchServer(server: try await FixtureServer.start())
    }

    var label: String { "fixture server (in-process) \(server.baseURL)" }

    /// `http://127.0.0.1:PORT`.
    var baseURL: String { server.baseURL }

    func url(_ name: String) -> String { server.url(name) }

    func createDatabase(_ name: String) async throws {
        try server.createDatabase(name)
    }

    func deleteDatabase(_ name: String) async throws {
        server.deleteDatabase(name)
    }

    private func store(_ name: String) throws -> DocumentStore {
        guard let store = server.database(name) else { throw BenchError("the fixture server has no database \(name)") }
        return store
    }

    func seed(_ name: String, _ indexes: Range<Int>, bodies: DocumentBodies) async throws {
        try Self.seed(try store(name), indexes, bodies: bodies)
    }

    /// Writes documents `indexes` into `store` with normal edits, in transactions of
    /// ``seedChunk`` documents.
    static func seed(_ store: DocumentStore, _ indexes: Range<Int>, bodies: DocumentBodies) throws {
        var start = indexes.lowerBound
        while start < indexes.upperBound {
            try Interruption.check()
            let end = min(start + seedChunk, indexes.upperBound)
            try store.write { writer in
                for index in start..<end { try writer.put(json: bodies.json(index)) }
            }
            start = end
        }
    }

    func change(_ name: String, _ indexes: [Int], round: Int, bodies: DocumentBodies) async throws {
        try store(name).write { writer in
            for index in indexes {
                let id = DocumentBodies.id(index)
                guard let winner = try writer.reader.tree(of: id)?.winner else {
                    throw BenchError("document \(id) is missing from \(name)")
                }
                try writer.put(json: bodies.json(index, round: round, rev: winner.rev.description))
            }
        }
    }

    func resetRequestCount() -> Bool {
        server.resetRequestLog()
        return true
    }

    func requestCount() -> Int? { server.requestCount }

    func stop() async { await server.stop() }

    var isInProcess: Bool { true }
}

/// A real server given with `--server` (e.g. Apache CouchDB): databases are created, seeded
/// with `_bulk_docs` and deleted over HTTP. It cannot count requests: bgsync's own
/// `http_requests` is reported instead.
final class RemoteBenchServer: BenchServer {
    let base: String
    let http: BenchHTTP
    /// A fixture server this process started and drives over HTTP (`--setup-over-http`).
    private let owned: FixtureBenchServer?

    /// Documents per `_bulk_docs` request when seeding.
    static let bulkBatch = 1000

    init(base: String, http: BenchHTTP, owned: FixtureBenchServer? = nil) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.http = http
        self.owned = owned
    }

    var label: String { owned.map { $0.label + ", set up over HTTP" } ?? "server \(base)" }

    func url(_ name: String) -> String { base + "/" + name }

    func createDatabase(_ name: String) async throws {
        try await http.expect(200...202, .PUT, url(name))
    }

    func deleteDatabase(_ name: String) async throws {
        let response = try await http.send(.DELETE, url(name))
        guard (200...202).contains(response.status) || response.status == 404 else {
            throw BenchError("DELETE \(url(name)) answered \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
    }

    func seed(_ name: String, _ indexes: Range<Int>, bodies: DocumentBodies) async throws {
        var start = indexes.lowerBound
        while start < indexes.upperBound {
            try Interruption.check()
            let end = min(start + Self.bulkBatch, indexes.upperBound)
            try await bulkDocs(name, (start..<end).map { bodies.json($0) })
            start = end
        }
    }

    func change(_ name: String, _ indexes: [Int], round: Int, bodies: DocumentBodies) async throws {
        var start = 0
        while start < indexes.count {
            let batch = Array(indexes[start..<min(start + Self.bulkBatch, indexes.count)])
            let keys = JSONValue.object(["keys": .array(batch.map { .string(DocumentBodies.id($0)) })])
            let answer = try JSONValue.parse(try await http.expect(200...200, .POST, url(name) + "/_all_docs", body: keys.serializedBytes))
            var revs: [String: String] = [:]
            for row in answer["rows"]?.arrayValue ?? [] {
                if let id = row["id"]?.stringValue, let rev = row["value"]?["rev"]?.stringValue { revs[id] = rev }
            }
            var docs: [String] = []
            for index in batch {
                let id = DocumentBodies.id(index)
                guard let rev = revs[id] else { throw BenchError("document \(id) is missing from \(url(name))") }
                docs.append(bodies.json(index, round: round, rev: rev))
            }
            try await bulkDocs(name, docs)
            start += batch.count
        }
    }

    private func bulkDocs(_ name: String, _ docs: [String]) async throws {
        let body = Array(("{\"docs\":[" + docs.joined(separator: ",") + "]}").utf8)
        let answer = try JSONValue.parse(try await http.expect(201...201, .POST, url(name) + "/_bulk_docs", body: body))
        let failed = (answer.arrayValue ?? []).filter { $0["error"] != nil }
        if let first = failed.first {
            throw BenchError("_bulk_docs into \(url(name)) refused \(failed.count) documents, e.g. \(first.serialized)")
        }
    }

    func resetRequestCount() -> Bool { false }

    func requestCount() -> Int? { nil }

    func stop() async { await owned?.stop() }

    var isInProcess: Bool { owned != nil }
}
