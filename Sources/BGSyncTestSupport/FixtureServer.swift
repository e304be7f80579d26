import BGSyncStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// An in-process HTTP server that speaks the CouchDB protocol over ``BGSyncStore`` databases,
/// with fault injection, for replication tests.
///
/// Status codes, JSON shapes and headers follow Apache CouchDB 3.4.3 (see
/// `couchdb-3.4.3-transcripts.md`). Each server listens on 127.0.0.1 on its own ephemeral port
/// and keeps its databases in its own temporary directory, so tests can run dozens in parallel.
///
/// Endpoints: `GET /`, `/_up`, `/_all_dbs`, `/_uuids`, `/_session` (GET, POST with JSON or form,
/// DELETE); `PUT`/`GET`/`HEAD`/`DELETE`/`POST /db`; `GET`/`PUT`/`DELETE /db/ID` (`rev`, `revs`,
/// `conflicts`, `deleted_conflicts`, `attachments`, `atts_since`, `open_revs`, `latest`,
/// `new_edits`; `PUT` also as `multipart/related` with `"follows": true` attachments, see
/// `Routes/MultipartDocument.swift`), `GET /db/ID/attachment` (raw bytes, CouchDB's `ETag`),
/// `/db/_design/…`, `/db/_local/ID`; `POST /db/_bulk_docs`,
/// `/db/_bulk_get`, `/db/_revs_diff`, `/db/_ensure_full_commit`; `GET`/`POST /db/_changes`
/// (`feed=normal`, `style`, `since`, `limit`, `include_docs`, `conflicts`, `attachments`,
/// filters `_doc_ids`, `_selector`, `_design`); `GET`/`POST /db/_all_docs`.
///
/// Where it differs from CouchDB: bodies are stored compacted but otherwise as sent (numbers
/// and `\u` escapes are not rewritten); `open_revs` always answers JSON (never
/// `multipart/mixed`); known status codes carry NIO's standard reason phrase ("Not Found", not
/// "Object Not Found"); no views, `_local_docs`, `_find`, `_security`, multipart answers
/// (`multipart/mixed`, `multipart/related`), multipart bodies other than the document `PUT`,
/// or continuous feeds; a multipart `PUT` is read whole before it is answered, and its
/// `follows` attachments may not carry `encoding` (gzip); revision hashes differ from
/// CouchDB's (they are deterministic MD5s).
///
/// ```swift
/// let server = try await FixtureServer.start()
/// defer { Task { await server.stop() } }
/// let store = try server.createDatabase("notes")
/// try store.write { try $0.put(id: "n1", json: #"{"title":"hello"}"#) }
/// server.inject(.resetConnection(path: .suffix("/_bulk_get")))
/// // replicate from server.url("notes") …
/// await server.stop()
/// ```
public final class FixtureServer: Sendable {
    let core: FixtureCore
    private let serviceGroup: ServiceGroup
    private let runTask: Task<Void, Never>

    /// The TCP port the server listens on (on 127.0.0.1).
    public let port: Int

    private init(core: FixtureCore, port: Int, serviceGroup: ServiceGroup, runTask: Task<Void, Never>) {
        self.core = core
        self.port = port
        self.serviceGroup = serviceGroup
        self.runTask = runTask
    }

