@testable import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// Batches read ahead (``ReplicatorConfiguration/readAhead``) and written to a server at the
/// same time (``ReplicatorConfiguration/writesInFlight``): still exact, still in order.
@Suite("Read-ahead and writes in flight")
struct PipelineTests {
    func configuration(_ database: String, _ remote: String, _ direction: ReplicatorConfiguration.Direction) throws -> ReplicatorConfiguration {
        var configuration = ReplicatorConfiguration(database: database, remote: try Endpoint(parsing: remote), direction: direction)
        configuration.batchSize = 7
        configuration.readAhead = 4
        configuration.writesInFlight = 4
        configuration.createTarget = true
        configuration.http.initialRetryDelay = 0.01
        configuration.http.requestTimeout = 30
        return configuration
    }

    func replicator(_ configuration: ReplicatorConfiguration) -> Replicator {
        Replicator(configuration: configuration, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test("a pull and a push with many batches in flight, answered out of order, are exact")
    func outOfOrder() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<120 { try remote.put(String(format: "r%03d", i), #"{"n":\#(i)}"#) }
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<150 { try local.put(String(format: "l%03d", i), #"{"n":\#(i)}"#) }
            // Early answers come late, so later batches are answered first.
            server.inject(.delay(seconds: 0.4, path: .suffix("/_bulk_get"), times: 2))
            server.inject(.delay(seconds: 0.4, path: .suffix("/_bulk_docs"), times: 2))
            let result = try await replicator(configuration(dir + "/l.sqlite", server.url("db"), .pullAndPush)).runOnDedicatedThreads()
            #expect(result.pull?.docsWritten == 120)
            #expect(result.pull?.missingFound == 120)
            #expect(result.push?.docsWritten == 150)
            #expect(result.push?.missingFound == 150)
            #expect(try snapshot(local) == snapshot(remote))
            let again = try await replicator(configuration(dir + "/l.sqlite", server.url("db"), .pullAndPush)).runOnDedicatedThreads()
            #expect(again.pull?.missingFound == 0)
            #expect(again.push?.missingFound == 0)
        }
    }

    @Test("a push writes the next batch while the previous one is still being answered")
    func writesOverlap() async throws {
        try await withServer { server, remote, dir in
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<30 { try local.put(String(format: "l%03d", i), "{}") }
            let firstWriteOpen = Mutex<Bool?>(nil)
            // Long enough for the next batch to be read and sent on a loaded machine.
            server.inject(.delay(seconds: 5, path: .suffix("/_bulk_docs")))
            server.inject(.before(path: .suffix("/_bulk_docs"), skip: 1) {
                let writes = server.requests().filter { $0.path.hasSuffix("/_bulk_docs") }
                firstWriteOpen.withLock { $0 = writes.first?.status == nil }
            })
            var replicator = replicator(try configuration(dir + "/l.sqlite", server.url("db"), .push))
            replicator.checkpointInterval = .seconds(3600)  // a checkpoint due waits for every write
            let result = try await replicator.runOnDedicatedThreads()
            #expect(result.push?.docsWritten == 30)
            #expect(firstWriteOpen.withLock { $0 } == true)
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    @Test("a write that fails while later ones succeed leaves no checkpoint past it; the next run converges")
    func failedWriteBeforeLaterOnes() async throws {
        try await withServer { server, remote, dir in
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<70 { try local.put(String(format: "l%03d", i), #"{"n":\#(i)}"#) }
            // The third write is slow and then refused; the writes after it are stored first.
            server.inject(.delay(seconds: 0.5, path: .suffix("/_bulk_docs"), skip: 2))
            server.inject(.status(500, path: .suffix("/_bulk_docs"), skip: 2, times: 10))
            var first = try configuration(dir + "/l.sqlite", server.url("db"), .push)
            first.http.maxRetries = 0
            var replicator = replicator(first)
            replicator.checkpointInterval = .milliseconds(100)  // due while writes are in flight
            await #expect(throws: ReplicationError.self) { _ = try await replicator.runOnDedicatedThreads() }
            server.clearFaults()
            let second = try await self.replicator(configuration(dir + "/l.sqlite", server.url("db"), .push)).runOnDedicatedThreads()
            // Whatever the first run's checkpoint covered was stored; the rest is sent again.
            #expect(second.push?.missingFound ?? 0 >= 7)
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    /// Fetches `batches` batches of `rows` changes each, every fetched revision `bytes` long,
    /// through a ReadAhead of `depth`; returns the most fetches ever in flight at once.
    func mostInFlight(depth: Int, bytes: Int, batches: Int = 8, rows: Int = 4) async throws -> Int {
        struct Gauge { var now = 0, most = 0 }
        let gauge = Mutex(Gauge())
        var readAhead = ReadAhead(
            since: .zero, batchSize: rows, depth: depth,
            readChanges: { since in
                let start = Int(since.json) ?? 0
                let count = start / rows < batches - 1 ? rows : rows - 1  // the last batch is short
                let rowsRead = (0..<count).map { ChangeRow(id: "d\(start + $0)", revs: [], deleted: false) }
                return ChangesBatch(rows: rowsRead, lastSeq: OpaqueSequence(json: String(start + rows)), rowsBeforeFilter: count)
            },
            fetch: { batch in
                gauge.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                try await Task.sleep(for: .milliseconds(200))  // long enough for the next ones to start
                gauge.withLock { $0.now -= 1 }
                let fetched = batch.rows.map { FetchedRevision(id: $0.id, json: [UInt8](repeating: 32, count: bytes)) }
                return Replicator.SourceBatch(batch: batch, requests: [], fetched: fetched, missingChecked: 0, missingFound: 0)
            })
        var seen = 0
        while let batch = try await readAhead.next() {
            #expect(batch.batch.lastSeq.json == String((seen + 1) * rows))  // in feed order
            seen += 1
        }
        #expect(seen == batches)
        return gauge.withLock { $0.most }
    }

    @Test("small batches are read ahead to the configured depth; big ones one at a time (memory stays bounded)")
    func readAheadByBytes() async throws {
        // Counted by the clock (fetches overlap within 200 ms): off the pool, so a parallel
        // run cannot serialise them.
        let small = try await onDedicatedThreads { try await mostInFlight(depth: 3, bytes: 100) }
        #expect(small >= 2 && small <= 3, "\(small) in flight")
        // 4 revisions of 10 MB: 40 MB a batch, over the 32 MiB budget.
        #expect(try await onDedicatedThreads { try await mostInFlight(depth: 3, bytes: 10_000_000) } == 1)
    }
}
