@testable import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Logging
import Testing

/// The push of a run that pulled first does not ask the remote about what the pull showed it
/// holds (``RemoteHoldings``), and still sends everything the remote lacks.
@Suite("What the pull showed the remote holds")
struct RemoteHoldingsTests {
    // MARK: The set of sequences

    @Test("ranges merge when they touch or overlap and answer contains exactly")
    func rangesMerge() {
        var ranges = SequenceRanges()
        ranges.insert(5...7)
        ranges.insert(9...9)
        #expect(ranges.ranges == [5...7, 9...9])
        ranges.insert(8...8)
        #expect(ranges.ranges == [5...9])
        ranges.insert(1...2)
        ranges.insert(20...30)
        ranges.insert(3...21)
        #expect(ranges.ranges == [1...30])
        #expect(!ranges.contains(0) && ranges.contains(1) && ranges.contains(30) && !ranges.contains(31))
    }

    @Test("random insertions give the set of the numbers inserted")
    func rangesMatchASet() {
        let seed = SeededRandom.seed(for: "RemoteHoldingsTests.rangesMatchASet")
        var rng = SeededRandom(seed: seed)
        for _ in 0..<200 {
            var ranges = SequenceRanges()
            var model = Set<Int>()
            for _ in 0..<Int.random(in: 1...12, using: &rng) {
                let lower = Int.random(in: 1...60, using: &rng)
                let range = lower...(lower + Int.random(in: 0...6, using: &rng))
                ranges.insert(range)
                model.formUnion(range)
            }
            #expect((0...70).filter(ranges.contains) == model.sorted(), "seed \(seed)")
            let adjacentOrOverlapping = zip(ranges.ranges, ranges.ranges.dropFirst()).contains { $0.upperBound + 1 >= $1.lowerBound }
            #expect(!adjacentOrOverlapping, "seed \(seed): \(ranges.ranges)")
        }
    }

    // MARK: What a pull's write records

