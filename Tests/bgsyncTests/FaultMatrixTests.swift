import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// One fault of the matrix: what goes wrong during a `bgsync run`, and how the run must end.
enum FaultCase: String, CaseIterable, CustomStringConvertible, Sendable {
    case connectionRefused
    case resetMidBodyOnce
    case resetMidBodyAlways
    case responseCutAfterWrite
    case truncatedJSON
    case slowOnce
    case slowPastTimeout
    case status500Once, status502Once, status503Once
    case status500Always, status502Always, status503Always
    case tooManyRequestsWithRetryAfter
    case payloadTooLarge
    case sessionExpiresMidRun
    case forbidden
    case serverDataChangesMidRun

    var description: String { rawValue }

    /// The exit code and outcome of the run with the fault (DESIGN's exit-code table).
    var expected: (exit: Int32, outcome: String) {
        switch self {
        case .connectionRefused, .resetMidBodyAlways, .slowPastTimeout: (69, "failed")   // unreachable after retries
        case .truncatedJSON: (65, "failed")                                             // malformed: not retried
        case .status500Always, .status502Always, .status503Always: (75, "failed")       // transient: retries ran out
        case .forbidden: (77, "failed")
        case .resetMidBodyOnce, .responseCutAfterWrite, .slowOnce, .status500Once, .status502Once, .status503Once,
             .tooManyRequestsWithRetryAfter, .payloadTooLarge, .sessionExpiresMidRun, .serverDataChangesMidRun: (0, "synced")
        }
    }

    var statusCode: Int {
        switch self {
        case .status500Once, .status500Always: 500
        case .status502Once, .status502Always: 502
        default: 503
        }
    }

    /// Users of the server (cookie sessions need some).
    var serverConfiguration: FixtureServer.Configuration {
        self == .sessionExpiresMidRun ? FixtureServer.Configuration(users: ["admin": "s3cret"]) : FixtureServer.Configuration()
    }
}

/// The fault matrix at the level users meet it: `bgsync run` of a job against the fixture
/// server, one fault per case, on a dataset in both directions. Each case checks the exit code
/// and the recorded outcome, then that a run without the fault succeeds and leaves both sides
/// with identical documents, revision trees and conflicts, nothing lost or duplicated.
/// (Library-level fault tests: BGSyncReplicationTests.)
@Suite("Fault matrix: bgsync run", .serialized)
struct FaultMatrixTests {
    @Test("a fault ends with the right exit code and outcome; the next run converges", arguments: FaultCase.allCases)
    func fault(_ fault: FaultCase) async throws {
        let auth = fault == .sessionExpiresMidRun ? #"auth = { type = "session", user = "admin", password_file = "secret" }"# : nil
        let world = try await FaultMatrixWorld.make(configuration: fault.serverConfiguration, auth: auth)
        if auth != nil { try world.sandbox.write("secret", "s3cret\n", mode: 0o600) }
        do {
            try await check(fault, world, auth: auth)
            await world.tearDown()
        } catch {
            await world.tearDown()
            throw error
        }
    }