    /// Starts a server on 127.0.0.1 with an ephemeral port; returns once it is listening.
    public static func start(_ configuration: Configuration = Configuration()) async throws -> FixtureServer {
        let core = try FixtureCore(configuration: configuration)
        let logger = Logger(label: "bgsync.fixture-server", factory: { _ in SwiftLogNoOpLogHandler() })
        let listening = PortWaiter()
        let server: HTTPServerBuilder
        if configuration.tls {
            do {
                let certificates = try NIOSSLCertificate.fromPEMBytes(Array(FixtureCertificate.certificatePEM.utf8))
                let key = try NIOSSLPrivateKey(bytes: Array(FixtureCertificate.privateKeyPEM.utf8), format: .pem)
                let tls = TLSConfiguration.makeServerConfiguration(certificateChain: certificates.map { .certificate($0) },
                                                                   privateKey: .privateKey(key))
                server = try .tls(.http1(), tlsConfiguration: tls)
            } catch {
                core.removeDirectory()
                throw error
            }
        } else {
            server = .http1()
        }
        let application = Application(
            responder: FixtureResponder(core: core),
            server: server,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: configuration.serverHeader),
            onServerRunning: { channel in listening.resolve(.success(channel.localAddress?.port ?? 0)) },
            logger: logger)
        let serviceGroup = ServiceGroup(configuration: ServiceGroupConfiguration(services: [application], logger: logger))
        // On the server's own threads: see ServerExecutor.
        let runTask = Task(executorPreference: ServerExecutor.shared) {
            do {
                try await serviceGroup.run()
                listening.resolve(.failure(FixtureError(500, "server_stopped", "the fixture server stopped before listening")))
            } catch {
                listening.resolve(.failure(error))
            }
        }
        do {
            let port = try await listening.wait()
            return FixtureServer(core: core, port: port, serviceGroup: serviceGroup, runTask: runTask)
        } catch {
            runTask.cancel()
            await runTask.value
            core.removeDirectory()
            throw error
        }
    }

    /// A server dropped without ``stop()`` is cancelled and its directory removed.
    deinit {
        runTask.cancel()
        core.removeDirectory()
    }

    /// Stops listening, lets requests in progress finish (at most 5 seconds, then cancels
    /// them), and removes the databases' temporary directory.
    public func stop() async {
        await serviceGroup.triggerGracefulShutdown()
        let task = runTask
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await task.value }
            group.addTask {
                try? await Task.sleep(nanoseconds: 5_000_000_000)
                task.cancel()
            }
            await group.next()
            group.cancelAll()
        }
        core.removeDirectory()
    }

    /// The server's configuration.
    public var configuration: Configuration { core.configuration }

    /// The `uuid` that `GET /` reports; stable for the server's life.
    public var uuid: String { core.uuid }

    /// `http://127.0.0.1:PORT` (`https://` with ``Configuration/tls``).
    public var baseURL: String { "\(core.configuration.tls ? "https" : "http")://127.0.0.1:\(port)" }

    /// JSON text as this server (like CouchDB) stores a document it is sent: without the white
    /// space between tokens; strings and numbers byte for byte.
    public static func compact(_ json: [UInt8]) -> [UInt8] {
        JSONText.minified(json)
    }

    /// The URL of a database: ``baseURL`` + `/` + the name (a `/` in the name is sent as `%2F`).
    public func url(_ database: String) -> String {
        baseURL + "/" + database.replacingOccurrences(of: "/", with: "%2F")
    }

    // MARK: Databases

    /// Creates a database, as `PUT /db` would, and returns its store for seeding.
    /// - Throws: ``FixtureError`` 412 `file_exists` when it exists, 400 `illegal_database_name`
    ///   when the name breaks CouchDB's rule `^[a-z][a-z0-9_$()+/-]*$`.
    @discardableResult
    public func createDatabase(_ name: String) throws -> DocumentStore {
        try core.createDatabase(name)
    }

    /// The store behind a database, for seeding and assertions; nil when it does not exist.
    public func database(_ name: String) -> DocumentStore? {
        core.database(name)?.store
    }

    /// Deletes a database and its file, as `DELETE /db` would; nothing happens when it does
    /// not exist.
    public func deleteDatabase(_ name: String) {
        core.deleteDatabase(name)
    }

    /// Raises a database's `purge_seq` by one, as a purge there would. (The fixture does not
    /// serve `_purge`: this stands for one made by someone else, to test what a client does
    /// when it sees `purge_seq` change.)
    public func recordPurge(in name: String) {
        core.database(name)?.purgeSeq.withLock { $0 += 1 }
    }

    /// The databases' names, sorted.
    public var databaseNames: [String] { core.databaseNames }

    // MARK: Faults

    /// Adds a fault after those already injected (see ``Fault`` for how faults match).
    public func inject(_ fault: Fault) {
        core.state.withLock { $0.faults.append(fault) }
    }

    /// Removes every fault not yet used up.
    public func clearFaults() {
        core.state.withLock { $0.faults.removeAll() }
    }

    // MARK: Request log

    /// How many requests arrived (faulted ones included) since start or ``resetRequestLog()``.
    public var requestCount: Int {
        core.state.withLock { $0.log.entries.count }
    }

    /// The requests that arrived, in order.
    public func requests() -> [RecordedRequest] {
        core.state.withLock { $0.log.entries.map(\.request) }
    }

    /// Forgets the requests recorded so far.
    public func resetRequestLog() {
        core.state.withLock { $0.log.reset() }
    }

    // MARK: Sessions

    /// Invalidates every `AuthSession` cookie issued so far: the next request using one is
    /// anonymous, so it gets 401 (as after CouchDB's session timeout).
    public func expireSessions() {
        core.expireSessions()
    }
}

/// Hands the listening port from Hummingbird's `onServerRunning` to ``FixtureServer/start(_:)``.
final class PortWaiter: Sendable {
    private struct State {
        var result: Result<Int, any Error>?
        var continuation: CheckedContinuation<Int, any Error>?
    }
    private let state = Locked(State())

    func resolve(_ result: Result<Int, any Error>) {
        let continuation: CheckedContinuation<Int, any Error>? = state.withLock { state in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result)
    }

    func wait() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Int, any Error>? = state.withLock { state in
                if let result = state.result { return result }
                state.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