    @Test("a write records the sequences of documents holding only listed leaves, and spent ones")
    func heldSequencesOfAWrite() throws {
        let directory = try TemporaryDirectory.create()
        defer { directory.remove() }
        let store = try DocumentStore.open(at: directory.path + "/l.sqlite")
        let own = try store.put("own", "{}")  // seq 1: a leaf the source never listed
        let held = try store.write { tx -> [ClosedRange<Int>] in
            let before = try tx.reader.updateSeq()
            try tx.put(id: "a", json: #"{"_rev":"1-aa","_revisions":{"start":1,"ids":["aa"]}}"#, newEdits: false)
            try tx.put(id: "b", json: #"{"_rev":"1-b1","_revisions":{"start":1,"ids":["b1"]}}"#, newEdits: false)
            try tx.put(id: "own", json: #"{"_rev":"2-o2","_revisions":{"start":2,"ids":["o2","\#(own.dropFirst(2))"]}}"#, newEdits: false)
            try tx.put(id: "b", json: #"{"_rev":"1-b2","_revisions":{"start":1,"ids":["b2"]}}"#, newEdits: false)
            try tx.put(id: "c", json: #"{"_rev":"1-cc","_revisions":{"start":1,"ids":["cc"]}}"#, newEdits: false)
            let listed: [String: Set<RevisionID>] = [
                "a": [try RevisionID(parsing: "1-aa")],
                "b": [try RevisionID(parsing: "1-b1"), try RevisionID(parsing: "1-b2")],
                "own": [try RevisionID(parsing: "2-o2")],
                "c": [try RevisionID(parsing: "1-cc"), try RevisionID(parsing: "1-zz")],
            ]
            return try LocalPeer.heldSequences(tx.reader, after: before, sourceLeaves: listed)
        }
        // a = 2; b = 3, then 5 (3 is spent); own = 4, its own first revision now the parent of
        // the listed 2-o2; c = 6 (listing more than the store holds is fine).
        #expect(held == [2...6])
        // A document with a leaf the source did not list is left out.
        let second = try store.write { tx -> [ClosedRange<Int>] in
            let before = try tx.reader.updateSeq()
            try tx.put(id: "d", json: #"{"_rev":"1-dd","_revisions":{"start":1,"ids":["dd"]}}"#, newEdits: false)
            try tx.put(id: "own", json: #"{"_rev":"2-o3","_revisions":{"start":2,"ids":["o3","\#(own.dropFirst(2))"]}}"#, newEdits: false)
            try tx.put(id: "e", json: #"{"_rev":"1-ee","_revisions":{"start":1,"ids":["ee"]}}"#, newEdits: false)
            let listed: [String: Set<RevisionID>] = [
                "d": [try RevisionID(parsing: "1-dd")], "own": [try RevisionID(parsing: "2-o3")], "e": [try RevisionID(parsing: "1-ee")],
            ]
            return try LocalPeer.heldSequences(tx.reader, after: before, sourceLeaves: listed)
        }
        // own now has two leaves, 2-o2 and 2-o3, and the source listed only 2-o3.
        #expect(second == [7...7, 9...9])
    }

    // MARK: A run that pulls then pushes

    /// `_revs_diff` requests the server received.
    func revsDiffRequests(_ server: FixtureServer) -> Int {
        server.requests().count { $0.path == "/db/_revs_diff" }
    }

    @Test("a sync's push asks only about what its pull did not show the remote holds, and sends it")
    func syncSkipsWhatThePullBrought() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<30 { try remote.put(String(format: "r%02d", i), #"{"n":\#(i)}"#) }
            // A conflict and a deletion on the remote: every leaf is listed.
            try remote.write { tx in
                try tx.put(id: "r01", json: #"{"_rev":"1-ffff","_revisions":{"start":1,"ids":["ffff"]},"side":1}"#, newEdits: false)
                _ = try tx.delete(id: "r02", rev: nil)
            }
            try remote.put("shared", #"{"side":"remote"}"#)
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<5 { try local.put("l\(i)", #"{"n":\#(i)}"#) }
            try local.put("shared", #"{"side":"local"}"#)
            let result = try await sync(dir + "/l.sqlite", server.url("db"), batchSize: 7)
            #expect(result.pull?.docsWritten == 32)
            // The five local documents and the local leaf of "shared": nothing else is missing.
            #expect(result.push?.missingFound == 6)
            #expect(result.push?.docsWritten == 6)
            // Every leaf counts as checked: 31 of the 30 pulled documents, "shared"'s 2, 5 local.
            #expect(result.push?.missingChecked == 38)
            // 37 rows in batches of 7 would take 6 requests; the local ones are at most 2 batches.
            #expect(revsDiffRequests(server) <= 2, "\(server.requests().filter { $0.path == "/db/_revs_diff" })")
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    /// Runs the pull, then `between`, then the push of one run, on peers of its own.
    func pullThenPush(_ server: FixtureServer, _ dir: String, between: @Sendable () throws -> Void) async throws -> (pull: DirectionResult, push: DirectionResult) {
        var configuration = ReplicatorConfiguration(database: dir + "/l.sqlite", remote: try Endpoint(parsing: server.url("db")))
        configuration.batchSize = 7
        configuration.http.initialRetryDelay = 0.01
        configuration.http.requestTimeout = 30
        guard case .http(let url) = configuration.remote else { throw ReplicationError.configuration("not a server") }
        let replicator = Replicator(configuration: configuration, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let local = try LocalPeer(openingAt: configuration.database)
        let remote = try HTTPPeer(url: url, options: configuration.http, logger: replicator.logger)
        let holdings = RemoteHoldings()
        return try await onDedicatedThreads {
            defer { Task { await remote.shutdown() } }
            let pull = try await replicator.replicate(.pull, local: local, remote: remote, filter: nil, holdings: holdings)
            try between()
            let push = try await replicator.replicate(.push, local: local, remote: remote, filter: nil, holdings: holdings)
            await remote.shutdown()
            return (pull, push)
        }
    }

    @Test("a document changed locally after the pull is asked about and pushed")
    func localChangeAfterThePull() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<20 { try remote.put("r\(i)", #"{"n":\#(i)}"#) }
            let path = dir + "/l.sqlite"
            let (pull, push) = try await pullThenPush(server, dir) {
                let local = try DocumentStore.open(at: path)
                try local.put("r7", #"{"_rev":"\#(try #require(try local.winner("r7")))","n":"changed"}"#)
            }
            #expect(pull.docsWritten == 20)
            #expect(push.missingFound == 1 && push.docsWritten == 1)
            #expect(revsDiffRequests(server) == 1)
            #expect(try snapshot(DocumentStore.open(at: path)) == snapshot(remote))
        }
    }

    @Test("after a purge on the remote (purge_seq changed) the push asks about everything")
    func purgeOnTheRemote() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<20 { try remote.put("r\(i)", #"{"n":\#(i)}"#) }
            let (_, push) = try await pullThenPush(server, dir) { server.recordPurge(in: "db") }
            #expect(push.missingChecked == 20 && push.missingFound == 0)
            #expect(revsDiffRequests(server) == 3)
        }
    }

    @Test("a remote database deleted and created again after the pull gets every document back")
    func remoteCreatedAgain() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<20 { try remote.put("r\(i)", #"{"n":\#(i)}"#) }
            // Within the same second as a rule, so instance_start_time does not change: the
            // pull's checkpoint, gone with the old database, tells.
            let (pull, push) = try await pullThenPush(server, dir) {
                server.deleteDatabase("db")
                try server.createDatabase("db")
            }
            #expect(pull.docsWritten == 20)
            #expect(push.docsWritten == 20)
            let again = try #require(server.database("db"))
            #expect(try snapshot(DocumentStore.open(at: dir + "/l.sqlite")) == snapshot(again))
        }
    }

    @Test("a remote that cannot tell about purges gets no record")
    func noMarkerNoRecord() async throws {
        #expect(HTTPPeer.lossMarker(try JSONValue.parse(#"{"db_name":"db","update_seq":"1"}"#)) == nil)
        #expect(HTTPPeer.lossMarker(try JSONValue.parse(#"{"purge_seq":null}"#)) == nil)
        let marker = HTTPPeer.lossMarker(try JSONValue.parse(#"{"instance_start_time":"1795419541","purge_seq":"0-g1AA"}"#))
        #expect(marker != nil)
        #expect(marker != HTTPPeer.lossMarker(try JSONValue.parse(#"{"instance_start_time":"1795419541","purge_seq":"1-g1AA"}"#)))
        #expect(marker != HTTPPeer.lossMarker(try JSONValue.parse(#"{"instance_start_time":"1795419542","purge_seq":"0-g1AA"}"#)))
        let holdings = RemoteHoldings()
        holdings.remoteOpened(marker: nil)  // a store file, or such a server
        #expect(!holdings.isRecording)
        holdings.record([1...10])
        try await withTemporaryPath { dir in
            let peer = try LocalPeer(openingAt: dir + "/r.sqlite")
            #expect(peer.revisionLossMarker == nil)
            #expect(try await holdings.confirm(on: peer) == nil)
        }
    }
}