    func check(_ fault: FaultCase, _ world: FaultMatrixWorld, auth: String?) async throws {
        let server = world.server
        let late = Counter()
        switch fault {
        case .connectionRefused:
            let closed = try await FixtureServer.start()
            let port = closed.port
            await closed.stop()
            try world.writeRegistry(url: "http://127.0.0.1:\(port)/db")
        case .resetMidBodyOnce:
            server.inject(.truncateBody(afterBytes: 200, path: .suffix("/_bulk_get"), skip: 1))
        case .resetMidBodyAlways:
            server.inject(.truncateBody(afterBytes: 50, path: .suffix("/_changes"), skip: 1, times: .max))
        case .responseCutAfterWrite:
            // The server stores the batch, then the answer is cut: the retried write must not duplicate anything.
            server.inject(.truncateBody(afterBytes: 5, path: .suffix("/_bulk_docs"), skip: 1))
        case .truncatedJSON:
            server.inject(.malformedJSON(path: .suffix("/_changes"), skip: 1))
        case .slowOnce:
            try world.writeRegistry(requestTimeout: "1s")
            server.inject(.delay(seconds: 3, path: .suffix("/_revs_diff")))
        case .slowPastTimeout:
            try world.writeRegistry(requestTimeout: "1s")
            server.inject(.delay(seconds: 3, path: .suffix("/_revs_diff"), times: .max))
        case .status500Once, .status502Once, .status503Once:
            server.inject(.status(fault.statusCode, path: .suffix("/_bulk_get"), skip: 1, times: 2))  // max_retries = 2
        case .status500Always, .status502Always, .status503Always:
            server.inject(.status(fault.statusCode, path: .suffix("/_bulk_docs"), skip: 1, times: .max))
        case .tooManyRequestsWithRetryAfter:
            server.inject(.tooManyRequests(retryAfter: 1, path: .suffix("/_revs_diff")))
        case .payloadTooLarge:
            server.inject(.status(413, body: #"{"error":"too_large","reason":"the request entity is too large"}"#, path: .suffix("/_bulk_docs")))
        case .sessionExpiresMidRun:
            server.inject(.before(path: .suffix("/_bulk_docs"), skip: 1) { server.expireSessions() })
        case .forbidden:
            server.inject(.status(403, body: #"{"error":"forbidden","reason":"You are not allowed to access this db."}"#,
                                  path: .suffix("/_bulk_docs"), skip: 1))
        case .serverDataChangesMidRun:
            server.inject(.before(path: .suffix("/_changes"), skip: 1, times: 2) {
                guard let store = server.database("db") else { return }
                let batch = late.next()
                try? store.write { tx in
                    for i in 0..<15 { _ = try tx.put(id: "late-\(batch)-\(i)", json: #"{"late":true}"#) }
                    // An edit of a document the run already pulled, and a deletion.
                    if let rev = try tx.reader.tree(of: "remote-00\(batch)")?.winner?.rev {
                        _ = try tx.put(id: "remote-00\(batch)", json: #"{"_rev":"\#(rev)","edited":\#(batch)}"#)
                    }
                    _ = try tx.delete(id: "remote-10\(batch)")
                }
            })
        }

        let first = try await world.run()
        #expect(first.status == fault.expected.exit, "\(fault): \(first.stderr)")
        #expect(first.result?["outcome"]?.stringValue == fault.expected.outcome, "\(fault): \(first.stderr)")
        let status = try #require(try await world.sandbox.status().first)
        #expect(status["last_outcome"]?.stringValue == fault.expected.outcome)
        if fault.expected.exit != 0 {
            #expect(status["consecutive_failures"]?.intValue == 1)
            #expect(status["last_reason"]?.stringValue?.isEmpty == false)
        }
        let requests = server.requests()
        switch fault {
        case .payloadTooLarge:
            #expect(requests.contains { $0.status == 413 })
        case .sessionExpiresMidRun:
            #expect(requests.contains { $0.status == 401 })
            #expect(requests.filter { $0.method == "POST" && $0.path == "/_session" }.count >= 2)
        case .tooManyRequestsWithRetryAfter:
            #expect(requests.contains { $0.status == 429 })
        case .status500Once, .status502Once, .status503Once:
            #expect(requests.filter { $0.status == fault.statusCode }.count == 2)
        case .serverDataChangesMidRun:
            #expect(late.next() == 3)  // both changes were made during the run
        default:
            break
        }

        // The fault goes away (the next run of a timer): the run succeeds and both sides match.
        server.clearFaults()
        try world.writeRegistry(auth: auth)
        let rerun = try await world.run(force: true)
        #expect(rerun.status == 0, "\(fault): rerun: \(rerun.stderr)")
        #expect(rerun.result?["outcome"]?.stringValue == "synced")
        let extra = fault == .serverDataChangesMidRun ? 30 : 0
        try FaultMatrixComparison.expectIdentical(try world.local(), world.remote, expectedDocuments: FaultMatrixWorld.totalDocuments + extra)
        #expect(try FaultMatrixComparison.conflictedDocuments(world.remote) == FaultMatrixWorld.conflicts)
        if fault == .serverDataChangesMidRun {
            #expect(try world.local().read { try $0.tree(of: "late-2-14") } != nil)
            #expect(try world.local().read { try $0.document("remote-001") }.contains(#""edited":1"#))
        }
    }

    @Test("a remote database deleted mid-run: exit 69, never re-created by a push; once an admin re-creates it, the next run starts over and loses nothing")
    func databaseDeletedMidRun() async throws {
        let world = try await FaultMatrixWorld.make()
        do {
            world.server.inject(.deleteDatabaseBefore(path: .suffix("/_bulk_docs"), skip: 1))
            let first = try await world.run()
            #expect(first.status == 69, "\(first.stderr)")
            #expect(first.result?["outcome"]?.stringValue == "failed")
            #expect(first.stderr.contains("does not exist"), "\(first.stderr)")
            #expect(!world.server.databaseNames.contains("db"))
            let localBefore = try FaultMatrixComparison.image(of: try world.local())
            #expect(localBefore.count == FaultMatrixWorld.totalDocuments)  // the pull had completed

            let again = try await world.run(force: true)
            #expect(again.status == 69)
            #expect(!world.server.databaseNames.contains("db"), "a push must not create the remote database")
            #expect(try FaultMatrixComparison.image(of: try world.local()) == localBefore)

            let recreated = try world.server.createDatabase("db")
            let rerun = try await world.run(force: true)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            #expect(rerun.result?["push"]?["start_seq"]?.stringValue == "0")
            try FaultMatrixComparison.expectIdentical(try world.local(), recreated, expectedDocuments: FaultMatrixWorld.totalDocuments)
            await world.tearDown()
        } catch {
            await world.tearDown()
            throw error
        }
    }

    @Test("a checkpoint the server lost: the next run starts over without writing, duplicating or conflicting anything")
    func lostCheckpoint() async throws {
        let world = try await FaultMatrixWorld.make()
        do {
            let first = try await world.run()
            #expect(first.status == 0, "\(first.stderr)")
            let settled = try await world.run(force: true)  // reads back its own pushed changes once
            #expect(settled.status == 0)
            let checkpoints = try world.remote.read { try $0.localDocumentIDs() }
            #expect(checkpoints.count == 2)
            try world.remote.write { tx in for id in checkpoints { _ = try tx.deleteLocal(id: id) } }
            let before = try FaultMatrixComparison.image(of: world.remote)

            let rerun = try await world.run(force: true)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            let result = try #require(rerun.result)
            #expect(result["pull"]?["start_seq"]?.stringValue == "0")
            #expect(result["push"]?["start_seq"]?.stringValue == "0")
            #expect(result["pull"]?["docs_written"]?.intValue == 0)
            #expect(result["push"]?["docs_written"]?.intValue == 0)
            #expect(try FaultMatrixComparison.image(of: world.remote) == before)
            try FaultMatrixComparison.expectIdentical(try world.local(), world.remote, expectedDocuments: FaultMatrixWorld.totalDocuments)
            #expect(try FaultMatrixComparison.conflictedDocuments(try world.local()) == FaultMatrixWorld.conflicts)
            #expect(try world.remote.read { try $0.localDocumentIDs() }.count == 2)
            await world.tearDown()
        } catch {
            await world.tearDown()
            throw error
        }
    }
}

@Suite("Fault matrix: the store comparison")
struct FaultMatrixComparisonTests {
    @Test("the comparison sees a missing tombstone, an extra conflict branch and a different body")
    func seesDifferences() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-compare-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let a = try DocumentStore.open(at: directory + "/a.sqlite")
        let b = try DocumentStore.open(at: directory + "/b.sqlite")
        let doc = #"{"_id":"d","_rev":"1-aaaa","_revisions":{"start":1,"ids":["aaaa"]},"v":1}"#
        for store in [a, b] { try store.write { _ = try $0.put(json: doc, newEdits: false) } }
        #expect(try FaultMatrixComparison.image(of: a) == FaultMatrixComparison.image(of: b))

        try b.write { _ = try $0.put(json: #"{"_id":"d","_rev":"1-bbbb","_revisions":{"start":1,"ids":["bbbb"]},"v":2}"#, newEdits: false) }
        #expect(try FaultMatrixComparison.image(of: a) != FaultMatrixComparison.image(of: b))
        #expect(try FaultMatrixComparison.conflictedDocuments(b) == 1)

        try a.write { _ = try $0.put(json: #"{"_id":"d","_rev":"1-bbbb","_revisions":{"start":1,"ids":["bbbb"]},"v":3}"#, newEdits: false) }
        #expect(try FaultMatrixComparison.image(of: a) != FaultMatrixComparison.image(of: b))

        let c = try DocumentStore.open(at: directory + "/c.sqlite")
        let d = try DocumentStore.open(at: directory + "/d.sqlite")
        try c.write { tx in _ = try tx.delete(id: "gone", rev: try tx.put(id: "gone", json: "{}")) }
        #expect(try FaultMatrixComparison.image(of: c) != FaultMatrixComparison.image(of: d))
    }
}

/// A counter safe to bump from `@Sendable` closures (the fixture server's fault actions).
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    /// Adds one and returns the new value.
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
